"""Hostile input: trees with links out of the root and FIFOs where files belong, device strings
with terminal escapes and invalid UTF-8, JSON that is almost JSON, host files with traps (a
commented GRUB line, two assignments, another owner, 3000 lines), long modprobe.d lines, and
actions without root. Each case gives a clear answer, writes nothing outside the root, and
never hangs."""
import json
import os
import subprocess

from harness import (TOP, PTLUA, build_spec, contains, eq, kemu_env, ptlua, ptlua_emu, run,
                     snapshot, test, tree_diff)

HOST = """
0000:00:00.0 8086:3ec2 060000 group=0
0000:00:02.0 8086:3e92 030000 group=1 driver=i915 boot_vga=1
0000:00:01.0 8086:1901 060400 group=2 pcie=root driver=pcieport
0000:01:00.0 10de:1b81 030000 group=3 driver=nouveau boot_vga=0 parent=0000:00:01.0
0000:01:00.1 10de:10f0 040300 group=3 driver=snd_hda_intel parent=0000:00:01.0
0000:00:14.0 8086:a2af 0c0330 group=4 driver=xhci_hcd
usb 1-2 10c4:ea60 0000:00:14.0 serial=0001 product=Stick driver=cp210x tty=ttyUSB0
driver vfio-pci
"""


def host(tmp, spec=HOST):
    return build_spec(spec, os.path.join(tmp, "root"))


def host_files(root):
    for d in ("etc/modprobe.d", "etc/udev/rules.d", "etc/initramfs-tools", "etc/default",
              "proc/sys/kernel", "etc/pve/qemu-server"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "proc/cpuinfo"), "w") as f:
        f.write("vendor_id\t: GenuineIntel\n")


@test()
def hostile_grub_assignment_that_takes_effect(tmp):
    """A commented assignment above the active one is left alone; of two active ones the last,
    which the shell keeps, is edited; a single-quoted value stays single-quoted."""
    root = host(tmp)
    host_files(root)
    grub = os.path.join(root, "etc/default/grub")
    with open(grub, "w") as f:
        f.write('#GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX_DEFAULT="splash"\n'
                "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT='quiet loglevel=3'\n")
    ptlua(["scripts/emit.lua", "--format", "host", "--device", "01:00.0", "--apply"], root=root)
    with open(grub) as f:
        eq(f.read(), '#GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX_DEFAULT="splash"\n'
                     "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT='quiet loglevel=3 intel_iommu=on iommu=pt'\n",
           "the last active assignment edited, the comment and the first left")


@test()
def hostile_write_keeps_mode_and_owner(tmp):
    root = host(tmp)
    host_files(root)
    grub = os.path.join(root, "etc/default/grub")
    with open(grub, "w") as f:
        f.write('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    os.chmod(grub, 0o600)
    os.chown(grub, 1234, 5678)
    out = ptlua(["scripts/emit.lua", "--format", "host", "--device", "01:00.0", "--apply"], root=root).stdout
    st = os.stat(grub)
    eq((oct(st.st_mode & 0o777), st.st_uid, st.st_gid), ("0o600", 1234, 5678), "mode and owner kept")
    backup = [l.split("# backup: ")[1] for l in out.splitlines() if l.startswith("# backup: ") and "grub" in l][0]
    assert backup.startswith(f"{root}/etc/default/grub.libpt-"), backup
    st = os.stat(backup)
    eq((oct(st.st_mode & 0o777), st.st_uid), ("0o600", 1234), "the backup too")


@test()
def hostile_diff_memory_is_linear(tmp):
    """A 3000-line file changed throughout: the diff is shown in bounded memory."""
    script = os.path.join(tmp, "diff.lua")
    with open(script, "w") as f:
        f.write('local persist = require "pt.persist"\n'
                'local a, b = {}, {}\n'
                'for i = 1, 3000 do a[i] = "old line " .. i; b[i] = "new line " .. i end\n'
                'local d = persist.diff("/etc/x", table.concat(a, "\\n") .. "\\n", table.concat(b, "\\n") .. "\\n")\n'
                'local minus, plus = select(2, d:gsub("\\n%-old", "")), select(2, d:gsub("\\n%+new", ""))\n'
                'print(minus, plus)\n')
    p = run(["/usr/bin/time", "-f", "maxrss=%M", PTLUA, "--trusted", script], check=0)
    eq(p.stdout, "3000\t3000\n", "every line removed and added")
    rss = int(p.stderr.split("maxrss=")[1].split()[0])
    assert rss < 40 * 1024, f"{rss} KiB"
    print(f"3000-line diff: {rss} KiB peak")


@test()
def hostile_links_out_of_the_root(tmp):
    """ROOT/run linked to a directory outside, and a device directory linked outside: the
    journal and the sysfs writes resolve inside the root, nothing outside changes."""
    root = host(tmp)
    outside = os.path.join(tmp, "outside")
    os.makedirs(os.path.join(outside, "libpt"), mode=0o700)
    os.rmdir(os.path.join(root, "run"))
    os.symlink(outside, os.path.join(root, "run"))
    before = snapshot(outside)
    p = ptlua_emu(["scripts/bind.lua", "--device", "01:00.0", "--vm", "100"], root, check=None)
    eq(tree_diff(before, snapshot(outside)), [], "nothing written outside through ROOT/run")
    # a driver's directory that is a link outside the root: unbind resolves inside the root
    root2 = host(os.path.join(tmp, "two"))
    evil = os.path.join(tmp, "evil-driver")
    drivers = os.path.join(root2, "sys/bus/pci/drivers")
    os.rename(os.path.join(drivers, "snd_hda_intel"), evil)
    os.symlink(evil, os.path.join(drivers, "snd_hda_intel"))
    before, tree = snapshot(evil), snapshot(root2)
    p = ptlua_emu(["scripts/bind.lua", "--device", "01:00.0", "--vm", "100", "--timeout-ms", "200"], root2, check=1)
    contains(p.stderr, "unbind snd_hda_intel", "the step that could not be made")
    eq(tree_diff(before, snapshot(evil)), [], "the driver outside the root is not written")
    eq(tree_diff(tree, snapshot(root2)), [], "and the bind rolled back inside")
    # a device's directory that is a link outside the root (its copy, still in the GPU's group)
    import shutil
    root3 = host(os.path.join(tmp, "three"))
    link = os.path.join(root3, "sys/bus/pci/devices/0000:01:00.1")
    evil = os.path.join(tmp, "evil-device")
    shutil.copytree(os.path.realpath(link), evil, symlinks=True)
    os.unlink(link)
    os.symlink(evil, link)
    before, tree = snapshot(evil), snapshot(root3)
    p = ptlua_emu(["scripts/bind.lua", "--device", "01:00.0", "--vm", "100", "--timeout-ms", "200"], root3, check=1)
    contains(p.stderr, "0000:01:00.1", "the device that could not be written")
    eq(tree_diff(before, snapshot(evil)), [], "the device outside the root is not written")
    eq(tree_diff(tree, snapshot(root3)), [], "and the bind rolled back inside")


@test(timeout=60)
def hostile_fifos_never_block(tmp):
    """FIFOs in place of class, config, a group's type, a modprobe.d file, a VM config, pci.cfg
    and /etc/default/grub: report, doctor, lint and the host plan finish, saying what they could
    not read."""
    root = host(tmp)
    host_files(root)
    dev = os.path.join(root, "sys/bus/pci/devices/0000:01:00.0")
    for attr in ("class", "config"):
        os.unlink(os.path.join(dev, attr))
        os.mkfifo(os.path.join(dev, attr))
    os.unlink(os.path.join(dev, "uevent"))
    os.unlink(os.path.join(root, "sys/kernel/iommu_groups/3/type"))
    os.mkfifo(os.path.join(root, "sys/kernel/iommu_groups/3/type"))
    os.mkfifo(os.path.join(root, "etc/modprobe.d/fifo.conf"))
    os.mkfifo(os.path.join(root, "etc/pve/qemu-server/100.conf"))
    os.makedirs(os.path.join(root, "etc/pve/mapping"))
    os.mkfifo(os.path.join(root, "etc/pve/mapping/pci.cfg"))
    os.mkfifo(os.path.join(root, "etc/default/grub"))
    for args in (["scripts/report.lua", "--json"], ["scripts/report.lua"], ["scripts/doctor.lua"],
                 ["scripts/doctor.lua", "--device", "01:00.0"], ["scripts/lint.lua"],
                 ["scripts/emit.lua", "--format", "host", "--device", "01:00.1"]):
        p = run([PTLUA, "--root", root] + args, cwd=TOP, timeout=20)
        assert p.returncode in (0, 1), (args, p.returncode, p.stderr)
    r = json.loads(run([PTLUA, "--root", root, "scripts/report.lua", "--json"], cwd=TOP, check=0).stdout)
    contains("\n".join(r["warnings"]), "0000:01:00.0/class: ", "the FIFO named")


@test()
def hostile_modprobe_long_lines(tmp):
    """A comment line over 4095 bytes whose tail reads like a blacklist does not blacklist (a
    reader that splits long lines would take the tail for a rule); a short one does."""
    root = host(tmp)
    host_files(root)

    def vfio_blocked():
        out = json.loads(ptlua(["scripts/doctor.lua", "--json"], root=root, check=None).stdout)
        return [c for c in out["checks"] if c["id"] == "vfio-blocked"][0]

    conf = os.path.join(root, "etc/modprobe.d/long.conf")
    with open(conf, "w") as f:
        f.write("# " + "x" * 4093 + "blacklist vfio-pci\n" + "options vfio-pci \\\n  disable_vga=1\n")
    check = vfio_blocked()
    eq(check["status"], "pass", f"the long comment blacklists nothing: {check}")
    with open(conf, "w") as f:
        f.write("blacklist vfio-pci\n")
    check = vfio_blocked()
    eq(check["status"], "fail", "a real blacklist line is found (the check can fail)")
    contains(json.dumps(check), "long.conf:1", "named with its line")


@test()
def hostile_device_strings(tmp):
    """Terminal escapes and invalid UTF-8 in USB strings and a driver name: text output shows
    them escaped, JSON stays valid UTF-8; lint survives an empty idProduct."""
    root = host(tmp)
    usb = [d for d, _, fs in os.walk(os.path.join(root, "sys/devices")) if "idVendor" in fs][0]
    with open(os.path.join(usb, "product"), "wb") as f:
        f.write(b"Stick\x1b]0;owned\x07\xff\n")
    with open(os.path.join(usb, "serial"), "wb") as f:
        f.write(b"S\x1b[2J1\n")
    drv = os.path.join(root, "sys/bus/pci/drivers")
    os.rename(os.path.join(drv, "nouveau"), os.path.join(drv, "nou\xe9veau".encode("latin-1").decode("latin-1")))
    for name in ("report-usb", "zigbee"):
        args = ["scripts/report.lua", "--usb"] if name == "report-usb" else ["scripts/zigbee.lua", "--list"]
        p = run([PTLUA, "--root", root] + args, cwd=TOP, check=0, text=False)
        assert b"\x1b" not in p.stdout and b"\x07" not in p.stdout, (name, p.stdout)
        contains(p.stdout.decode(), "\\x1b", name + ": escaped")
    for args in (["scripts/report.lua", "--json"], ["scripts/report.lua", "--usb", "--json"]):
        p = run([PTLUA, "--root", root] + args, cwd=TOP, check=0, text=False)
        json.loads(p.stdout.decode("utf-8"))  # strict: invalid UTF-8 raises
    # an empty idProduct
    with open(os.path.join(usb, "idProduct"), "w") as f:
        f.write("")
    os.makedirs(os.path.join(root, "etc/pve/qemu-server"), exist_ok=True)
    with open(os.path.join(root, "etc/pve/qemu-server/100.conf"), "w") as f:
        f.write("usb0: host=10c4:ea60\n")
    p = ptlua(["scripts/lint.lua"], root=root, check=None)
    assert p.returncode in (0, 1) and "attempt to" not in p.stderr, p.stderr


@test()
def hostile_json_almost(tmp):
    """The decoder takes JSON only: no +1, 01, .5, 1e999 or lone surrogates."""
    script = os.path.join(tmp, "j.lua")
    with open(script, "w") as f:
        f.write('local json = require "pt.json"\n'
                'for _, s in ipairs { "+1", "01", ".5", "1e999", "1.", "-", \'"\\\\ud800x"\', \'"\\\\udc00"\' } do\n'
                '  print(s, (pcall(json.decode, s)))\n'
                'end\n'
                'print(json.decode("-0.5e-3"), json.decode(\'"\\\\ud83d\\\\ude00"\') == "\\u{1F600}")\n')
    out = run([PTLUA, "--trusted", script], check=0).stdout.splitlines()
    for line in out[:-1]:
        assert line.endswith("\tfalse"), line
    eq(out[-1], "-0.0005\ttrue", "JSON itself still decodes")


@test()
def hostile_without_root(tmp):
    """Actions run by another user say that they need root."""
    root = host(tmp)
    host_files(root)
    with open(os.path.join(root, "etc/default/grub"), "w") as f:
        f.write('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    os.chmod(tmp, 0o755)
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", PTLUA, "--root", root,
                        "scripts/emit.lua", "--format", "host", "--device", "01:00.0", "--apply"],
                       capture_output=True, text=True, cwd=TOP)
    assert p.returncode == 1, (p.returncode, p.stderr)
    contains(p.stderr, "needs root", "says so")
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", PTLUA, "--root", root,
                        "scripts/bind.lua", "--device", "01:00.0", "--vm", "100"],
                       capture_output=True, text=True, cwd=TOP, env=kemu_env(root))
    assert p.returncode == 1, (p.returncode, p.stderr)
    contains(p.stderr, "needs root", "bind says so")
