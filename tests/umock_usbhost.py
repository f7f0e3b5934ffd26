"""What QEMU's usb-host will see, and the reset of a wedged device, through libusb against
umockdev's usbfs. Run under umockdev-wrapper with Debian's python3: umock_usbhost.py PTLUA TOP
WORKDIR. Prints `ok` lines and exits 0, or raises."""
import os
import subprocess
import sys

from umock_usb import USBDEVFS_RESET, Bus, UMockdev, wait

PTLUA, TOP, WORK = sys.argv[1:4]
tb = UMockdev.Testbed.new()
ROOT = tb.get_root_dir()
ENV = dict(os.environ, UMOCKDEV_DIR=ROOT)  # Testbed.new sets it in C's environment only
controller = tb.add_device("pci", "0000:00:14.0", None,
                           ["vendor", "0x8086", "device", "0xa2af", "class", "0x0c0330"], [])
bus = Bus(tb, controller)


def ptlua(*args, rc=0):
    p = wait(subprocess.Popen([PTLUA, "--root", ROOT, *args], cwd=TOP, env=ENV, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    out, err = p.communicate()
    assert rc is None or p.returncode == rc, f"{args}: exit {p.returncode}, expected {rc}\nstdout: {out}\nstderr: {err}"
    return out + err


def expect(what, text, part):
    assert part in text, f"{what}: {part!r} not in:\n{text}"
    print("ok", what)


dongle, node, usbfs = bus.plug("1-2", "10c4", "ea60", "A1")
expect("found and opened as QEMU will", ptlua("scripts/usb.lua", "--check", "--port", "1-2"),
       "QEMU will find 10c4:ea60 at 1-2: device 2 on bus 1, /dev/bus/usb/001/002 opens")
expect("found by id, the first as QEMU takes it", ptlua("scripts/usb.lua", "--check", "--id", "10C4:EA60"),
       "QEMU will find 10c4:ea60 at 1-2")
assert USBDEVFS_RESET not in usbfs.requests, "a check resets nothing"
expect("a port with nothing behind it, with what libusb sees", ptlua("scripts/usb.lua", "--check", "--port", "1-5", rc=1),
       "QEMU would not find the USB device at port 1-5: libusb sees 1-2 (10c4:ea60) on bus 1")
expect("an attach that QEMU could not serve is refused before QMP",
       ptlua("scripts/usb.lua", "--socket", os.path.join(WORK, "none.sock"), "--attach", "--port", "1-5", rc=1),
       "QEMU would not find the USB device at port 1-5")

expect("reset in place", ptlua("scripts/usb.lua", "--reset", "--port", "1-2"), "reset 10c4:ea60 at 1-2: device 2 on bus 1")
assert USBDEVFS_RESET in usbfs.requests, usbfs.requests
print("ok the reset is usbfs's USBDEVFS_RESET")


# a stick that drops off the bus at its reset and is enumerated again with a new number
def reenumerate():
    tb.set_attribute(stick, "devnum", "9")
    return True


stick, _, _ = bus.plug("1-3", "1a86", "55d4", "Z1", on_reset=reenumerate)
expect("reset, found again by port with its new device number", ptlua("scripts/usb.lua", "--reset", "--port", "1-3"),
       "reset 1a86:55d4 at 1-3: it came back as device 9 on bus 1 (was 3), at /dev/bus/usb/001/009")


# a VM's usb-host has the dongle open: no reset under it unless forced, and lint names it
os.makedirs(f"{ROOT}/proc/4242/fd")
os.symlink(node, f"{ROOT}/proc/4242/fd/7")
usbfs.requests.clear()
expect("reset refused while a process has the device open", ptlua("scripts/usb.lua", "--reset", "--port", "1-2", rc=1),
       "the USB device at 1-2 (10c4:ea60) is open in process 4242")
assert USBDEVFS_RESET not in usbfs.requests, usbfs.requests
expect("--force resets it anyway", ptlua("scripts/usb.lua", "--reset", "--port", "1-2", "--force"), "reset 10c4:ea60")
expect("--check names the process", ptlua("scripts/usb.lua", "--check", "--port", "1-2"), "(process 4242 has it open now)")

os.makedirs(f"{ROOT}/etc/pve/qemu-server")
with open(f"{ROOT}/etc/pve/qemu-server/100.conf", "w") as f:
    f.write("name: vm\nusb0: host=1-2\nusb1: host=1-7\nusb2: host=dead:beef\nusb3: spice\n")
lint = ptlua("scripts/lint.lua", rc=1)
expect("lint: a port QEMU will find empty", lint,
       "100 usb1: host=1-7: QEMU would not find the USB device at port 1-7: libusb sees 1-2 (10c4:ea60), 1-3 (1a86:55d4) on bus 1")
expect("lint: an id no device has", lint, "100 usb2: host=dead:beef: QEMU would not find the USB device with id dead:beef")
expect("lint: a device another process has open", lint,
       "100 usb0: host=1-2: /dev/bus/usb/001/002 (device 2 on bus 1) is open in process 4242, not this VM's QEMU")
doctor = ptlua("scripts/doctor.lua", rc=None)
expect("doctor: a VM's usbN line QEMU will find empty", doctor,
       "[WARN] vm-usb: a VM's USB device as QEMU will find it\n       evidence: VM 100 usb1: host=1-7: QEMU would not find")
expect("doctor: a device another process has open", doctor, "evidence: VM 100 usb0: host=1-2: /dev/bus/usb/001/002")
os.makedirs(f"{ROOT}/var/run/qemu-server")
with open(f"{ROOT}/var/run/qemu-server/100.pid", "w") as f:
    f.write("4242\n")
lint = ptlua("scripts/lint.lua", rc=1)
assert "usb0" not in lint, lint
print("ok lint: the VM's own QEMU holding its device is no finding")
expect("lint counts", lint, "2 findings")
