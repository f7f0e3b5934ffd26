"""Why a device shares its group: ACS present and on, off, partial, absent, multifunction,
behind a PCIe-to-PCI bridge, unreadable without root; and lspci reads the same ACS bits."""
import json
import os
import re

from harness import build_spec, contains, eq, ptlua, run, test

SPEC = """
0000:00:00.0 8086:3ec2 060000 group=0
# A root port with ACS on: the NVMe below it is alone.
0000:00:01.0 8086:1901 060400 group=1 pcie=root acs=on
0000:01:00.0 144d:a808 010802 group=2 parent=0000:00:01.0
# PCH root ports, functions of one device without ACS: both NICs share their group.
0000:00:1c.0 8086:a290 060400 group=3 pcie=root acs=none
0000:00:1c.4 8086:a294 060400 group=3 pcie=root acs=none
0000:02:00.0 8086:1539 020000 group=3 parent=0000:00:1c.0
0000:03:00.0 8086:1539 020000 group=3 parent=0000:00:1c.4
# ACS present but off, and ACS with only SV and RR.
0000:00:02.0 1022:1483 060400 group=4 pcie=root acs=off
0000:04:00.0 1b21:0612 010601 group=4 parent=0000:00:02.0
0000:04:01.0 1b21:0612 010601 group=4 parent=0000:00:02.0
0000:00:03.0 1022:1483 060400 group=5 pcie=root acs=SV+RR
0000:05:00.0 10ec:8168 020000 group=5 parent=0000:00:03.0
# A GPU with its audio (no ACS of its own) behind a root port with ACS.
0000:00:04.0 1022:1483 060400 group=6 pcie=root acs=on
0000:06:00.0 10de:1b81 030000 group=7 parent=0000:00:04.0
0000:06:00.1 10de:10f0 040300 group=7 parent=0000:00:04.0
# A card behind a PCIe-to-PCI bridge.
0000:00:05.0 1022:1483 060400 group=8 pcie=root acs=on
0000:07:00.0 1b21:1080 060400 group=9 parent=0000:00:05.0 pcie=pci-bridge
0000:08:00.0 1102:0002 040100 group=9 parent=0000:07:00.0 pcie=none
0000:08:01.0 1000:0030 010000 group=9 parent=0000:07:00.0 pcie=none
# Conventional PCI functions of one device on the root bus (ICH9 on q35: LPC, SATA, SMBus).
0000:00:1f.0 8086:2918 060100 group=12 pcie=none driver=lpc_ich
0000:00:1f.2 8086:2922 010601 group=12 pcie=none driver=ahci
0000:00:1f.3 8086:2930 0c0500 group=12 pcie=none driver=i801_smbus
# Root ports with groups of their own: where to move a card.
0000:00:06.0 1022:1483 060400 group=10 pcie=root acs=on
"""


def explain(root, address):
    r = json.loads(ptlua(["scripts/report.lua", "--json", "--device", address], root=root).stdout)
    return r["devices"][0]["explanation"]


@test()
def explain_isolated(tmp):
    root = build_spec(SPEC, os.path.join(tmp, "root"))
    x = explain(root, "01:00.0")
    eq((x["isolation"], x["culprit"], x["fixes"]), ("isolated", None, []), "isolated")
    eq([s["text"] for s in x["steps"]], ["0000:01:00.0 endpoint: a single function",
                                         "0000:00:01.0 root port: isolates what is below it"], "path")


@test()
def explain_no_acs(tmp):
    root = build_spec(SPEC, os.path.join(tmp, "root"))
    x = explain(root, "02:00.0")
    eq((x["isolation"], x["culprit"]), ("no-acs", "0000:00:1c.0"), "culprit")
    contains(x["reason"], "0000:00:1c.0, the root port above 0000:02:00.0, has no ACS capability", "reason")
    contains(x["steps"][1]["text"], "root port (multifunction): no ACS capability", "step")
    eq(x["slots"], ["0000:00:01.0", "0000:00:04.0", "0000:00:05.0", "0000:00:06.0"], "slots with own groups")
    contains(x["fixes"][0], "0000:00:06.0 (IOMMU group 10, nothing below it)", "free slot named")
    contains(x["fixes"][0], "0000:00:01.0 (IOMMU group 1, holds 0000:01:00.0)", "used slot named")
    contains(x["fixes"][-1], "pcie_acs_override=downstream,multifunction", "override")
    contains(x["fixes"][-1], "reach each other's memory by DMA", "override cost")


@test()
def explain_acs_disabled(tmp):
    root = build_spec(SPEC, os.path.join(tmp, "root"))
    x = explain(root, "04:00.0")
    eq((x["isolation"], x["culprit"]), ("acs-disabled", "0000:00:02.0"), "all off")
    contains(x["reason"], "has ACS but Source Validation, Request Redirect, Completion Redirect, "
             "Upstream Forwarding disabled", "all four named")
    x = explain(root, "05:00.0")
    eq((x["isolation"], x["culprit"]), ("acs-disabled", "0000:00:03.0"), "partly off")
    contains(x["reason"], "has ACS but Completion Redirect, Upstream Forwarding disabled", "two named")
    contains(x["fixes"][0], "pci=config_acs=", "kernel parameter hint")


@test()
def explain_multifunction(tmp):
    root = build_spec(SPEC, os.path.join(tmp, "root"))
    x = explain(root, "06:00.1")
    eq((x["isolation"], x["culprit"]), ("multifunction-without-acs", "0000:06:00.1"), "gpu audio")
    contains(x["fixes"][0], "Pass every function of slot 0000:06:00 together", "fix")
    # With ACS of its own the function is isolated.
    root2 = build_spec(SPEC.replace("040300 group=7 parent=0000:00:04.0", "040300 group=11 parent=0000:00:04.0 acs=on")
                       .replace("030000 group=7 parent=0000:00:04.0", "030000 group=7 parent=0000:00:04.0 acs=on"),
                       os.path.join(tmp, "root2"))
    eq(explain(root2, "06:00.1")["isolation"], "isolated", "multifunction with ACS")


@test()
def explain_conventional_multifunction(tmp):
    """The kernel's reason: pci_acs_enabled() is false without a PCI Express capability, so the
    functions of a conventional multifunction device always share a group."""
    root = build_spec(SPEC, os.path.join(tmp, "root"))
    for a in ("00:1f.0", "00:1f.2", "00:1f.3"):
        x = explain(root, a)
        eq((x["isolation"], x["culprit"]), ("multifunction-without-acs", "0000:" + a), a)
        contains(x["reason"], "multifunction conventional PCI device (no PCI Express capability)", a)
        eq(len(x["fixes"]), 1, a + ": no ACS override offered")


@test()
def explain_pci_bridge(tmp):
    root = build_spec(SPEC, os.path.join(tmp, "root"))
    x = explain(root, "08:01.0")
    eq((x["isolation"], x["culprit"]), ("pci-bridge", "0000:07:00.0"), "behind the bridge")
    contains(x["reason"], "behind 0000:07:00.0, a PCIe-to-PCI bridge", "reason")
    contains(x["fixes"][0], "ACS override does not either", "no override for aliasing")


@test()
def explain_unreadable_without_root(tmp):
    root = build_spec(SPEC.replace("0000:00:1c.0 8086:a290 060400 group=3 pcie=root acs=none",
                                   "0000:00:1c.0 8086:a290 060400 group=3 pcie=root acs=none cfg=64"),
                      os.path.join(tmp, "root"))
    x = explain(root, "02:00.0")
    eq((x["isolation"], x["culprit"]), ("unreadable", "0000:00:1c.0"), "unknown, not guessed")
    contains(x["reason"], "only 64 bytes of its config space can be read", "says what is missing")
    eq(x["fixes"], ["Run as root to read the extended config space."], "fix")


@test()
def explain_text(tmp):
    root = build_spec(SPEC, os.path.join(tmp, "root"))
    out = ptlua(["scripts/report.lua", "--device", "02:00.0"], root=root).stdout
    contains(out, "  Why: 0000:00:1c.0, the root port above 0000:02:00.0", "why")
    contains(out, "  Path up to the root:\n    0000:02:00.0 endpoint: a single function", "path")
    contains(out, "  What would change it:\n    - Move the card", "fixes")


@test()
def explain_lspci_reads_same_acs(tmp):
    """libpci decodes the same ACS capability and controls from the fixture's config space."""
    root = build_spec(SPEC, os.path.join(tmp, "root"))
    script = os.path.join(tmp, "acs.lua")
    with open(script, "w") as f:
        f.write('local inv = require("pt").scan()\nfor d in inv:devices() do\n'
                '  local a = d:acs()\n  if a then print(d.address, a.cap, a.ctrl) end\nend\n')
    ours = {}
    for line in ptlua([script], root=root).stdout.splitlines():
        addr, cap, ctrl = line.split()
        ours[addr] = (int(cap), int(ctrl))
    out = run(["lspci", "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", "-vvvD"], check=0).stdout
    names = ["SrcValid", "TransBlk", "ReqRedir", "CmpltRedir", "UpstreamFwd", "EgressCtrl", "DirectTrans"]
    theirs, current = {}, None
    for line in out.splitlines():
        if re.match(r"^[0-9a-f]{4}:", line):
            current = line.split()[0]
        m = re.match(r"^\s+ACS(Cap|Ctl):\s+(.*)$", line)
        if m:
            bits = sum(1 << i for i, n in enumerate(names) if f"{n}+" in m.group(2))
            cap, ctrl = theirs.get(current, (0, 0))
            theirs[current] = (bits, ctrl) if m.group(1) == "Cap" else (cap, bits)
    eq(ours, theirs, "ACS cap and ctrl, ours vs lspci")
    assert len(ours) >= 6, ours
