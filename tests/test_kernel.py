"""libpt against a real Linux kernel: Debian's, under QEMU with an emulated intel-iommu.
The report sees real IOMMU groups; bind.lua gives the e1000e NIC to vfio-pci (its group then
opens through VFIO as viable); restore.lua gives it back to e1000e."""
import json
import os

from harness import TOP, contains, eq, test
import realkernel

GUEST = r"""
cd {top}
P={top}/lua/ptlua
NIC=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/device)" = 0x10d3 ] && basename $d; done)
echo "nic=$NIC"
$P scripts/report.lua --json > /tmp/report.json && echo "report=ok"
echo "report-json=$(tr -d '\n' < /tmp/report.json)"
$P scripts/bind.lua --device $NIC --vm 100 --dry-run | sed 's/^/plan: /'
$P scripts/bind.lua --device $NIC --vm 100
echo "bound-driver=$(basename $(readlink /sys/bus/pci/devices/$NIC/driver))"
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
$P scripts/restore.lua --vm 100
echo "restored-driver=$(basename $(readlink /sys/bus/pci/devices/$NIC/driver))"
echo "override=$(cat /sys/bus/pci/devices/$NIC/driver_override)"
echo "journal-left=$(ls /run/libpt | grep -v lock | wc -l)"
"""


@test(timeout=600)
def kernel_bind_and_restore(tmp):
    try:
        realkernel.prepare()
    except realkernel.Unavailable as e:
        raise AssertionError(f"the real-kernel test cannot run: {e}")
    script = os.path.join(TOP, "build", f"guest-{os.getpid()}.sh")
    with open(script, "w") as f:
        f.write(GUEST.format(top=TOP))
    try:
        out, rc = realkernel.run(script)
    finally:
        os.unlink(script)
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line and " " not in line.split("=")[0])
    nic = values.get("nic")
    assert nic and nic.startswith("0000:"), out
    report = json.loads(values["report-json"])
    eq(report["iommu"], True, "real IOMMU groups")
    dev = {d["address"]: d for d in report["devices"]}[nic]
    eq((dev["driver"], dev["verdict"]), ("e1000e", "isolated"), "the NIC before")
    contains(out, f"plan: {nic}: write 'vfio-pci' to /sys/bus/pci/devices/{nic}/driver_override", "dry run")
    contains(out, f"vm 100 holds {nic}", "bound")
    eq(values.get("bound-driver"), "vfio-pci", "driver link after bind, from the kernel")
    eq(values.get("journal-state"), "bound", "journal")
    eq(values.get("vfio-api"), "0", "VFIO API version")
    eq(values.get("group-viable"), "1", "the group opens through VFIO as viable")
    contains(out, f"other-vm: ptlua: {nic}: held by VM 100", "claimed")
    contains(out, f"vm 100 gave back {nic}", "restored")
    eq(values.get("restored-driver"), "e1000e", "the kernel rebound e1000e")
    eq(values.get("override"), "(null)", "override cleared")
    eq(values.get("journal-left"), "0", "journal removed")
    eq(rc, 0, "guest script")
