"""The USB follower against umockdev uevents and a real QEMU. Run under umockdev-wrapper with
Debian's python3 (GObject introspection): umock_follow.py PTLUA TOP WORKDIR. Prints `ok` lines
and exits 0, or raises."""
import os
import subprocess
import sys
import time

from umock_usb import Bus, UMockdev, pump

PTLUA, TOP, WORK = sys.argv[1:4]
tb = UMockdev.Testbed.new()
ROOT = tb.get_root_dir()
controller = tb.add_device("pci", "0000:00:14.0", None,
                           ["vendor", "0x8086", "device", "0xa2af", "class", "0x0c0330"], [])
bus = Bus(tb, controller)
SOCK = os.path.join(WORK, "qmp.sock")


def qemu():
    if os.path.exists(SOCK):
        os.unlink(SOCK)
    p = subprocess.Popen(["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-nodefaults", "-display", "none",
                          "-S", "-device", "qemu-xhci", "-qmp", f"unix:{SOCK},server=on,wait=off"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(SOCK):
            return p
        time.sleep(0.05)
    raise SystemExit("qemu did not start")


def attached():
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    # the main loop turns while it runs: the follower's usbfs ioctls are answered meanwhile (a
    # client the testbed leaves waiting is refused, and the preload aborts it)
    p = subprocess.Popen([PTLUA, "scripts/usb.lua", "--socket", SOCK, "--list"], cwd=TOP, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    while p.poll() is None:
        pump(0.02)
    return p.stdout.read().split()


def wait_for(what, predicate, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            print("ok", what)
            return
        pump(0.1)
    raise SystemExit(f"timed out: {what}; attached: {attached()}; follower said:\n{open(LOG).read()}")


def plug(port, vid, pid, serial):
    """A device libusb sees too (the follower asks it what QEMU will find before each attach).
    The main loop is turned a moment after it, as a hub enumerates one device after another: the
    testbed's ioctl socket for the node is served before the next comes."""
    device = bus.plug(port, vid, pid, serial)[:2]
    pump(0.3)
    return device


def unplug(device):
    bus.unplug(*device)


def follower(*match):
    log = open(LOG, "w")
    return subprocess.Popen([PTLUA, "--root", ROOT, "scripts/usb-follow.lua", "--socket", SOCK, *match],
                            cwd=TOP, stdout=log, stderr=subprocess.STDOUT)


LOG = os.path.join(WORK, "follow.log")

# the inventory of a testbed: two identical dongles told apart by port and serial
import json  # noqa: E402
a = plug("2-1", "1a86", "55d4", "S1")
b = plug("2-2", "1a86", "55d4", "S2")
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
report = json.loads(subprocess.run([PTLUA, "--root", ROOT, "scripts/report.lua", "--usb", "--json"], cwd=TOP,
                                   capture_output=True, text=True, env=env, check=True).stdout)
got = [(d["port"], d["vendor_id"], d["product_id"], d["serial"], d["shares_id"], d["controller"])
       for d in report["usb"]]
assert got == [("2-1", "1a86", "55d4", "S1", True, "0000:00:14.0"),
               ("2-2", "1a86", "55d4", "S2", True, "0000:00:14.0")], got
print("ok inventory of two identical dongles")
unplug(a)
unplug(b)

vm = qemu()
f = follower("--match", "10c4:ea60")
pump(1.0)
dongle = plug("1-2", "10c4", "ea60", "A1")
wait_for("attached when it appears after the VM started", lambda: "pt-usb-10c4_ea60" in attached())
unplug(dongle)
wait_for("detached when it goes", lambda: "pt-usb-10c4_ea60" not in attached())
dongle = plug("1-2", "10c4", "ea60", "A1")
wait_for("attached again after a replug", lambda: "pt-usb-10c4_ea60" in attached())
vm.kill()
vm.wait()
pump(1.5)
vm = qemu()
wait_for("attached again when the VM restarts", lambda: "pt-usb-10c4_ea60" in attached())
f.terminate()
f.wait()
unplug(dongle)

# by port: a device that re-enumerates under another id (flashed) is followed
f = follower("--port", "1-3")
pump(1.0)
stick = plug("1-3", "1234", "5678", "Z1")
wait_for("attached by port", lambda: "pt-usb-1_3" in attached())
unplug(stick)
wait_for("detached by port", lambda: "pt-usb-1_3" not in attached())
stick = plug("1-3", "1234", "9999", "Z1")
wait_for("re-enumerated under another id, attached again by port", lambda: "pt-usb-1_3" in attached())
f.terminate()
f.wait()

# a physical port is one port: the device back at USB 3 is on the other bus, and followed there
f = follower("--port", "1-5")
pump(1.0)
fast = bus.plug("2-5", "0781", "5583", "F1", peer="usb1-port5")[:2]
wait_for("followed to the other half of its physical port", lambda: "pt-usb-2_5" in attached())
unplug(fast)
wait_for("detached from the other half", lambda: "pt-usb-2_5" not in attached())
f.terminate()
f.wait()

# a port with a hub behind it: each device behind the hub, never the hub itself
f = follower("--port", "1-4", "--behind")
pump(1.0)
hub = bus.plug("1-4", "05e3", "0610", "", devclass="09")[:2]
pump(0.3)
keyboard = plug("1-4.1", "046d", "c31c", "K1")
mouse = plug("1-4.2", "046d", "c077", "M1")
wait_for("behind a hub: each device attached by its own port",
         lambda: {"pt-usb-1_4_1", "pt-usb-1_4_2"} <= set(attached()))
assert "pt-usb-1_4" not in attached(), attached()
print("ok the hub itself is not attached")
unplug(mouse)
wait_for("behind a hub: the device that goes is detached, the others stay",
         lambda: "pt-usb-1_4_2" not in attached() and "pt-usb-1_4_1" in attached())
f.terminate()
f.wait()
vm.kill()
print(open(LOG).read())
