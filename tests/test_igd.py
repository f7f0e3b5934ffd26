"""Proxmox's legacy-igd=1 (Intel's integrated GPU as the VM's only display): emission follows its
rules (00:02.0 alone, machine i440fx, vga none, the ROM BAR on) and lint checks them."""
import os

from harness import build_spec, contains, eq, ptlua, test

SPEC = """
0000:00:02.0 8086:3e92 030000 group=0 driver=i915 boot_vga=0
0000:00:1f.3 8086:a348 040300 group=1 driver=snd_hda_intel
0000:00:14.0 8086:a2af 0c0330 group=2 driver=xhci_hcd
"""


def host(tmp, conf):
    root = build_spec(SPEC, os.path.join(tmp, "root"))
    d = os.path.join(root, "etc/pve/qemu-server")
    os.makedirs(d)
    for vm, text in conf.items():
        with open(os.path.join(d, f"{vm}.conf"), "w") as f:
            f.write(text)
    return root


@test()
def igd_legacy_emission(tmp):
    root = host(tmp, {100: "machine: q35\nhostpci0: 0000:00:14.0,pcie=1\n", 101: "vga: none\n"})
    out = ptlua(["scripts/emit.lua", "--format", "proxmox", "--device", "00:02.0", "--vm", "100",
                 "--legacy-igd"], root=root).stdout
    eq([l for l in out.splitlines() if l and not l.startswith("#")],
       ["hostpci1: 0000:00:02.0,legacy-igd=1", "machine: pc", "vga: none"], "the lines, i440fx and vga none")
    eq(ptlua(["scripts/emit.lua", "--format", "qm", "--device", "00:02.0", "--vm", "101", "--legacy-igd",
              "--romfile", "igd.rom"], root=root).stdout.strip(),
       "qm set 101 --hostpci0 0000:00:02.0,legacy-igd=1,romfile=igd.rom", "no settings it already has")
    p = ptlua(["scripts/emit.lua", "--format", "proxmox", "--device", "00:14.0", "--vm", "100", "--legacy-igd"],
              root=root, check=1)
    contains(p.stderr, "0000:00:14.0: legacy-igd is for Intel's integrated GPU at 0000:00:02.0", "another device")
    p = ptlua(["scripts/emit.lua", "--format", "proxmox", "--device", "00:02.0", "--vm", "100", "--legacy-igd",
               "--no-rombar"], root=root, check=1)
    contains(p.stderr, "legacy-igd needs the ROM BAR", "rombar")


@test()
def igd_legacy_lint(tmp):
    root = host(tmp, {
        100: "vga: none\nhostpci0: 0000:00:02.0,legacy-igd=1\n",
        101: "machine: q35\nhostpci0: 0000:00:02,legacy-igd=1,rombar=0\n",
        102: "vga: none\nhostpci0: 0000:00:02.0;0000:00:1f.3,legacy-igd=1\n",
    })
    p = ptlua(["scripts/lint.lua"], root=root, check=1)
    lines = [l for l in p.stdout.splitlines() if "legacy-igd" in l]
    eq([l.split(":")[0] for l in lines], ["101 hostpci0"] * 4 + ["102 hostpci0"], "nothing for VM 100")
    for part in ("legacy-igd=1 passes the integrated GPU alone: host=0000:00:02.0 (not 0000:00:02)",
                 "legacy-igd=1 needs machine i440fx (machine: q35)", "legacy-igd=1 needs vga: none (vga: default)",
                 "legacy-igd=1 needs the ROM BAR (rombar=0 here)"):
        contains(p.stdout, "101 hostpci0: " + part, part)
    contains(p.stdout, "102 hostpci0: legacy-igd=1 passes the integrated GPU alone", "two functions")
