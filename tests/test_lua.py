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
def lua_sandbox_is_a_boundary(tmp):
    """Each way out of the sandbox that an audit found, tried: the trusted runner, the generic
    file functions, '..' and links out of the root, the real string table, libpt's own
    modules and objects; and a top level that acts, under --check and --describe."""
    import subprocess
    from harness import build_spec, kemu_env, snapshot
    root = build_spec("""
0000:00:00.0 8086:3ec2 060000 group=0
0000:00:02.0 8086:3e92 030000 group=2 driver=i915 boot_vga=1
0000:01:00.0 10de:1b81 030000 group=1 driver=nouveau boot_vga=0
driver vfio-pci
""", os.path.join(tmp, "root"))
    os.symlink("/etc", os.path.join(root, "sys", "evil"))
    os.makedirs(os.path.join(root, "etc/pve"), exist_ok=True)
    os.symlink("/etc/passwd", os.path.join(root, "etc/pve/passwd"))
    os.mkfifo(os.path.join(root, "etc/pve/fifo"))
    attempts = {
        'require("pt.recipe").ptlua{trusted = true, words = {"x"}}': "require 'pt.recipe': recipes load only the pt modules",
        'pt.write_file("/tmp/libpt-escape", "x", {root = "/"})': "attempt to call a nil value (field 'write_file')",
        'pt.remove_file("/etc/passwd")': "attempt to call a nil value (field 'remove_file')",
        'pt._loading(false)': "attempt to call a nil value (field '_loading')",
        'assert(pt.read_file("/etc/shadow"))': "/etc/shadow: recipes read only /sys, /dev/disk, /etc/pve and /run/libpt",
        'assert(pt.listdir("/sys/../etc"))': "/sys/../etc: no empty, '.' or '..' components",
        'assert(pt.readlink("/sys/../../etc/x"))': "no empty, '.' or '..' components",
        'assert(pt.read_file("/sys/evil/passwd"))': "sys/evil/passwd: No such file or directory",
        'assert(pt.read_file("/etc/pve/passwd"))': "etc/pve/passwd: No such file or directory",
        'assert(pt.read_file("/etc/pve/fifo"))': "/etc/pve/fifo: not a regular file",
        'getmetatable("").__index.dump(print)': "attempt to index a boolean value",
        '("").dump(print)': "attempt to call a nil value (field 'dump')",
        'require("pt.proxmox").check_value = nil': "attempt to change a field of a libpt module (check_value)",
        'rawset(require("pt.proxmox"), "check_value", function() end) '
        'assert(require("pt.proxmox").emit_mapping("bad,name", {}, { { name = "n", devices = {} } }))':
            'mapping name "bad,name": newlines, commas',
        'require("pt.persist").apply({})': "attempt to call a nil value (field 'apply')",
        'getmetatable(pt.scan():device("01:00.0")).__index = nil': "attempt to index a boolean value",
        'getmetatable(pt).__index = nil': "attempt to index a boolean value",
    }
    for code, message in attempts.items():
        p = ptlua([recipe(tmp, code + "\n")], root=root, check=1)
        contains(p.stderr, message, code)
    assert not os.path.exists("/tmp/libpt-escape")
    os.unlink(os.path.join(root, "etc/pve/fifo"))  # the tree snapshot below would block on it
    # A recipe changing its own copies of the libraries does not change libpt's modules.
    p = ptlua([recipe(tmp, 'table.concat = nil string.format = nil\n'
                           'print(require("pt.proxmox").format_props({ { "a", "1" }, { "b", "2" } }))\n')], root=root)
    eq(p.stdout, "a=1,b=2\n", "the modules keep the real libraries")
    # A top level that acts: refused, under --check, --describe and a plain run alike.
    acting = recipe(tmp, 'local inv = pt.scan()\nassert(pt.bind(inv:device("01:00.0"), { vm = 100 })):commit()\n'
                         'return { name = "x", description = "d", run = function() end }\n')
    before = snapshot(root)
    for mode in (["--check"], ["--describe"], []):
        p = subprocess.run([f"{TOP}/lua/ptlua", "--root", root, *mode, acting], capture_output=True,
                           text=True, env=kemu_env(root), cwd=TOP)
        assert p.returncode != 0, (mode, p.stdout, p.stderr)
        contains(p.stdout + p.stderr, "commit: refused at a script's top level", " ".join(mode) or "run")
        contains(p.stdout + p.stderr, "run your own script with ptlua --trusted", "says what to do")
    from harness import tree_diff
    eq(tree_diff(before, snapshot(root)), [], "nothing written")


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


@test()
def lua_bytecode_never_shadows_an_edited_module(tmp):
    """ptlua loads a bundled module's bytecode (make compiles lua/pt/X.luac) only while it is not
    older than the source (lua/setup.c): an edit takes effect before the next make."""
    import shutil
    import time
    from harness import run
    d = os.path.join(tmp, "lua")
    os.makedirs(os.path.join(d, "pt"))
    shutil.copy(os.path.join(TOP, "lua", "ptlua"), d)
    for f in os.listdir(os.path.join(TOP, "lua", "pt")):
        shutil.copy(os.path.join(TOP, "lua", "pt", f), os.path.join(d, "pt"))
    mod = os.path.join(d, "pt", "probe.lua")
    with open(mod, "w") as f:
        f.write('return "old"\n')
    run([os.path.join(d, "ptlua"), "--trusted", os.path.join(TOP, "lua", "luac.lua"), mod, mod + "c", mod], check=0)
    script = os.path.join(tmp, "s.lua")
    with open(script, "w") as f:
        f.write('print(require "pt.probe")\n')
    ptl = os.path.join(d, "ptlua")
    eq(run([ptl, "--trusted", script], check=0).stdout, f"old\t{mod}c\n", "compiled: the bytecode loaded")
    time.sleep(0.01)
    with open(mod, "w") as f:
        f.write('return "edited"\n')
    eq(run([ptl, "--trusted", script], check=0).stdout, f"edited\t{mod}\n", "the edited source, not the older bytecode")
    os.utime(mod + "c")
    eq(run([ptl, "--trusted", script], check=0).stdout, f"old\t{mod}c\n", "bytecode newer than the source is used")
