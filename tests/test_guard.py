"""The host-critical guard: each kind of critical device found with its reason, and refused."""
import json
import os

from harness import build_spec, contains, eq, ptlua, test

HOST = """
0000:00:00.0 8086:3ec2 060000 group=0
0000:00:02.0 8086:3e92 030000 group=1 driver=i915 boot_vga=1
0000:00:01.0 8086:1901 060400 group=2 pcie=root
0000:01:00.0 10de:1b81 030000 group=2 driver=nouveau boot_vga=0
0000:01:00.1 10de:10f0 040300 group=2 driver=snd_hda_intel
0000:00:14.0 8086:a2af 0c0330 group=3 driver=xhci_hcd
0000:00:17.0 8086:a282 010601 group=4 driver=ahci
0000:03:00.0 144d:a808 010802 group=5 driver=nvme
0000:04:00.0 1b21:0612 010601 group=6 driver=ahci
0000:05:00.0 1b21:0612 010601 group=7 driver=ahci
0000:06:00.0 1b21:0612 010601 group=8 driver=ahci
0000:07:00.0 8086:1533 020000 group=9 driver=igb
0000:08:00.0 8086:1533 020000 group=10 driver=igb
0000:09:00.0 8086:1533 020000 group=11 driver=igb
0000:0a:00.0 8086:1533 020000 group=12 driver=igb
0000:0b:00.0 1912:0015 0c0330 group=13 driver=xhci_hcd
0000:0b:00.1 1b21:0612 010601 group=13 driver=ahci
block nvme0n1 0000:03:00.0 259:0
block nvme0n1p1 0000:03:00.0 259:1 part-of=nvme0n1
block nvme0n1p2 0000:03:00.0 259:2 part-of=nvme0n1
block sda 0000:00:17.0 8:0
block sda1 0000:00:17.0 8:1 part-of=sda
dm dm-0 253:0 sda1
block sdb 0000:04:00.0 8:16
block sdc 0000:05:00.0 8:32
block sdd 0000:06:00.0 8:48
block sde 0000:0b:00.1 8:64
mount / 259:2 ext4 /dev/nvme0n1p2
mount /boot/efi 259:1 vfat /dev/nvme0n1p1
mount /var 253:0 xfs /dev/mapper/pve-var
mount /srv 8:16 ext4 /dev/sdb
mount /mnt/pve/backup 8:32 ext4 /dev/sdc
mount /boot 0:45 btrfs /dev/sdd
mount /var/lib/vz 8:64 ext4 /dev/sde
net vmbr0 virtual lower=bond0
net bond0 virtual lower=enp7s0,enp8s0
net enp7s0 0000:07:00.0
net enp8s0 0000:08:00.0
net enp9s0 0000:09:00.0
net enp9s0.100 virtual lower=enp9s0
net enp10s0 0000:0a:00.0
route4 vmbr0
route6 enp9s0.100
input 3 AT_Translated_Set_2_keyboard platform keyboard
input 5 Logitech_USB_Keyboard 0000:00:14.0 keyboard
fb fb0 0000:01:00.0
fbcon
"""


def critical(root):
    r = json.loads(ptlua(["scripts/report.lua", "--json"], root=root).stdout)
    return {d["address"]: d["critical"] for d in r["devices"] if d["critical"]}


@test()
def guard_finds_each_kind(tmp):
    got = critical(build_spec(HOST, os.path.join(tmp, "root")))
    eq(got, {
        "0000:00:02.0": "boot VGA device (boot_vga = 1)",
        "0000:01:00.0": "draws the framebuffer console (fb0)",
        "0000:03:00.0": "controller of / (/dev/nvme0n1p2); controller of /boot/efi (/dev/nvme0n1p1)",
        "0000:00:17.0": "controller of /var (/dev/mapper/pve-var)",
        "0000:05:00.0": "controller of /mnt/pve/backup (/dev/sdc)",
        "0000:06:00.0": "controller of /boot (/dev/sdd)",
        "0000:0b:00.1": "controller of /var/lib/vz (/dev/sde)",
        "0000:07:00.0": "NIC of the default route (vmbr0 -> bond0 -> enp7s0)",
        "0000:08:00.0": "NIC of the default route (vmbr0 -> bond0 -> enp8s0)",
        "0000:09:00.0": "NIC of the default route (enp9s0.100 -> enp9s0)",
    }, "critical devices (a PS/2 keyboard is there too: no USB controller is the only one)")


@test()
def guard_only_keyboard(tmp):
    spec = HOST.replace("input 3 AT_Translated_Set_2_keyboard platform keyboard",
                        "input 3 PS2_mouse platform mouse")
    got = critical(build_spec(spec, os.path.join(tmp, "root")))
    eq(got.get("0000:00:14.0"), "the only keyboard (Logitech USB Keyboard) hangs under it", "usb keyboard")
    spec += "input 7 Other_keyboard 0000:0b:00.0 keyboard\n"
    got = critical(build_spec(spec, os.path.join(tmp, "root2")))
    eq((got.get("0000:00:14.0"), got.get("0000:0b:00.0")), (None, None), "keyboards on two controllers")


@test()
def guard_no_console_without_fbcon(tmp):
    got = critical(build_spec(HOST.replace("fbcon\n", ""), os.path.join(tmp, "root")))
    eq(got.get("0000:01:00.0"), None, "fb0 without fbcon bound is no console")


@test()
def guard_refuses_taking(tmp):
    root = build_spec(HOST, os.path.join(tmp, "root"))
    script = os.path.join(tmp, "take.lua")
    with open(script, "w") as f:
        f.write('local inv = require("pt").scan()\n'
                'for _, a in ipairs{...} do\n'
                '  local ok, err, errno = inv:device(a):check_take()\n'
                '  print(a, ok, err, errno)\n'
                '  assert(inv:device(a):check_take{force = true})\n'
                'end\n')
    out = ptlua([script, "0000:00:02.0", "0000:01:00.1", "0000:03:00.0", "0000:00:17.0", "0000:07:00.0",
                 "0000:0b:00.0", "0000:0a:00.0", "0000:04:00.0"], root=root).stdout.splitlines()
    eq(out, [
        "0000:00:02.0\tnil\t0000:00:02.0: refused: boot VGA device (boot_vga = 1); force to take it anyway\t16",
        "0000:01:00.1\tnil\t0000:01:00.1: refused: it goes with 0000:01:00.0 (IOMMU group 2), draws the "
        "framebuffer console (fb0); force to take it anyway\t16",
        "0000:03:00.0\tnil\t0000:03:00.0: refused: controller of / (/dev/nvme0n1p2); controller of /boot/efi "
        "(/dev/nvme0n1p1); force to take it anyway\t16",
        "0000:00:17.0\tnil\t0000:00:17.0: refused: controller of /var (/dev/mapper/pve-var); force to take it anyway\t16",
        "0000:07:00.0\tnil\t0000:07:00.0: refused: NIC of the default route (vmbr0 -> bond0 -> enp7s0); "
        "force to take it anyway\t16",
        "0000:0b:00.0\tnil\t0000:0b:00.0: refused: it goes with 0000:0b:00.1 (IOMMU group 13), controller of "
        "/var/lib/vz (/dev/sde); force to take it anyway\t16",
        "0000:0a:00.0\ttrue\tnil\tnil",
        "0000:04:00.0\ttrue\tnil\tnil",
    ], "check_take")
    p = ptlua(["scripts/report.lua", "--device", "00:02.0"], root=root)
    contains(p.stdout, "host-critical: boot VGA device (boot_vga = 1)", "report flag")


@test()
def report_dot_and_svg(tmp):
    """The topology picture: a node a device under its parent, a colour a group, shared groups
    outlined, host-critical devices doubled; dot renders it."""
    from harness import run
    root = build_spec(HOST, os.path.join(tmp, "root"))
    dot = ptlua(["scripts/report.lua", "--dot"], root=root).stdout
    contains(dot, '"0000:00:01.0" -> "0000:01:00.0";', "edge from the root port")
    contains(dot, '"pci0000:00" -> "0000:00:01.0";', "edge from the root complex")
    lines = {l.split(" [")[0].strip(): l for l in dot.splitlines() if " [label=" in l}
    contains(lines['"0000:00:02.0"'], "peripheries=2", "boot vga doubled")
    contains(lines['"0000:00:02.0"'], 'tooltip="host-critical: boot VGA device (boot_vga = 1)"', "reason")
    fill = lambda a: lines[f'"{a}"'].split('fillcolor="')[1][:7]
    eq(fill("0000:0b:00.0"), fill("0000:0b:00.1"), "one colour a group")
    assert fill("0000:0b:00.0") != fill("0000:0a:00.0"), "groups differ"
    by_group = {}
    for name, l in lines.items():
        if "group " in l and "legend" not in name:
            by_group.setdefault(l.split("\\ngroup ")[1].split('"')[0], set()).add(fill(name.strip('"')))
    eq(all(len(c) == 1 for c in by_group.values()), True, "one colour a group")
    eq((len(by_group), len(set().union(*by_group.values()))), (14, 14), "a colour of its own for each of the 14 groups")
    contains(dot, 'subgraph cluster_legend', "a legend")
    contains(dot, "red outline: a shared group", "the legend says what red is")
    contains(lines['"0000:01:00.0"'], "group 2", "label")
    svg = os.path.join(tmp, "host.svg")
    run(["dot", "-Tsvg", "-o", svg], input=dot, text=True, check=0)
    contains(ptlua(["scripts/report.lua", "--svg"], root=root).stdout, "<svg", "--svg prints SVG")
    shared = build_spec("""
0000:00:1c.0 8086:a290 060400 group=3 pcie=root
0000:02:00.0 8086:1539 020000 group=3 parent=0000:00:1c.0
0000:02:01.0 8086:1539 020000 group=3 parent=0000:00:1c.0
""", os.path.join(tmp, "shared"))
    dot = ptlua(["scripts/report.lua", "--dot"], root=shared).stdout
    contains(dot, '"0000:02:01.0" [label="0000:02:01.0\\nEthernet controller', "label")
    assert all("color=red" in l for l in dot.splitlines() if l.startswith('  "0000:02:0')), dot


@test()
def guard_zfs_pool_members(tmp):
    """A root on ZFS: the controllers of the pool's member disks, from zpool status -LP."""
    root = build_spec("""
0000:00:17.0 8086:a282 010601 group=4 driver=ahci
0000:03:00.0 144d:a808 010802 group=5 driver=nvme
0000:04:00.0 1b21:0612 010601 group=6 driver=ahci
block sdb 0000:00:17.0 8:16
block sdb3 0000:00:17.0 8:19 part-of=sdb
block nvme0n1 0000:03:00.0 259:0
block nvme0n1p3 0000:03:00.0 259:3 part-of=nvme0n1
block sdc 0000:04:00.0 8:32
mount / 0:25 zfs rpool/ROOT/pve-1
""", os.path.join(tmp, "root"))
    bin_dir = os.path.join(tmp, "bin")
    os.makedirs(bin_dir)
    with open(os.path.join(bin_dir, "zpool"), "w") as f:
        f.write("#!/bin/sh\n[ \"$1 $2 $3\" = 'status -LP rpool' ] || exit 1\n"
                "printf '  pool: rpool\\n state: ONLINE\\nconfig:\\n\\n"
                "\\tNAME        STATE\\n\\trpool       ONLINE\\n\\t  mirror-0  ONLINE\\n"
                "\\t    /dev/sdb3  ONLINE\\n\\t    /dev/nvme0n1p3  ONLINE\\n'\n")
    os.chmod(os.path.join(bin_dir, "zpool"), 0o755)
    from harness import run, PTLUA, TOP
    # the program given, never one found on PATH
    env = dict(os.environ, PATH=bin_dir + ":" + os.environ["PATH"])
    p = run([PTLUA, "--root", root, "scripts/report.lua", "--json"], cwd=TOP, env=env, check=0)
    eq([d["address"] for d in json.loads(p.stdout)["devices"] if d["critical"]], [], "zpool on PATH is not run")
    p = run([PTLUA, "--root", root, "--zpool", os.path.join(bin_dir, "zpool"), "scripts/report.lua", "--json"],
            cwd=TOP, check=0)
    got = {d["address"]: d["critical"] for d in json.loads(p.stdout)["devices"] if d["critical"]}
    eq(got, {"0000:00:17.0": "controller of / (ZFS pool rpool member /dev/sdb3)",
             "0000:03:00.0": "controller of / (ZFS pool rpool member /dev/nvme0n1p3)"}, "pool members")
