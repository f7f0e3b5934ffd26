"""Recipes that are not trusted (issue 21): no action outside run and the hookscript phases in any
mode (--check, --describe, --help, a finalizer, a metamethod, an error object's __tostring), a
recipe read with raw access only, its text printed cleaned, and bounds on CPU (a hook, and
RLIMIT_CPU past one C call), memory and output in every mode and as a pre-start."""
import os
import shutil

from harness import PTLUA, TOP, build_spec, contains, eq, kemu_env, run, snapshot, test, tree_diff

HOST = """
0000:00:01.0 8086:1901 060400 group=1 pcie=root driver=pcieport
0000:01:00.0 10de:1b81 030000 group=2 driver=nouveau boot_vga=0 parent=0000:00:01.0
0000:01:00.1 10de:10f0 040300 group=2 driver=snd_hda_intel parent=0000:00:01.0
driver vfio-pci
"""

# Lua that tries to bind the GPU, and says whether it could: the trick a recipe hides in a
# metamethod, a finalizer or an error object
TAKE = ('(function() local ok, e = pcall(function() local inv = pt.scan(); '
        'local t = assert(pt.bind(inv:device("01:00.0"), {vm = 100})); assert(t:commit()) end); '
        'print("TAKE " .. tostring(ok) .. " " .. tostring(e)) end)()')

TRICKS = {
    "finalizer": f'setmetatable({{}}, {{ __gc = function() {TAKE} end }})\n'
                 'return { name = "x", description = "d", run = function() end }\n',
    "error-tostring": f'error(setmetatable({{}}, {{ __tostring = function() {TAKE} return "boom" end }}))\n',
    "recipe-index": f'return setmetatable({{ name = "x", description = "d" }}, '
                    f'{{ __index = function(t, k) {TAKE} return function() end end }})\n',
    "recipe-pairs": f'return setmetatable({{ name = "x", description = "d", run = function() end }}, '
                    f'{{ __pairs = function(t) {TAKE} return next, t end }})\n',
    "args-index": f'return {{ name = "x", description = "d", run = function() end, args = setmetatable({{}}, '
                  f'{{ __index = function(t, i) {TAKE} end, __len = function() return 1 end }}) }}\n',
    "default-tostring": f'return {{ name = "x", description = "d", run = function() end, args = {{ {{ name = "a", '
                        f'type = "string", default = setmetatable({{}}, {{ __tostring = function() {TAKE} '
                        f'return "d" end }}) }} }} }}\n',
    "run-error-tostring": f'return {{ name = "x", description = "d", run = function() error(setmetatable({{}}, '
                          f'{{ __tostring = function() {TAKE} return "boom" end }})) end }}\n',
}


def host(tmp):
    return build_spec(HOST, os.path.join(tmp, "root"))


def script(tmp, name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def ptlua_in(root, args, **kw):
    return run([PTLUA, "--root", root] + args, cwd=TOP, env=kemu_env(root), check=None, **kw)


@test(timeout=120)
def untrusted_no_action_outside_run_in_any_mode(tmp):
    root = host(tmp)
    before = snapshot(root)
    for name, text in TRICKS.items():
        path = script(tmp, name + ".lua", text)
        for mode in (["--check"], ["--describe"], [], ["--help"]):
            args = mode + [path] if mode != ["--help"] else [path, "--help"]
            p = ptlua_in(root, args)
            out = p.stdout + p.stderr
            assert "TAKE true" not in out, (name, mode, out)
            assert not tree_diff(before, snapshot(root)), (name, mode, tree_diff(before, snapshot(root)))
        print(f"checked: {name}: nothing taken in --check, --describe, a run, --help")
    p = ptlua_in(root, [script(tmp, "f.lua", TRICKS["finalizer"])])
    contains(p.stderr, "setmetatable: a recipe's tables have no finalizer (__gc)", "no finalizer, not even a bounded one")
    p = ptlua_in(root, [script(tmp, "r.lua", TRICKS["recipe-index"])])
    contains(p.stderr, "r.lua: the recipe must be a plain table (it has a metatable)", "refused, named")
    p = ptlua_in(root, [script(tmp, "d.lua", TRICKS["default-tostring"])])
    contains(p.stderr, "args[1].default must be a string, a number or a boolean", "a default read raw")
    e = script(tmp, "e.lua", TRICKS["error-tostring"])
    p = ptlua_in(root, ["--check", e])
    eq(p.stdout, f"FAIL {e}: (error object is a table value)\n", "an error object is not asked for its text")
    # the same trick in run itself: actions are the run's to make
    p = ptlua_in(root, [script(tmp, "run.lua", f'return {{ name = "x", description = "d", run = function() {TAKE} end }}\n')])
    contains(p.stdout, "TAKE true", "run binds")


@test()
def untrusted_text_printed_cleaned(tmp):
    path = script(tmp, "t.lua", 'return { name = "x\\27[2J", description = "d\\27]0;owned\\7\\194\\155", '
                                'run = function() end, args = { { name = "a", type = "bool", help = "h\\rX" } } }\n')
    for args in (["--describe", path], [path, "--help"]):
        out = run([PTLUA] + args, cwd=TOP, check=0).stdout
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\xc2\x9b" not in out, repr(out)
        contains(out, "x\\x1b[2J: d\\x1b]0;owned\\x07\\xc2\\x9b", "escaped, readable (a C1 control too)")
    p = run([PTLUA, script(tmp, "n.lua", 'error("bad \\27[31m\\255")')], cwd=TOP, check=1)
    contains(p.stderr, "bad \\x1b[31m\\xff", "an error's text cleaned too")


BOUNDED = {
    "cpu": ('while true do pcall(function() while true do end end) end', ["--cpu-seconds", "1"],
            "the recipe ran past its CPU bound of 1 s (ptlua --cpu-seconds)"),
    "memory": ('local t, s = {}, "x" while true do s = s .. s; t[#t + 1] = s end', ["--memory-mib", "16"],
               "the recipe went past its memory bound of 16 MiB (ptlua --memory-mib)"),
    "output": ('while true do pcall(print, ("x"):rep(100)) end', ["--output-kib", "4"],
               "the recipe's output went past its bound of 4 KiB (ptlua --output-kib)"),
    "pattern": ('local _ = (("a"):rep(4000)):find(".-.-.-.-b")', ["--cpu-seconds", "1"],
                "the recipe ran past its CPU bound inside one call (ptlua --cpu-seconds); stopped"),
}


@test(timeout=180)
def untrusted_bounds_in_every_mode(tmp):
    for name, (body, opts, message) in BOUNDED.items():
        top = script(tmp, f"{name}-top.lua", body + "\nreturn { name = 'x', description = 'd', run = function() end }\n")
        in_run = script(tmp, f"{name}-run.lua", f"return {{ name = 'x', description = 'd', run = function() {body} end }}\n")
        for args in (opts + ["--check", top], opts + ["--describe", top], opts + [top], opts + [in_run]):
            p = run([PTLUA] + args, cwd=TOP, check=None, timeout=30)
            eq(p.returncode, 1, " ".join(args))
            contains(p.stdout + p.stderr, message, " ".join(args))
            assert len(p.stdout) < 8192, len(p.stdout)
        print(f"checked: {name}: bounded at load, --check, --describe and in run")
    # --trusted scripts stay unbounded
    p = run([PTLUA, "--trusted", "--cpu-seconds", "1", script(tmp, "t.lua", "local n = 0 for i = 1, 3e7 do n = n + i end print(n)")],
            cwd=TOP, check=0)
    eq(p.stdout, "450000015000000\n", "trusted")


@test(timeout=120)
def untrusted_bounds_hold_in_a_prestart(tmp):
    """A hookscript whose pre-start loops or grows: the start fails with the bound named, on
    stderr with the VM id, and nothing is bound."""
    root = host(tmp)
    os.makedirs(os.path.join(root, "etc/pve/qemu-server"))
    with open(os.path.join(root, "etc/pve/qemu-server/100.conf"), "w") as f:
        f.write("hostpci0: 01:00,pcie=1\n")
    snippets = os.path.join(tmp, "snippets")
    os.makedirs(snippets)
    before = snapshot(root)
    for name, body, opts, message in (
            ("loop", "while true do end", ["--cpu-seconds", "1"], "the recipe ran past its CPU bound of 1 s"),
            ("grow", 'local t = {} while true do t[#t + 1] = ("x"):rep(1 << 16) end', ["--memory-mib", "16"],
             "the recipe went past its memory bound of 16 MiB"),
            ("talk", 'while true do print(("x"):rep(200)) end', ["--output-kib", "8"],
             "the recipe's output went past its bound of 8 KiB")):
        snippet = script(snippets, name + ".lua", f"return {{ name = 'x', description = 'd', ['pre-start'] = function() {body} end }}\n")
        p = run([PTLUA, "--root", root] + opts + [snippet, "100", "pre-start"], cwd=snippets, env=kemu_env(root),
                check=None, timeout=30)
        eq(p.returncode, 1, name)
        contains(p.stderr, f"libpt[100]: pre-start failed: {message}", name)
        assert len(p.stderr) < 32768, len(p.stderr)
    assert not tree_diff(before, snapshot(root)), tree_diff(before, snapshot(root))


@test(timeout=60)
def untrusted_planted_journals_steer_nothing(tmp):
    """The journal directory and every journal and hold file must be this uid's and writable by
    nobody else; a hold restarts only the unit libpt itself stops."""
    root = host(tmp)
    env = kemu_env(root)
    drv = lambda: os.path.basename(os.readlink(os.path.join(root, "sys/bus/pci/devices/0000:01:00.0/driver")))
    run([PTLUA, "--root", root, "scripts/bind.lua", "--device", "01:00.0", "--vm", "100"], cwd=TOP, env=env, check=0)
    eq(drv(), "vfio-pci", "bound")
    journal = os.path.join(root, "run/libpt/0000:01:00.0")
    os.chown(journal, 12345, 12345)
    p = run([PTLUA, "--root", root, "scripts/restore.lua", "--vm", "100"], cwd=TOP, env=env, check=None)
    contains(p.stderr, "run/libpt/0000:01:00.0: a file of uid 12345, mode 600: only a file of this process's uid (0)",
             "a journal another uid owns is not read")
    eq(drv(), "vfio-pci", "nothing given back on its word")
    os.chown(journal, 0, 0)
    os.chmod(journal, 0o622)
    p = run([PTLUA, "--root", root, "scripts/restore.lua", "--vm", "100"], cwd=TOP, env=env, check=None)
    contains(p.stderr, "mode 622", "one others can write is not read")
    os.chmod(journal, 0o600)
    os.chown(os.path.join(root, "run/libpt"), 12345, 12345)
    p = run([PTLUA, "--root", root, "scripts/restore.lua", "--vm", "100"], cwd=TOP, env=env, check=1)
    contains(p.stderr, "run/libpt: owned by uid 12345, not by this process's 0", "the directory")
    eq(drv(), "vfio-pci", "still")
    os.chown(os.path.join(root, "run/libpt"), 0, 0)
    # a hold that names a unit libpt never stops
    with open(os.path.join(root, "run/libpt/hold-100-1"), "w") as f:
        f.write("kind=unit\nkey=sshd.service\nvm=100\n")
    os.chmod(os.path.join(root, "run/libpt/hold-100-1"), 0o600)
    p = run([PTLUA, "--root", root, "--systemctl", "/bin/false", "scripts/restore.lua", "--vm", "100"], cwd=TOP,
            env=env, check=None)
    contains(p.stdout + p.stderr, "hold-100-1 is damaged", "refused, named")
    assert "sshd" not in p.stdout, p.stdout
    os.unlink(os.path.join(root, "run/libpt/hold-100-1"))
    run([PTLUA, "--root", root, "scripts/restore.lua", "--vm", "100"], cwd=TOP, env=env, check=0)
    eq(drv(), "nouveau", "given back once the files are its own")


@test(timeout=60)
def untrusted_liveness_by_pid_and_start_time(tmp):
    """A half-done bind whose pid now belongs to another process (pid 1 here, started at another
    time) is the dead process's: undone, not "being bound by process 1" for ever. Temporary files
    a killed run left are removed under the lock."""
    root = host(tmp)
    env = kemu_env(root)
    os.makedirs(os.path.join(root, "run/libpt"), mode=0o700)
    journal = os.path.join(root, "run/libpt/0000:01:00.0")
    with open(journal, "w") as f:
        f.write("device=0000:01:00.0\nvendor=10de\ndevice_id=1b81\nvm=100\npid=1\nstart=987654321\ntime=1\n"
                "driver=nouveau\noverride=\nstate=binding\n")
    os.chmod(journal, 0o600)
    stale = os.path.join(root, "run/libpt/.0000:01:00.0.libpt-new.999999")
    with open(stale, "w") as f:
        f.write("half")
    p = run([PTLUA, "--root", root, "scripts/bind.lua", "--device", "01:00.0", "--vm", "101"], cwd=TOP, env=env,
            check=0)
    contains(p.stderr, "undoing a bind for VM 100 that process 1 left unfinished", "the reused pid is not it")
    contains(p.stdout, "vm 101 holds 0000:01:00.0", "bound for the new VM")
    eq(os.path.exists(stale), False, "the killed run's temporary file removed")
    with open(journal) as f:
        text = f.read()
    contains(text, "\nstart=", "the start time recorded")
    start = int(text.split("\nstart=")[1].split("\n")[0])
    assert start > 0, text


@test(timeout=60)
def untrusted_zpool_that_hangs(tmp):
    """A zpool that hangs (a suspended pool) holds up nothing for long: killed after 5 s, and the
    pool's disks unknown, every storage controller counts as the host's, said."""
    import json
    import time
    root = build_spec("""
0000:00:17.0 8086:a282 010601 group=4 driver=ahci
0000:03:00.0 144d:a808 010802 group=5 driver=nvme
0000:04:00.0 8086:1533 020000 group=6 driver=igb
mount / 0:25 zfs rpool/ROOT/pve-1
""", os.path.join(tmp, "root"))
    zpool = script(tmp, "zpool", "#!/bin/sh\nsleep 60\n")
    os.chmod(zpool, 0o755)
    start = time.monotonic()
    p = run([PTLUA, "--root", root, "--zpool", zpool, "scripts/report.lua", "--json"], cwd=TOP, check=0)
    took = time.monotonic() - start
    assert took < 20, took
    got = {d["address"]: d["critical"] for d in json.loads(p.stdout)["devices"] if d["critical"]}
    eq(sorted(got), ["0000:00:17.0", "0000:03:00.0"], "every storage controller, not the NIC")
    contains(got["0000:03:00.0"], "may be a controller of / (ZFS pool rpool, whose disks", "why")
    contains(got["0000:03:00.0"], "status -LP did not say: it took over 5 s)", "the timeout named")
    contains(p.stderr, "every storage controller counts as the host's", "said")


@test()
def untrusted_vm_configs_read_as_qemu_server_reads_them(tmp):
    """A NUL byte ends nothing (the next line's hostpci is read), a line qemu-server only warns
    about is skipped for that VM alone, control bytes and invalid UTF-8 never reach the output,
    and lint --json stays JSON."""
    import json
    root = build_spec(HOST + "0000:02:00.0 1b21:0612 010601 group=3 driver=ahci\n", os.path.join(tmp, "root"))
    confs = os.path.join(root, "etc/pve/qemu-server")
    os.makedirs(confs)
    files = {
        100: b"name: a\x00b\nhostpci0: 01:00,pcie=1\nmachine: q35\n",
        101: b"machine: q35\nhostpci0: 01:00,pcie=1\nthis is odd\n",
        102: b"hostpci0: 09:00.0\x1b[2J\xff\n",
    }
    for vm, text in files.items():
        with open(os.path.join(confs, f"{vm}.conf"), "wb") as f:
            f.write(text)
    p = run([PTLUA, "--root", root, "scripts/lint.lua", "--json"], cwd=TOP, check=1)
    found = json.loads(p.stdout)
    eq(sorted({(f["vm"], f["code"]) for f in found}),
       [(101, "device-in-two-vms"), (102, "no-such-device")], "the hostpci line after the NUL read; 101 linted")
    eq([f["message"] for f in found if f["vm"] == 102], ["host 09:00.0\\x1b[2J\\xff: no such PCI device on this host"],
       "the value cleaned")
    contains(p.stderr, "100.conf:1: a NUL byte in the line (read as '?')", "said, with the line")
    contains(p.stderr, "101.conf:3: cannot parse \"this is odd\": skipped, as qemu-server skips it", "said")
    p = run([PTLUA, "--root", root, "scripts/lint.lua"], cwd=TOP, check=1)
    assert "\x1b" not in p.stdout and "\xff" not in p.stdout, repr(p.stdout)
    # 10^5 keys: read in linear time (the figure is make bench's)
    with open(os.path.join(confs, "103.conf"), "w") as f:
        f.write("".join(f"u{i}: x\n" for i in range(100000)) + "hostpci0: 02:00.0\n")
    script_path = script(tmp, "keys.lua", 'local c = require("pt.proxmox").read_config(103)\n'
                                          'print(#c.main.keys, c.main.values.hostpci0)\n')
    eq(run([PTLUA, "--root", root, "--trusted", script_path], cwd=TOP, check=0).stdout, "100001\t02:00.0\n", "all keys")


@test()
def untrusted_vm_ids_one_rule_one_message(tmp):
    """0, 99, 00100, 10^9 and 4294967396 as a hookscript's VM id: the one message, exit 1; more
    than 64 hostpci ids in a pre-start are read like any other count."""
    root = host(tmp)
    for vm in ("0", "99", "00100", "1000000000", "4294967396"):
        p = run([PTLUA, "--root", root, "scripts/guard.lua", vm, "pre-start"], cwd=TOP, check=1)
        eq(p.stderr, f"ptlua: VM id '{vm}': must be 100 to 999999999\n", vm)
    os.makedirs(os.path.join(root, "etc/pve/qemu-server"))
    with open(os.path.join(root, "etc/pve/qemu-server/100.conf"), "w") as f:
        f.write("hostpci0: " + ";".join(["01:00.0"] * 70 + ["01:00.1"]) + ",pcie=1\nmachine: q35\n")
    snippets = os.path.join(tmp, "snippets")
    os.makedirs(snippets)
    snippet = shutil.copy(os.path.join(TOP, "scripts/gpu-audio.lua"), snippets)
    p = run([PTLUA, "--root", root, snippet, "100", "pre-start"], cwd=snippets, env=kemu_env(root), check=0)
    contains(p.stderr, "libpt[100]: vm 100 holds 0000:01:00.0 0000:01:00.1", "71 ids")


@test()
def untrusted_odd_names_in_a_tree_are_cleaned(tmp):
    import json
    root = host(tmp)
    os.makedirs(os.path.join(root.encode(), b"sys/bus/pci/devices/0000:0f:00.0\x1b[2J\xff"))
    p = run([PTLUA, "--root", root, "scripts/report.lua", "--json"], cwd=TOP, check=0)
    warnings = json.loads(p.stdout)["warnings"]
    eq([w.endswith("0000:0f:00.0\\x1b[2J\\xff: not a PCI address, skipped") for w in warnings], [True], "cleaned")
    p = run([PTLUA, "--root", root, "scripts/report.lua"], cwd=TOP, check=0)
    assert "\x1b" not in p.stdout + p.stderr, repr(p.stderr)


@test()
def untrusted_vm_config_sections_as_qemu_server_reads_them(tmp):
    """[PENDING] lines are applied at start: the guard sees them; a bracketed line that is no
    section leaves the main section as it was; a NUL inside a hostpci line hides nothing."""
    root = build_spec(HOST.replace("boot_vga=0", "boot_vga=1"), os.path.join(tmp, "root"))
    confs = os.path.join(root, "etc/pve/qemu-server")
    os.makedirs(confs)
    with open(os.path.join(confs, "100.conf"), "wb") as f:
        f.write(b"machine: q35\n[PENDING]\nhostpci0: 01:00,pcie=1\n")
    with open(os.path.join(confs, "101.conf"), "wb") as f:
        f.write(b"machine: q35\n[a b]\nhostpci0: 01:00,pcie=1\n")
    with open(os.path.join(confs, "102.conf"), "wb") as f:
        f.write(b"machine: q35\nhostpci0: 01:00,pcie=1,romfile=a\x00b\n")
    for vm, source in ((100, "pending hostpci0"), (101, "hostpci0"), (102, "hostpci0")):
        p = run([PTLUA, "--root", root, "scripts/guard.lua", "--vm", str(vm)], cwd=TOP, check=1)
        contains(p.stdout, f"refused: {source}: 0000:01:00.0: refused: boot VGA device", str(vm))
    p = run([PTLUA, "--root", root, "scripts/lint.lua", "--vm", "100"], cwd=TOP, check=1)
    contains(p.stdout, "100 pending hostpci0: 0000:01:00.0: refused: boot VGA device", "lint names the pending line")


def one_big_group(tmp, functions):
    """A root port without ACS and `functions` NIC functions behind it, all in group 1."""
    lines = ["0000:00:00.0 8086:1234 060000 group=0",
             "0000:00:01.0 8086:1235 060400 group=1 pcie=root acs=none driver=pcieport"]
    for i in range(functions):
        bus, slot, fn = 1 + i // 256, i // 8 % 32, i % 8
        lines.append(f"0000:{bus:02x}:{slot:02x}.{fn} 8086:10fb 020000 group=1 parent=0000:00:01.0 driver=ixgbe")
    return build_spec("\n".join(lines), os.path.join(tmp, f"group{functions}"))


@test(timeout=180)
def untrusted_report_linear_in_a_groups_size(tmp):
    # Sizes, not times: a report that names every member's set with every member grows four
    # times when the group doubles; a linear one twice.
    sizes = {}
    for n in (400, 800):
        root = one_big_group(tmp, n)
        for mode in (["--json"], ["--json", "--explain"], []):
            p = run([PTLUA, "--root", root, "scripts/report.lua", *mode], cwd=TOP)
            sizes.setdefault(" ".join(mode) or "text", []).append(len(p.stdout))
    for mode, (small, big) in sizes.items():
        if not 1.8 < big / small < 2.2:
            raise AssertionError(f"report {mode}: {small} bytes for 400 functions, {big} for 800")
    text = run([PTLUA, "--root", root, "scripts/report.lua"], cwd=TOP).stdout
    contains(text, "and 791 more of group 1", "a shared device names 8 others and counts the rest")
