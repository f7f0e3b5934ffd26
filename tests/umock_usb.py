"""USB devices in a umockdev testbed as libusb sees them: sysfs with the kernel's `descriptors`
copy, a usbfs node under /dev/bus/usb and umockdev's ioctl emulation answering usbfs's ioctls
in this process (so the main loop must turn while a child uses the device: pump())."""
import errno
import os
import time

import gi
gi.require_version("UMockdev", "1.0")
from gi.repository import GLib, UMockdev  # noqa: E402

USBDEVFS_RESET = 0x5514


def descriptors(vid, pid):
    """A device descriptor, one configuration with one vendor-specific interface."""
    v, p = int(vid, 16), int(pid, 16)
    device = bytes([18, 1, 0x00, 0x02, 0, 0, 0, 64, v & 0xff, v >> 8, p & 0xff, p >> 8, 0, 1, 1, 2, 3, 1])
    config = bytes([9, 2, 18, 0, 1, 1, 0, 0x80, 50])
    interface = bytes([9, 4, 0, 0, 0, 0xff, 0, 0, 0])
    return device + config + interface


class Usbfs(UMockdev.IoctlBase):
    """Answers a usbfs node's ioctls: every one succeeds and is noted, except a reset when the
    device is to re-enumerate (on_reset returns True): then ENODEV, as the kernel says."""

    def __init__(self, on_reset=None):
        super().__init__()
        self.requests = []
        self.on_reset = on_reset

    def do_handle_ioctl(self, client):
        req = client.get_request()
        self.requests.append(req)
        if req == USBDEVFS_RESET and self.on_reset and self.on_reset():
            client.complete(-1, errno.ENODEV)
        else:
            client.complete(0, 0)
        return True


class Bus:
    def __init__(self, tb, controller):
        self.tb, self.controller, self.root = tb, controller, tb.get_root_dir()
        self.next_devnum = 2
        self.handlers = {}

    def plug(self, port, vid, pid, serial, devclass="00", on_reset=None, peer=None):
        """Adds the device at port with a fresh device number (peer: the hub port of the other
        half of its physical port, "usb1-port3", linked as the kernel does); the sysfs path, the
        node and its ioctl handler."""
        bus = int(port.split("-")[0])
        devnum = self.next_devnum
        self.next_devnum += 1
        node = f"/dev/bus/usb/{bus:03d}/{devnum:03d}"
        # the node and its ioctl handler first: a libusb that enumerates the bus meanwhile opens
        # each device's node as soon as its sysfs directory is there
        os.makedirs(os.path.dirname(self.root + node), exist_ok=True)
        open(self.root + node, "w").close()
        handler = Usbfs(on_reset)
        self.tb.attach_ioctl(node, handler)
        self.handlers[node] = handler
        path = self.tb.add_device("usb", port, self.controller,
                                  ["idVendor", vid, "idProduct", pid, "busnum", str(bus), "devnum", str(devnum),
                                   "speed", "12", "serial", serial, "bDeviceClass", devclass],
                                  ["DEVTYPE", "usb_device", "PRODUCT", f"{vid}/{pid}/100", "BUSNUM", f"{bus:03d}",
                                   "DEVNUM", f"{devnum:03d}", "DEVNAME", node])
        self.tb.set_attribute_binary(path, "descriptors", descriptors(vid, pid))
        if peer:
            os.makedirs(self.root + path + "/port")
            os.symlink("../../" + peer, self.root + path + "/port/peer")
        self.tb.uevent(path, "add")
        self.tb.uevent(path, "bind")
        return path, node, handler

    def unplug(self, path, node=None):
        self.tb.uevent(path, "remove")
        self.tb.remove_device(path)
        if node and os.path.exists(self.root + node):
            os.unlink(self.root + node)


def pump(seconds):
    """Turns the main loop (usbfs ioctls are answered here) for that long."""
    ctx = GLib.MainContext.default()
    deadline = time.time() + seconds
    while time.time() < deadline:
        while ctx.pending():
            ctx.iteration(False)
        time.sleep(0.002)


def wait(proc, timeout=30):
    """Waits for a child, answering its ioctls meanwhile."""
    deadline = time.time() + timeout
    while proc.poll() is None:
        if time.time() > deadline:
            proc.kill()
            raise SystemExit(f"timed out: {proc.args}")
        pump(0.01)
    return proc
