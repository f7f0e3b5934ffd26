"""libpt against a real Linux kernel: Debian's, under QEMU (TCG) with an emulated intel-iommu,
on what only the kernel can say. Each boot runs scenarios that print what they checked
(`=== scenario NAME`, then KEY=VALUE lines); the tests here hold libpt's answers against the
kernel's: groups and their causes for every bridge shape, SR-IOV VFs, binding, hookscript
phases as Proxmox runs them, a crash mid-bind, QEMU taking what --format qemu emits, USB."""
import json
import os
import re

from harness import TOP, contains, eq, kemu_lib, test
import realkernel

# Every shape of the kernel's grouping rules: root ports, a multifunction PCIe device, a
# PCIe-to-PCI bridge with conventional devices, a switch, an SR-IOV NVMe; q35's ICH9 functions.
TOPOLOGY = [
    "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x2",
    "-device", "e1000e,bus=rp1",
    "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,addr=0x3",
    "-device", "e1000e,bus=rp2,addr=0x0.0,multifunction=on",
    "-device", "e1000e,bus=rp2,addr=0x0.1",
    "-device", "pcie-root-port,id=rp3,bus=pcie.0,chassis=3,addr=0x4",
    "-device", "pcie-pci-bridge,id=pb,bus=rp3",
    "-device", "e1000,bus=pb,addr=0x1",
    "-device", "e1000,bus=pb,addr=0x2",
    "-device", "pcie-root-port,id=rp4,bus=pcie.0,chassis=4,addr=0x5",
    "-device", "x3130-upstream,id=up,bus=rp4",
    "-device", "xio3130-downstream,id=dn1,bus=up,chassis=11,slot=1,addr=0x0",
    "-device", "xio3130-downstream,id=dn2,bus=up,chassis=12,slot=2,addr=0x1",
    "-device", "e1000e,bus=dn1",
    "-device", "e1000e,bus=dn2",
    "-device", "pcie-root-port,id=rp5,bus=pcie.0,chassis=5,addr=0x6",
    "-device", "nvme-subsys,id=s0",
    "-device", "nvme,bus=rp5,serial=libpt0,subsys=s0,sriov_max_vfs=2,sriov_vq_flexible=4,"
               "sriov_vi_flexible=2,max_ioqpairs=6,msix_qsize=4",
]

TOPOLOGY_GUEST = r"""
cd {top}
P={top}/lua/ptlua
echo "=== scenario groups"
$P scripts/report.lua --json > /tmp/report.json && echo "report-json=$(tr -d '\n' < /tmp/report.json)"
for g in /sys/kernel/iommu_groups/*; do
  echo "kgroup-$(basename $g)=$(ls $g/devices | tr '\n' ' ')"
done
for d in /sys/bus/pci/devices/*; do
  echo "kexplain-$(basename $d)=$($P scripts/report.lua --json --device $(basename $d) | tr -d '\n')"
done

echo "=== scenario sriov"
PF=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/class)" = 0x010802 ] && [ -e $d/sriov_totalvfs ] && basename $d; done | head -1)
echo "pf=$PF"
echo 0 > /sys/bus/pci/devices/$PF/sriov_drivers_autoprobe
echo 2 > /sys/bus/pci/devices/$PF/sriov_numvfs && echo "vfs-created=ok"
printf 'local pt = require "pt"\nlocal a, n = ...\nlocal d = assert(assert(pt.scan()):device(a))\nprint(assert(d:wait_vfs(tonumber(n), 10000)))\nprint(d:wait_vfs(3, 200))\n' > /tmp/wait.lua
echo "vf-wait=$($P --trusted /tmp/wait.lua $PF 2 2>&1 | tr '\n' '|')"
VF=$(basename $(readlink /sys/bus/pci/devices/$PF/virtfn0))
echo "vf=$VF"
echo "vf-config=$(od -An -tx1 -N4 /sys/bus/pci/devices/$VF/config | tr -d ' ')"
echo "vf-kernel-ids=$(cat /sys/bus/pci/devices/$VF/vendor):$(cat /sys/bus/pci/devices/$VF/device)"
echo "vf-kgroup=$(basename $(readlink /sys/bus/pci/devices/$VF/iommu_group))"
$P scripts/report.lua --json > /tmp/vfs.json && echo "vf-report=$(tr -d '\n' < /tmp/vfs.json)"
echo "vf-text=$($P scripts/report.lua --device $VF | grep "^$VF" | head -1)"
$P scripts/emit.lua --format mapping --device $VF --mapping vf --node pve1 | sed 's/^/mapping: /'
$P scripts/bind.lua --device $VF --vm 100 2>&1 | sed 's/^/bind: /'
echo "vf-bound-driver=$(basename "$(readlink /sys/bus/pci/devices/$VF/driver)")"
$P scripts/restore.lua --vm 100 2>&1 | sed 's/^/restore: /'
echo "vf-restored-driver=$(basename "$(readlink /sys/bus/pci/devices/$VF/driver)")"
echo "vf-override=$(cat /sys/bus/pci/devices/$VF/driver_override)"
"""


def boot(tmp, text, devices, **kw):
    try:
        realkernel.prepare()
    except realkernel.Unavailable as e:
        raise AssertionError(f"the real-kernel tests cannot run: {e}")
    script = os.path.join(TOP, "build", f"guest-{os.getpid()}.sh")
    with open(script, "w") as f:
        # the guest starts with a bare environment: the sanitizers' settings travel in the script
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if os.environ.get(var):
                f.write(f"export {var}='{os.environ[var]}'\n")
        f.write(text.format(top=TOP, kemu=kemu_lib()))
    try:
        out, rc = realkernel.run(script, devices, **kw)
    finally:
        os.unlink(script)
    print(out)
    return realkernel.sections(out), rc


def checked(what, got, want):
    eq(got, want, what)
    print(f"checked: {what}: {got!r}")


@test(timeout=400, tier="kernel")
def kernel_groups_and_sriov(tmp):
    s, rc = boot(tmp, TOPOLOGY_GUEST, TOPOLOGY)
    g = s["groups"]
    report = json.loads(g["report-json"])
    checked("real IOMMU groups", report["iommu"], True)
    kernel = {int(k[len("kgroup-"):]): sorted(v.split()) for k, v in g.items() if k.startswith("kgroup-")}
    ours = {grp["number"]: sorted(grp["devices"]) for grp in report["groups"]}
    checked("the report's groups are the kernel's", ours, kernel)
    devs = {d["address"]: d for d in report["devices"]}
    explained = {k[len("kexplain-"):]: json.loads(v)["devices"][0] for k, v in g.items()
                 if k.startswith("kexplain-")}

    def by_class(cls, parent_type=None):
        return sorted(a for a, d in devs.items() if d["class"] == cls)

    # The reason for each shared group names the cause the kernel used.
    shapes = {}
    for a, d in devs.items():
        x = explained[a].get("explanation")
        members = [m for m in kernel[d["iommu_group"]] if not devs[m]["class"].startswith("06")]
        if d["class"].startswith("06") or len(members) < 2 or not x:
            continue
        shapes.setdefault(x["isolation"], []).append(a)
        print(f"explained: {a} ({d['class']}) in group {d['iommu_group']} {kernel[d['iommu_group']]}: "
              f"{x['isolation']}, culprit {x['culprit']}: {x['reason']}")
    # q35's ICH9 functions: conventional PCI, one multifunction device, one group.
    ich9 = [a for a in devs if a.startswith("0000:00:1f.")]
    checked("ICH9 functions share one kernel group", len({devs[a]["iommu_group"] for a in ich9}), 1)
    for a in ich9:
        if not devs[a]["class"].startswith("06"):
            checked(f"{a}: explained as a conventional multifunction device",
                    explained[a]["explanation"]["isolation"], "multifunction-without-acs")
    # The multifunction e1000e on rp2: PCIe functions without ACS.
    e1000e = sorted(a for a, d in devs.items() if d["device_id"] == "10d3")
    mf = [a for a in e1000e if a[:-2] + ".1" in devs and a[:-2] + ".0" in devs]
    checked("the multifunction e1000e's two functions", len(mf), 2)
    checked("they share the kernel's group", kernel[devs[mf[0]]["iommu_group"]] == kernel[devs[mf[1]]["iommu_group"]], True)
    for a in mf:
        checked(f"{a}: multifunction without ACS", explained[a]["explanation"]["isolation"], "multifunction-without-acs")
    # Conventional e1000 behind the pcie-pci-bridge: the bridge's group, its requester id.
    e1000 = sorted(a for a, d in devs.items() if d["device_id"] == "100e")
    checked("two e1000 behind the bridge", len(e1000), 2)
    bridge = devs[e1000[0]]["parent"]
    checked("the bridge shares their kernel group", bridge in kernel[devs[e1000[0]]["iommu_group"]], True)
    for a in e1000:
        x = explained[a]["explanation"]
        checked(f"{a}: behind a PCIe-to-PCI bridge", (x["isolation"], x["culprit"]), ("pci-bridge", bridge))
    # The switch: each downstream port without ACS shares its group with its device.
    below_switch = [a for a in e1000e if a not in mf and devs[devs[a]["parent"]]["device_id"] == "8233"]
    checked("two e1000e below xio3130 downstream ports", len(below_switch), 2)
    for a in below_switch:
        port = devs[a]["parent"]
        checked(f"{a}: the kernel groups it with its downstream port", port in kernel[devs[a]["iommu_group"]], True)
        x = explained[a]["explanation"]
        checked(f"{a}: the downstream port without ACS", (x["isolation"], x["culprit"]), ("no-acs", port))
    checked("no group left unexplained", shapes.get("unexplained", []), [])

    v = s["sriov"]
    pf, vf = v["pf"], v["vf"]
    checked("the VF's config space reads ffff", v["vf-config"], "ffffffff")
    checked("the kernel's VF ids", v["vf-kernel-ids"], "0x1b36:0x0010")
    r = {d["address"]: d for d in json.loads(v["vf-report"])["devices"]}
    checked("the VF's ids in the report", (r[vf]["vendor_id"], r[vf]["device_id"]), ("1b36", "0010"))
    checked("physfn", r[vf]["physfn"], pf)
    checked("virtfns", len(r[pf]["virtfns"]), 2)
    checked("the VF's group is the kernel's", r[vf]["iommu_group"], int(v["vf-kgroup"]))
    assert "ffff" not in v["vf-text"] and "Illegal" not in v["vf-text"], v["vf-text"]
    print(f"checked: the VF's text: {v['vf-text']}")
    maps = [l for l in v["text"].splitlines() if l.startswith("mapping: \tmap ")]
    checked("the VF's mapping: its VFs as alternatives, never the PF",
            [re.search(r"path=([^,]+)", l).group(1) for l in maps], sorted(r[pf]["virtfns"]))
    contains(maps[0], f"map id=1b36:0010,iommugroup={v['vf-kgroup']},node=pve1,path={vf},", "the VF's mapping")
    print("checked: the VF's mapping names it with the kernel's ids")
    contains(v["text"], f"bind: vm 100 holds {vf}", "VF bound")
    waited, more = v["vf-wait"].split("|")[:2]
    checked("the two VFs there (pt_device_wait_sriov_vfs)", waited.isdigit(), True)
    contains(more, "2 of 3 virtual functions after ", "a third never comes: the bounded wait says so")
    checked("the VF on vfio-pci", v["vf-bound-driver"], "vfio-pci")
    contains(v["text"], f"restore: vm 100 gave back {vf}", "VF restored")
    checked("the VF back with no driver", v["vf-restored-driver"], "")
    checked("its override cleared", v["vf-override"], "(null)")
    eq(rc, 0, "guest script")


# A NIC, a "GPU" (a display controller with an HD audio function, one multifunction slot),
# and a two-function NIC whose second function carries the default route.
ACTIONS = [
    "-device", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=0x2",
    "-device", "e1000e,bus=rp1,romfile=/usr/lib/ipxe/qemu/efi-e1000e.rom",
    "-device", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,addr=0x3",
    "-device", "bochs-display,bus=rp2,addr=0x0.0,multifunction=on",
    "-device", "ich9-intel-hda,bus=rp2,addr=0x0.1",
    "-device", "pcie-root-port,id=rp3,bus=pcie.0,chassis=3,addr=0x4",
    "-device", "e1000e,bus=rp3,addr=0x0.0,multifunction=on",
    "-device", "e1000e,bus=rp3,addr=0x0.1",
]

ACTIONS_GUEST = r"""
cd {top}
P={top}/lua/ptlua
dev() {{ for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "$1" ] && basename $d; done; }}
drv() {{ basename "$(readlink /sys/bus/pci/devices/$1/driver)"; }}
journals() {{ ls /run/libpt 2>/dev/null | grep -v '^lock$' | tr '\n' ' '; }}
NIC=$(dev 0x8086:0x10d3 | grep '\.0$' | while read a; do [ -e /sys/bus/pci/devices/${{a%.0}}.1 ] || echo $a; done)
GPU=$(dev 0x1234:0x1111)
AUDIO=${{GPU%.0}}.1

echo "=== scenario bind"
echo "nic=$NIC"
$P scripts/report.lua --json > /tmp/report.json && echo "report-json=$(tr -d '\n' < /tmp/report.json)"
$P scripts/bind.lua --device $NIC --vm 100 --dry-run | sed 's/^/plan: /'
$P scripts/bind.lua --device $NIC --vm 100
echo "bound-driver=$(drv $NIC)"
GROUP=$(basename $(readlink /sys/bus/pci/devices/$NIC/iommu_group))
echo "journal-state=$(sed -n 's/^state=//p' /run/libpt/$NIC)"
python3 -c "
import fcntl, os, struct
c = os.open('/dev/vfio/vfio', os.O_RDWR)
print('vfio-api=%d' % fcntl.ioctl(c, 0x3b64))
g = os.open('/dev/vfio/$GROUP', os.O_RDWR)
status = fcntl.ioctl(g, 0x3b67, struct.pack('II', 8, 0))
print('group-viable=%d' % (struct.unpack('II', status)[1] & 1))
"
$P scripts/bind.lua --device $NIC --vm 101 2>&1 | sed 's/^/other-vm: /'
echo "reset-methods=$(cat /sys/bus/pci/devices/$NIC/reset_method)"
$P scripts/reset.lua --device $NIC 2>&1 | sed 's/^/reset: /'
echo "after-reset-driver=$(drv $NIC)"
MF=$(dev 0x8086:0x10d3 | grep '\.1$' | head -1)
$P scripts/reset.lua --device $MF 2>&1 | sed 's/^/reset-refused: /'

echo "=== scenario qemu"
ARGS=$($P scripts/emit.lua --format qemu --device $NIC)
echo "args=$ARGS"
eval "qemu-system-x86_64 -machine q35,accel=tcg -m 64 -S -nodefaults -display none \
  -qmp unix:/tmp/inner.qmp,server=on,wait=off $ARGS" > /tmp/inner.log 2>&1 &
python3 - <<'PY'
import json, socket, time
for _ in range(300):
    try:
        s = socket.socket(socket.AF_UNIX); s.connect("/tmp/inner.qmp"); break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("inner QEMU did not start: " + open("/tmp/inner.log").read())
f = s.makefile("rw"); f.readline()
def cmd(name, **a):
    f.write(json.dumps({{"execute": name, "arguments": a}}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            return r
cmd("qmp_capabilities")
qtree = cmd("human-monitor-command", **{{"command-line": "info qtree"}})["return"]
for line in qtree.splitlines():
    if "vfio-pci" in line or "host = " in line:
        print("qtree: " + line.strip())
cmd("quit")
PY
wait
echo "inner-log=$(tr '\n' ' ' < /tmp/inner.log)"
$P scripts/restore.lua --vm 100
echo "restored-driver=$(drv $NIC)"
echo "override=$(cat /sys/bus/pci/devices/$NIC/driver_override)"
echo "journal-left=$(journals)"

echo "=== scenario hookscript"
echo "gpu=$GPU"
mkdir -p /etc/pve/qemu-server
printf 'machine: q35\nhostpci0: %s,pcie=1\n' "${{GPU%.0}}" > /etc/pve/qemu-server/100.conf
echo "before=$(drv $GPU),$(drv $AUDIO)"
$P scripts/gpu-audio.lua --gpu $GPU --emit mapping --mapping gpu | sed 's/^/mapping: /'
$P scripts/gpu-audio.lua 100 pre-start; echo "pre-start-exit=$?"
echo "started=$(drv $GPU),$(drv $AUDIO)"
$P scripts/gpu-audio.lua 100 post-stop; echo "post-stop-exit=$?"
echo "stopped=$(drv $GPU),$(drv $AUDIO)"
echo "overrides=$(cat /sys/bus/pci/devices/$GPU/driver_override),$(cat /sys/bus/pci/devices/$AUDIO/driver_override)"
echo "journal-left=$(journals)"

echo "=== scenario rom"
echo "rom-size=$(stat -c %s /sys/bus/pci/devices/$NIC/rom)"
$P scripts/rom.lua --device $NIC --save nic.rom --json > /tmp/rom.json; echo "rom-exit=$?"
echo "rom-json=$(tr -d '\n' < /tmp/rom.json)"
echo "rom-head=$(head -c 2 /usr/share/kvm/nic.rom | od -An -tx1 | tr -d ' ')"
cmp -s /usr/share/kvm/nic.rom /usr/lib/ipxe/qemu/efi-e1000e.rom && echo "rom-same=yes"
head -c 1 /sys/bus/pci/devices/$NIC/rom > /dev/null 2>&1; echo "rom-read-disabled=$?"

echo "=== scenario crash"
n=0; killed=137
while [ $killed = 137 ] && [ $n -lt 20 ]; do
  n=$((n + 1))
  KEMU_REAL=1 KEMU_KILL_AFTER=$n LD_PRELOAD={kemu} $P scripts/bind.lua --device $NIC --vm 100 >/dev/null 2>&1
  killed=$?
  left="$(drv $NIC)"
  $P scripts/restore.lua --vm 100 >/dev/null 2>&1
  echo "crash-$n=$killed,$left,$(drv $NIC),$(cat /sys/bus/pci/devices/$NIC/driver_override),$(journals)"
done
echo "crash-points=$((n - 1))"

echo "=== scenario refused"
MF0=$(dev 0x8086:0x10d3 | grep '\.0$' | while read a; do [ -e /sys/bus/pci/devices/${{a%.0}}.1 ] && echo $a; done)
MF1=${{MF0%.0}}.1
IF=$(ls /sys/bus/pci/devices/$MF1/net)
ip link set dev $IF up && ip route add default dev $IF && echo "route=$IF"
echo "before=$(drv $MF0),$(drv $MF1)"
$P scripts/bind.lua --device $MF0 --vm 100 2>&1 | sed 's/^/refusal: /'
echo "after=$(drv $MF0),$(drv $MF1)"
echo "overrides=$(cat /sys/bus/pci/devices/$MF0/driver_override),$(cat /sys/bus/pci/devices/$MF1/driver_override)"
echo "journal-left=$(journals)"
"""


@test(timeout=400, tier="kernel")
def kernel_bind_hookscript_crash_qemu(tmp):
    s, rc = boot(tmp, ACTIONS_GUEST, ACTIONS, memory=2048)
    b = s["bind"]
    nic = b["nic"]
    assert nic.startswith("0000:"), b["text"]
    dev = {d["address"]: d for d in json.loads(b["report-json"])["devices"]}[nic]
    checked("the NIC before", (dev["driver"], dev["verdict"]), ("e1000e", "isolated"))
    contains(b["text"], f"plan: {nic}: write 'vfio-pci' to /sys/bus/pci/devices/{nic}/driver_override", "dry run")
    contains(b["text"], f"vm 100 holds {nic}", "bound")
    checked("driver link after bind, from the kernel", b["bound-driver"], "vfio-pci")
    checked("journal", b["journal-state"], "bound")
    checked("VFIO API version", b["vfio-api"], "0")
    checked("the group opens through VFIO as viable", b["group-viable"], "1")
    contains(b["text"], f"other-vm: ptlua: {nic}: held by VM 100", "claimed")
    print("checked: another VM's bind refused")

    q = s["qemu"]
    contains(q["args"], f"vfio-pci,host={nic}", "emitted arguments")
    contains(q["text"], "qtree: dev: vfio-pci", "QEMU created the vfio-pci device")
    contains(q["text"], f'qtree: host = "{nic}"', "on the bound NIC")
    print(f"checked: QEMU took --format qemu's arguments: {q['args']}")
    contains(q["text"], f"vm 100 gave back {nic}", "restored")
    checked("the kernel rebound e1000e", q["restored-driver"], "e1000e")
    checked("override cleared", q["override"], "(null)")
    checked("journal removed", q["journal-left"], "")

    h = s["hookscript"]
    gpu = h["gpu"]
    maps = [l for l in h["text"].splitlines() if l.startswith("mapping: \tmap ")]
    checked("the GPU's mapping: one map line, the whole slot", [re.search(r"path=([^,]+)", l).group(1) for l in maps],
            [gpu[:-2]])
    contains(maps[0], "map id=1234:1111,", "function 0's id, as Proxmox checks it")
    contains(h["text"], "mapping: # in the VM: hostpciN: mapping=gpu,pcie=1", "one hostpci line")
    checked("the GPU and its audio before", h["before"], ",")
    checked("pre-start", h["pre-start-exit"], "0")
    checked("both on vfio-pci after pre-start", h["started"], "vfio-pci,vfio-pci")
    checked("post-stop, another process", h["post-stop-exit"], "0")
    checked("both given back (no driver, as before)", h["stopped"], ",")
    checked("overrides cleared", h["overrides"], "(null),(null)")
    checked("no journal left", h["journal-left"], "")

    checked("the NIC's reset methods", b["reset-methods"].split()[0] in ("flr", "pm", "bus"), True)
    contains(b["text"], f"reset: reset {nic} ({b['reset-methods'].split()[0]})", "reset through sysfs")
    checked("still on vfio-pci after the reset", b["after-reset-driver"], "vfio-pci")
    contains(b["text"], "reset-refused: ptlua: ", "a host driver's device is not reset")
    contains(b["text"], ": bound to e1000e: a reset would pull the device from under its driver", "why")

    o = s["rom"]
    checked("the NIC's rom attribute (its ROM BAR)", o["rom-size"], str(256 << 10))
    checked("rom.lua", o["rom-exit"], "0")
    rj = json.loads(o["rom-json"])
    checked("the images the kernel gives", [(i["code"], i["vendor_id"], i["device_id"], i["matches"])
                                              for i in rj["images"]],
            [("x86 (legacy BIOS)", "8086", "10d3", True), ("EFI", "8086", "10d3", True)])
    checked("the legacy image's checksum", rj["images"][0]["checksum_ok"], True)
    checked("the dump starts with the signature", o["rom-head"], "55aa")
    checked("the dump is QEMU's ROM file, byte for byte", o.get("rom-same"), "yes")
    checked("rom disabled again (a read fails)", o["rom-read-disabled"] != "0", True)

    c = s["crash"]
    points = int(c["crash-points"])
    assert points >= 4, c["text"]  # the journal, the override, unbind, probe, the journal again
    for n in range(1, points + 2):
        killed, left, driver, override, journals = c[f"crash-{n}"].split(",")
        print(f"crash after write {n}: exit {killed}, left on {left or 'no driver'}")
        checked(f"killed after write {n}, restore gives it back", (driver, override, journals), ("e1000e", "(null)", ""))
    checked("the last run, not killed, bound it", c[f"crash-{points + 1}"].split(",")[:2], ["0", "vfio-pci"])

    r = s["refused"]
    assert r.get("route"), r["text"]
    checked("the two functions before", r["before"], "e1000e,e1000e")
    contains(r["text"], "refusal: ptlua:", "refused")
    contains(r["text"], "default route", "names the reason")
    checked("nothing changed", (r["after"], r["overrides"], r["journal-left"]), ("e1000e,e1000e", "(null),(null)", ""))
    eq(rc, 0, "guest script")


# An xHCI controller; the test plugs a USB serial adapter (FTDI) in through the outer QEMU's
# monitor when the guest asks, and pulls it again.
# (usb-serial attaches only when its chardev is open: a file one is, a null one is not)
USB = ["-device", "qemu-xhci,id=xhci", "-chardev", "file,id=c0,path=/dev/null"]

USB_GUEST = r"""
cd {top}
P={top}/lua/ptlua
waitfor() {{ n=0; while ! eval "$1" >/dev/null 2>&1; do n=$((n + 1)); [ $n -gt 300 ] && return 1; sleep 0.1; done; }}
ftdi() {{ for d in /sys/bus/usb/devices/*; do [ "$(cat $d/idVendor 2>/dev/null)" = 0403 ] && basename $d; done; }}
/lib/systemd/systemd-udevd --daemon && echo "udevd=started"
qemu-system-x86_64 -machine q35,accel=tcg -m 64 -S -nodefaults -display none -device qemu-xhci,id=xhci \
  -qmp unix:/tmp/vm.qmp,server=on,wait=off > /tmp/inner.log 2>&1 &
waitfor "test -S /tmp/vm.qmp"
$P scripts/usb-follow.lua --socket /tmp/vm.qmp --match 0403:6001 > /tmp/follow.log 2>&1 &
FOLLOW=$!
sleep 1

echo "=== scenario usb"
echo "xhci=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/class)" = 0x0c0330 ] && basename $d; done)"
echo "=== want usb-add"
waitfor '[ -n "$(ftdi)" ]' && echo "plugged=$(ftdi)"
waitfor 'ls /sys/bus/usb/devices/$(ftdi):1.0/ttyUSB*' && echo "tty=$(ls /sys/bus/usb/devices/$(ftdi):1.0 | grep ttyUSB)"
$P scripts/report.lua --usb --json > /tmp/usb.json && echo "usb-json=$(tr -d '\n' < /tmp/usb.json)"
echo "peer-link=$(basename "$(readlink /sys/bus/usb/devices/$(ftdi)/port/peer)")"
waitfor '$P scripts/usb.lua --socket /tmp/vm.qmp --list | grep -q 0403' && echo "follow-attached=yes"
$P scripts/usb.lua --socket /tmp/vm.qmp --list | sed 's/^/vm-has: /'
echo "=== want usb-del"
waitfor '[ -z "$(ftdi)" ]' && echo "unplugged=yes"
waitfor '! $P scripts/usb.lua --socket /tmp/vm.qmp --list | grep -q 0403' && echo "follow-detached=yes"
kill $FOLLOW
sed 's/^/follower: /' /tmp/follow.log
"""


@test(timeout=400, tier="kernel")
def kernel_usb(tmp):
    events = {
        "=== want usb-add": lambda q: q.command("device_add", driver="usb-serial", bus="xhci.0",
                                                chardev="c0", id="ser0"),
        "=== want usb-del": lambda q: q.command("device_del", id="ser0"),
    }
    s, rc = boot(tmp, USB_GUEST, USB, memory=1024, events=events)
    u = s["usb"]
    port = u.get("plugged")
    assert port, u["text"]
    inventory = json.loads(u["usb-json"])
    dev = [d for d in inventory["usb"] if d.get("port") == port]
    assert dev, inventory
    d = dev[0]
    print(f"inventory: {json.dumps(d)}")
    checked("the adapter's ids", (d["vendor_id"], d["product_id"]), ("0403", "6001"))
    checked("its port", d["port"], port)
    checked("its tty", d.get("tty") or d.get("node"), "/dev/" + u["tty"])
    checked("its controller", d["controller"], u["xhci"])
    hub, _, n = u["peer-link"].partition("-port")
    checked("the kernel links its port to the other half", bool(hub and n), True)
    checked("the other half of its physical port", d["peer_port"], f"{hub[3:]}-{n}" if hub.startswith("usb") else f"{hub}.{n}")
    checked("the follower attached it to the VM", u.get("follow-attached"), "yes")
    contains(u["text"], "vm-has: pt-usb-0403_6001 0403:6001", "the VM lists it")
    checked("unplugged", u.get("unplugged"), "yes")
    checked("the follower detached it from the VM", u.get("follow-detached"), "yes")
    contains(u["text"], "follower: attached", "the follower's log: attached")
    contains(u["text"], "follower: detached", "the follower's log: detached")
    print("checked: the follower saw it come and go")
    eq(rc, 0, "guest script")


# Two NUMA nodes, a CPU and 512 MiB each, and a pxb-pcie expander on node 1 carrying a root port
# and an e1000e: the kernel gives the device numa_node 1 (under SeaBIOS; qboot enumerates no bus
# behind the expander).
NUMA = [
    "-object", "memory-backend-ram,id=m0,size=512M", "-object", "memory-backend-ram,id=m1,size=512M",
    "-numa", "node,nodeid=0,cpus=0,memdev=m0", "-numa", "node,nodeid=1,cpus=1,memdev=m1",
    "-device", "pxb-pcie,id=pxb1,bus_nr=128,numa_node=1,bus=pcie.0,addr=0x8",
    "-device", "pcie-root-port,id=rpn,bus=pxb1,chassis=20,addr=0x0",
    "-device", "e1000e,bus=rpn",
    # a root port trained below what it can do: QEMU's x-speed/x-width
    "-device", "pcie-root-port,id=rpl,bus=pcie.0,chassis=21,addr=0x9,x-speed=16,x-width=16",
    "-device", "nvme,bus=rpl,serial=linktest",
]

NUMA_GUEST = r"""
cd {top}
P={top}/lua/ptlua
echo "=== scenario numa"
D=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/class)" = 0x020000 ] && [ "$(cat $d/numa_node)" = 1 ] && basename $d; done | head -1)
echo "dev=$D"
echo "knode=$(cat /sys/bus/pci/devices/$D/numa_node)"
echo "kcpus=$(cat /sys/bus/pci/devices/$D/local_cpulist)"
echo "node1-cpus=$(cat /sys/devices/system/node/node1/cpulist)"
echo "report=$($P scripts/report.lua --device $D | grep 'NUMA node' | sed 's/^ *//')"
mkdir -p /etc/pve/qemu-server
printf 'cores: 1
sockets: 1
memory: 64
' > /etc/pve/qemu-server/100.conf
H=/sys/devices/system/node/node1/hugepages/hugepages-2048kB
echo "short=$($P scripts/emit.lua --format proxmox --device $D --vm 100 --place --hugepages 2 | grep -c 'would not start')"
echo 32 > $H/nr_hugepages
echo "kfree=$(cat $H/free_hugepages)"
$P scripts/emit.lua --format proxmox --device $D --vm 100 --place --hugepages 2 > /tmp/pve.txt
sed 's/^/proxmox: /' /tmp/pve.txt
echo "affinity=$(sed -n 's/^affinity: //p' /tmp/pve.txt)"
echo "numa0=$(sed -n 's/^numa0: //p' /tmp/pve.txt)"
echo "hugepages=$(sed -n 's/^hugepages: //p' /tmp/pve.txt)"
echo "short-after=$(grep -c 'would not start' /tmp/pve.txt)"
$P scripts/emit.lua --format qemu --device $D --place --vcpus 1 --memory 64 > /tmp/q.txt
W=$(head -1 /tmp/q.txt | sed 's/ -device .*//')
echo "qemu-words=$W"
echo q | timeout 120 qemu-system-x86_64 -machine q35,accel=tcg -nodefaults -display none -S -monitor stdio $W > /tmp/qo.txt 2>&1
echo "nested-rc=$?"
echo "nested-out=$(tr -d '\r' < /tmp/qo.txt | tr '\n' '|' | cut -c1-300)"
echo "=== scenario link"
for d in /sys/bus/pci/devices/*; do
  [ -e $d/current_link_speed ] && echo "klink-$(basename $d)=$(cat $d/current_link_speed)|$(cat $d/current_link_width)|$(cat $d/max_link_speed)|$(cat $d/max_link_width)"
done
$P scripts/report.lua --link | grep 'link' | sed 's/^/report-link: /'

"""


@test(timeout=400, tier="kernel")
def kernel_numa_placement(tmp):
    s, rc = boot(tmp, NUMA_GUEST, NUMA, smp=2, bios=None, memory=1024)
    n = s["numa"]
    checked("the kernel: the device behind the expander on node 1", n["knode"], "1")
    checked("its local CPUs: node 1's", n["kcpus"], n["node1-cpus"])
    checked("the report", n["report"], f"NUMA node 1, local CPUs {n['node1-cpus']}")
    checked("before a reservation, 64 MiB on 2 MiB pages would not start", n["short"], "1")
    checked("the kernel's free pages on node 1 after reserving 32", n["kfree"], "32")
    checked("the emitted affinity: node 1's CPUs", n["affinity"], n["node1-cpus"])
    checked("numa0: the memory on node 1", n["numa0"], "cpus=0,hostnodes=1,memory=64,policy=bind")
    checked("hugepages", n["hugepages"], "2")
    checked("the pages found free: no shortfall said", n["short-after"], "0")
    checked("QEMU's placement arguments", n["qemu-words"],
            "-smp 1 -m 64M -object memory-backend-ram,id=pt-mem0,size=64M,host-nodes=1,policy=bind "
            "-numa node,nodeid=0,cpus=0,memdev=pt-mem0")
    checked("a QEMU in the guest starts with them and quits", n["nested-rc"], "0")
    # the PCIe link as the kernel gives it: a root port's current_link_* is the link below it (to
    # its device), so a port raised to x16 Gen4 (x-speed, x-width) over an x1 Gen1 device is no
    # narrow link: both ends of it can do x1 only (QEMU's endpoints offer x1 at 2.5 GT/s, so no
    # emulated link trains below what both ends can do; that case is the fixtures')
    k = s["link"]
    port = [v for key, v in k.items() if key.startswith("klink-0000:00:09.0")]
    checked("the raised root port, as the kernel says it", port, ["2.5 GT/s PCIe|1|16.0 GT/s PCIe|16"])
    lines = [l for l in k["text"].splitlines() if l.startswith("report-link:")]
    assert lines, k["text"]
    checked("no link the report calls narrow or slow", [l for l in lines if "narrow" in l or "slow" in l], [])
