"""The C contract (tests/test-contract.c): each C test a function with its fixture root and the
output it must write, built against the library and run under valgrind, QMP against a real QEMU."""
import json
import os

from harness import CC_SAN, TOP, build_spec, run, test
from test_emit import HOST as EMIT_HOST
from test_usb import qemu

# test_emit's host, with a USB controller and three USB devices (two of them the same model)
HOST = EMIT_HOST + """0000:00:14.0 8086:a2af 0c0330 group=9 driver=xhci_hcd
usb 1-2 10c4:ea60 0000:00:14.0 serial=0001 driver=cp210x tty=ttyUSB0 peer=2-2
usb 1-3 10c4:ea60 0000:00:14.0 serial=0002 driver=cp210x tty=ttyUSB1
usb 1-4 046d:c52b 0000:00:14.0 class=03 driver=usbhid speed=12
"""

CONFIGS = {
    100: "# my VM\nboot: order=scsi0\nhostpci0: 03:00.0,pcie=1\nmachine: q35\nbios: ovmf\n"
         "efidisk0: local-lvm:vm-100-disk-0,efitype=4m,size=4M\n[snap1]\nhostpci1: 04:00.0\n",
    102: "hostpci0: 01:00,pcie=1,x-vga=1\nhostpci1: 09:00.0\nhostpci2: mapping=nowhere\nusb0: host=10c4:ea60\n",
    103: "machine: q35\nbios: ovmf\nhostpci0: 01:00.0\n",
}

# Another node's report.lua --json, as much of it as a mapping reads.
PVE2 = {"devices": [
    {"address": "0000:0a:00.0", "vendor_id": "10de", "device_id": "1b81", "subsystem_vendor_id": "1458",
     "subsystem_device_id": "3772", "iommu_group": 7, "physfn": None},
    {"address": "0000:0a:00.1", "vendor_id": "10de", "device_id": "10f0", "subsystem_vendor_id": "1458",
     "subsystem_device_id": "3772", "iommu_group": 7, "physfn": None},
]}


def fixture(root):
    build_spec(HOST, root)
    os.makedirs(os.path.join(root, "etc/pve/qemu-server"))
    for vm, text in CONFIGS.items():
        with open(os.path.join(root, f"etc/pve/qemu-server/{vm}.conf"), "w") as f:
            f.write(text)
    os.makedirs(os.path.join(root, "etc/default"), exist_ok=True)
    with open(os.path.join(root, "etc/default/grub"), "w") as f:
        f.write('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    for d in ("etc/modprobe.d", "etc/udev/rules.d", "etc/initramfs-tools"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "pve2.json"), "w") as f:
        json.dump(PVE2, f)


@test(timeout=300)
def c_contract_under_valgrind(tmp):
    exe = os.path.join(tmp, "test-contract")
    run(["cc", *CC_SAN, "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-unused-function",
         "-Wno-missing-field-initializers", "-Werror", "-g", "-I", f"{TOP}/include", "-I", f"{TOP}/tests", "-o", exe,
         f"{TOP}/tests/test-contract.c", "-L", TOP, "-lpt", f"-Wl,-rpath,{TOP}"], check=0)
    roots = os.path.join(tmp, "roots")
    fixture(os.path.join(roots, "emit"))
    q, sock = qemu(tmp)
    try:
        p = run([exe, roots, sock], valgrind=True, check=None)
    finally:
        q.kill()
        q.wait()
    print(p.stdout, p.stderr)
    assert p.returncode == 0 and p.stdout.rstrip().endswith(" 0 failed"), p.stdout + p.stderr
