"""The Lua module's contract (tests/lua/binding.lua) and the recipe loader."""
import os

from harness import build_listing, contains, ptlua, test, TOP


@test(timeout=120)
def lua_binding(tmp):
    root = build_listing("01-intel-z370-coffeelake-gt1030.txt", os.path.join(tmp, "root"))
    os.makedirs(os.path.join(tmp, "plain"))
    p = ptlua([f"{TOP}/tests/lua/binding.lua", os.path.join(tmp, "plain")], root=root, valgrind=True)
    contains(p.stdout, "binding ok", "binding script")


def recipe(tmp, text):
    path = os.path.join(tmp, "r.lua")
    with open(path, "w") as f:
        f.write(text)
    return path


@test()
def lua_recipe_validation(tmp):
    bad = {
        'return { name = "x", description = "d", run = function() end, colour = 1 }':
            "unknown recipe field 'colour'",
        'return { name = "x", run = function() end }': "missing field 'description'",
        'return { name = "x", description = "d", run = 1 }': "field 'run' must be a function",
        'return { name = "x", description = "d", run = function() end, args = { { name = "a", type = "colour" } } }':
            "unknown type 'colour'",
        'return { name = "x", description = "d", run = function() end, args = { { name = "Bad_Name", type = "bool" } } }':
            "name must be lower-case",
    }
    for text, message in bad.items():
        p = ptlua([recipe(tmp, text)], check=1)
        contains(p.stderr, "r.lua: ", text)
        contains(p.stderr, message, text)
    ok = recipe(tmp, '''return { name = "x", description = "d",
      args = { { name = "vm", type = "vmid", required = true }, { name = "id", type = "usb-id" },
               { name = "dev", type = "pci-addr" }, { name = "n", type = "integer", default = 3 } },
      run = function(a) print(a.vm, a.id, a.dev, a.n) return a.n == 4 and 5 or 0 end }''')
    eq_out = ptlua([ok, "--vm", "100", "--id", "10C4:EA60", "--dev=01:00.0"]).stdout
    contains(eq_out, "100\t10c4:ea60\t0000:01:00.0\t3", "parsed and normalised")
    ptlua([ok, "--vm", "100", "--n", "4"], check=5)
    for args, message in ((["--vm", "99"], "--vm '99' is not a VM id"),
                          (["--vm", "1000000000"], "is not a VM id"),
                          ([], "--vm is required"),
                          (["--vm", "100", "--id", "10c4"], "is not a USB id"),
                          (["--vm"], "--vm needs a value"),
                          (["--vm", "100", "extra"], "unexpected argument 'extra'")):
        contains(ptlua([ok, *args], check=2).stderr, message, " ".join(args))


@test()
def lua_interpreter(tmp):
    """ptlua ignores the environment's Lua settings and reports errors with the file."""
    script = recipe(tmp, 'print(package.path:find("/tmp/evil") == nil, require("pt.json") ~= nil)\nerror("boom")')
    env = dict(os.environ, LUA_INIT="error('LUA_INIT ran')", LUA_PATH="/tmp/evil/?.lua",
               LUA_PATH_5_4="/tmp/evil/?.lua", LUA_CPATH="/tmp/evil/?.so")
    import subprocess
    p = subprocess.run([f"{TOP}/lua/ptlua", script], capture_output=True, text=True, env=env)
    contains(p.stdout, "true\ttrue", "paths")
    contains(p.stderr, "r.lua:2: boom", "error names file and line")
    assert p.returncode == 1, p.returncode
    p = subprocess.run([f"{TOP}/lua/ptlua", "-v", script], capture_output=True, text=True)
    contains(p.stderr, "stack traceback", "-v traceback")
    p = subprocess.run([f"{TOP}/lua/ptlua"], capture_output=True, text=True)
    assert p.returncode == 2 and "usage:" in p.stderr, p
    p = subprocess.run([f"{TOP}/lua/ptlua", "--bogus", script], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown option '--bogus'" in p.stderr, p
    bytecode = os.path.join(tmp, "b.luac")
    subprocess.run(["luac5.4", "-o", bytecode, script], check=True)
    p = subprocess.run([f"{TOP}/lua/ptlua", bytecode], capture_output=True, text=True)
    assert p.returncode == 1 and "binary chunk" in p.stderr, p.stderr
