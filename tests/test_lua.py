"""The Lua module's contract (tests/lua/binding.lua) and the recipe loader."""
import os

from harness import build_listing, contains, eq, ptlua, test, TOP


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
    p = subprocess.run([f"{TOP}/lua/ptlua", "--trusted", script], capture_output=True, text=True, env=env)
    contains(p.stdout, "true\ttrue", "paths")
    contains(p.stderr, "r.lua:2: boom", "error names file and line")
    assert p.returncode == 1, p.returncode
    p = subprocess.run([f"{TOP}/lua/ptlua", "--trusted", "-v", script], capture_output=True, text=True)
    contains(p.stderr, "stack traceback", "-v traceback")
    p = subprocess.run([f"{TOP}/lua/ptlua"], capture_output=True, text=True)
    assert p.returncode == 2 and "usage:" in p.stderr, p
    p = subprocess.run([f"{TOP}/lua/ptlua", "--bogus", script], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown option '--bogus'" in p.stderr, p
    bytecode = os.path.join(tmp, "b.luac")
    subprocess.run(["luac5.4", "-o", bytecode, script], check=True)
    p = subprocess.run([f"{TOP}/lua/ptlua", bytecode], capture_output=True, text=True)
    assert p.returncode == 1 and "binary chunk" in p.stderr, p.stderr


@test()
def lua_sandbox(tmp):
    """Recipes run without io, debug, os.execute or loading code; pt and the safe libraries work."""
    forbidden = {
        'io.open("/etc/passwd")': "attempt to index a nil value (global 'io')",
        'os.execute("true")': "attempt to call a nil value (field 'execute')",
        'debug.getinfo(1)': "attempt to index a nil value (global 'debug')",
        'load("return 1")': "attempt to call a nil value (global 'load')",
        'loadfile("/etc/passwd")': "attempt to call a nil value (global 'loadfile')",
        'dofile("/etc/passwd")': "attempt to call a nil value (global 'dofile')",
        'require("os")': "require 'os': recipes load only the pt modules",
        'package.loaded.io.open("/etc/passwd")': "attempt to index a nil value (global 'package')",
        'os.exit(0)': "attempt to call a nil value (field 'exit')",
        'string.dump(print)': "attempt to call a nil value (field 'dump')",
        'collectgarbage()': "attempt to call a nil value (global 'collectgarbage')",
    }
    for code, message in forbidden.items():
        script = recipe(tmp, code + "\n")
        p = ptlua([script], check=1)
        contains(p.stderr, message, code)
    allowed = recipe(tmp, 'print(string.format("%d", math.max(1, 2)), table.concat({"a"}), utf8.char(72),'
                          ' os.time() > 0, type(os.getenv("HOME")), require("pt.json").encode({1}), pt.root())\n')
    contains(ptlua([allowed]).stdout, "2\ta\tH\ttrue\tstring\t[1]\t/", "safe libraries")
    # a binary chunk is refused before anything runs
    import subprocess
    bytecode = os.path.join(tmp, "b.luac")
    subprocess.run(["luac5.4", "-o", bytecode, allowed], check=True)
    contains(ptlua([bytecode], check=1).stderr, "attempt to load a binary chunk", "binary chunk")


@test()
def lua_check_and_describe(tmp):
    import glob
    scripts = sorted(glob.glob(os.path.join(TOP, "scripts", "*.lua")))
    p = ptlua(["--check", *scripts])
    eq(p.stdout.count("ok "), len(scripts), "every bundled recipe checks")
    bad = recipe(tmp, 'return { name = "x", description = "d", run = function() end, colour = 1 }')
    p = ptlua(["--check", scripts[0], bad], check=1)
    contains(p.stdout, "FAIL " + bad + ": unknown recipe field 'colour'", "names the file")
    syntax = os.path.join(tmp, "syntax.lua")
    with open(syntax, "w") as f:
        f.write("return {\n  name = 'x',,\n}\n")
    contains(ptlua(["--check", syntax], check=1).stdout, "syntax.lua:2:", "syntax error with the line")
    p = ptlua(["--describe", os.path.join(TOP, "scripts", "report.lua")])
    contains(p.stdout, "report: PCI devices by IOMMU group", "describe")
    contains(p.stdout, "--class gpu|audio|usb|storage|network", "enum values")
