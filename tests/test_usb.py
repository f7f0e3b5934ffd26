"""USB: the inventory on fixture trees, QMP against a real QEMU, and the follower driven by
umockdev uevents."""
import json
import os
import socket
import subprocess
import threading
import time

from harness import SANITIZE, TOP, PTLUA, build_spec, contains, eq, ptlua, run, test

HOST = """
0000:00:00.0 8086:3ec2 060000 group=0
0000:00:14.0 8086:a2af 0c0330 group=1 driver=xhci_hcd
0000:00:1c.0 8086:a290 060400 group=2 pcie=root
0000:02:00.0 1912:0015 0c0330 group=3 driver=xhci_hcd parent=0000:00:1c.0
usb 1-2 10c4:ea60 0000:00:14.0 serial=0001 manufacturer=Silicon,Labs product=CP2102N,USB,to,UART driver=cp210x tty=ttyUSB0 peer=2-2
usb 1-3 10c4:ea60 0000:00:14.0 serial=0002 manufacturer=Silicon,Labs driver=cp210x tty=ttyUSB1
usb 3-1.4 1cf1:0030 0000:02:00.0 serial=DE2412345 product=ConBee,II class=02 driver=cdc_acm tty=ttyACM0 peer=4-1.4
usb 1-4 046d:c52b 0000:00:14.0 class=03 driver=usbhid speed=12
"""


def host(tmp):
    return build_spec(HOST, os.path.join(tmp, "root"))


@test()
def usb_inventory(tmp):
    root = host(tmp)
    r = json.loads(ptlua(["scripts/report.lua", "--usb", "--json"], root=root).stdout)
    usb = {d["port"]: d for d in r["usb"]}
    eq(sorted(usb), ["1-2", "1-3", "1-4", "3-1.4"], "ports")
    d = usb["1-2"]
    eq((d["vendor_id"], d["product_id"], d["serial"], d["manufacturer"], d["product"]),
       ("10c4", "ea60", "0001", "Silicon Labs", "CP2102N USB to UART"), "strings")
    eq((d["interfaces"], d["node"], d["controller"], d["shares_id"], d["speed"]),
       ("ff:cp210x", "/dev/ttyUSB0", "0000:00:14.0", True, 12), "interfaces, node, controller")
    eq(d["vendor_name"], "Silicon Labs", "hwdb name")
    eq((usb["3-1.4"]["node"], usb["3-1.4"]["controller"], usb["3-1.4"]["shares_id"]),
       ("/dev/ttyACM0", "0000:02:00.0", False), "cdc_acm stick")
    eq(r["controllers"], {"0000:00:14.0": ["1-2", "1-3", "1-4"], "0000:02:00.0": ["3-1.4"]}, "by controller")
    out = ptlua(["scripts/report.lua", "--usb"], root=root).stdout
    contains(out, "another device has the same id: attach by port", "ambiguity shown")


def qemu(tmp):
    sock = os.path.join(tmp, "qmp.sock")
    p = subprocess.Popen(["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-nodefaults", "-display", "none",
                          "-S", "-device", "qemu-xhci", "-qmp", f"unix:{sock},server=on,wait=off"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(sock):
            return p, sock
        time.sleep(0.05)
    raise AssertionError("qemu did not start")


@test(timeout=120)
def usb_qmp_attach_detach(tmp):
    root = host(tmp)
    vm, sock = qemu(tmp)
    try:
        usb = lambda *a, check=0: ptlua(["scripts/usb.lua", "--socket", sock, *a], root=root, check=check)
        eq(usb("--attach", "--id", "1cf1:0030").stdout, "attached pt-usb-1cf1_0030\n", "by id")
        eq(usb("--attach", "--port", "1-2").stdout, "attached pt-usb-1_2\n", "by port")
        eq(usb("--attach", "--serial", "0002").stdout, "attached pt-usb-1_3\n", "by serial: its port")
        eq(usb("--list").stdout, "pt-usb-1_2 port 1-2\npt-usb-1_3 port 1-3\npt-usb-1cf1_0030 1cf1:0030\n", "list")
        p = usb("--attach", "--id", "10c4:ea60", check=1)
        contains(p.stderr, "10c4:ea60 matches 2 devices, at ports 1-2, 1-3: name it by its port instead", "ambiguous")
        p = usb("--attach", "--id", "1cf1:0030", check=1)
        contains(p.stderr, "the VM has a device 'pt-usb-1cf1_0030' already", "asked before device_add (-EEXIST)")
        eq(usb("--detach", "--id", "1cf1:0030").stdout, "detached pt-usb-1cf1_0030\n", "detach")
        eq(usb("--list").stdout, "pt-usb-1_2 port 1-2\npt-usb-1_3 port 1-3\n", "after detach")
        p = usb("--detach", "--id", "1cf1:0030", check=1)
        contains(p.stderr, "device_del: Device 'pt-usb-1cf1_0030' not found", "detach twice")
    finally:
        vm.kill()
        vm.wait()
    p = ptlua(["scripts/usb.lua", "--socket", sock, "--list"], root=root, check=1)
    contains(p.stderr, "Connection refused (is the VM running?)", "VM not running")
    os.makedirs(os.path.join(root, "var/run/qemu-server"), exist_ok=True)
    p = ptlua(["scripts/usb.lua", "--vm", "100", "--list"], root=root, check=1)
    contains(p.stderr, f"VM 100: {root}/var/run/qemu-server/100.qmp: No such file or directory (is the VM running?)",
             "by VM id")


@test(timeout=60)
def usb_qmp_socket_closed_mid_command(tmp):
    """A QMP peer that greets, negotiates, then closes while a command is under way."""
    path = os.path.join(tmp, "fake.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\n')
        conn.recv(4096)
        conn.sendall(b'{"return": {}, "id": 1}\n')
        conn.recv(4096)  # the command: no answer, the connection goes
        conn.close()
    threading.Thread(target=serve, daemon=True).start()
    p = ptlua(["scripts/usb.lua", "--socket", path, "--list"], check=1)
    contains(p.stderr, f"{path}: QMP: the connection closed (QEMU stopped?)", "closed mid-command")
    server.close()


@test(timeout=120)
def usb_qmp_hostile_peers(tmp):
    """Monitors that never accept (a full backlog), never greet, send half a line, or flood
    events: each fails within --timeout-ms, naming the socket, in bounded memory; a socket path
    longer than sun_path is refused, not truncated."""
    import time
    greeting = b'{"QMP": {"version": {}, "capabilities": []}}\n'

    def peer(name, behave, backlog=1):
        path = os.path.join(tmp, name + ".sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(backlog)
        if behave:
            threading.Thread(target=behave, args=(server,), daemon=True).start()
        return path, server

    def silent(server):
        conn, _ = server.accept()
        time.sleep(30)

    def half_line(server):
        conn, _ = server.accept()
        conn.sendall(b'{"QMP": {"version"')
        time.sleep(30)

    def flood(server):
        conn, _ = server.accept()
        conn.sendall(greeting)
        conn.recv(4096)
        conn.sendall(b'{"return": {}, "id": 1}\n')
        event = b'{"event": "RTC_CHANGE", "data": {"offset": 1}, "timestamp": {"seconds": 1}}\n' * 512
        end = time.time() + 10
        while time.time() < end:
            try:
                conn.sendall(event)
            except OSError:
                return

    # a full backlog: the listener never accepts, and two clients fill its queue
    full, server = peer("full", None, backlog=0)
    fillers = []
    for _ in range(3):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(full)
        except (BlockingIOError, OSError):
            pass
        fillers.append(c)
    cases = [(full, "not accepted within 500 ms")]
    cases.append((peer("silent", silent)[0], "no answer within 500 ms"))
    cases.append((peer("half", half_line)[0], "no answer within 500 ms"))
    cases.append((peer("flood", flood)[0], "no answer within 500 ms"))
    for path, message in cases:
        start = time.monotonic()
        p = run(["/usr/bin/time", "-f", "maxrss=%M", PTLUA, "scripts/usb.lua", "--socket", path, "--list",
                 "--timeout-ms", "500"], cwd=TOP, check=1)
        took = time.monotonic() - start
        contains(p.stderr, f"{path}", "names the socket")
        contains(p.stderr, message, path)
        assert took < 5, f"{path}: {took:.1f}s"
        rss = int(p.stderr.split("maxrss=")[1].split()[0])
        assert rss < (256 if SANITIZE else 64) * 1024, f"{path}: {rss} KiB"  # ASan's shadow costs
    long = os.path.join(tmp, "x" * 120 + ".sock")
    p = ptlua(["scripts/usb.lua", "--socket", long, "--list"], check=1)
    contains(p.stderr, "a socket path longer than 107 bytes", "long path refused")


@test(timeout=180, alone=True)
def usb_follower_umockdev(tmp):
    p = run(["umockdev-wrapper", "/usr/bin/python3", os.path.join(TOP, "tests", "umock_follow.py"),
             PTLUA, TOP, tmp], timeout=170, cwd=os.path.join(TOP, "tests"))
    assert p.returncode == 0, p.stdout + p.stderr
    for what in ("inventory of two identical dongles", "attached when it appears after the VM started", "detached when it goes",
                 "attached again after a replug", "attached again when the VM restarts", "attached by port",
                 "detached by port", "re-enumerated under another id, attached again by port",
                 "followed to the other half of its physical port", "detached from the other half",
                 "behind a hub: each device attached by its own port", "the hub itself is not attached",
                 "behind a hub: the device that goes is detached, the others stay"):
        contains(p.stdout, "ok " + what, what)


@test(timeout=120)
def usb_libusb_sees_what_qemu_will(tmp):
    """libusb (as QEMU's usb-host) against umockdev's usbfs: the check, a reset in place and one
    that re-enumerates, refusals while a process has the device, lint of a VM's usbN lines."""
    p = run(["umockdev-wrapper", "/usr/bin/python3", os.path.join(TOP, "tests", "umock_usbhost.py"),
             PTLUA, TOP, tmp], timeout=110, cwd=os.path.join(TOP, "tests"))
    assert p.returncode == 0, p.stdout + p.stderr
    for what in ("found and opened as QEMU will", "found by id, the first as QEMU takes it",
                 "a port with nothing behind it, with what libusb sees",
                 "an attach that QEMU could not serve is refused before QMP", "reset in place",
                 "the reset is usbfs's USBDEVFS_RESET", "reset, found again by port with its new device number",
                 "reset refused while a process has the device open", "--force resets it anyway",
                 "--check names the process", "lint: a port QEMU will find empty", "lint: an id no device has",
                 "lint: a device another process has open", "doctor: a VM's usbN line QEMU will find empty",
                 "doctor: a device another process has open", "lint: the VM's own QEMU holding its device is no finding"):
        contains(p.stdout, "ok " + what, what)


@test(timeout=60)
def recipe_zigbee(tmp):
    root = host(tmp)
    out = ptlua(["scripts/zigbee.lua", "--list"], root=root).stdout
    eq(out.splitlines(), [
        "1-2      10c4:ea60 USB serial (cp210x) serial 0001 /dev/ttyUSB0",
        "1-3      10c4:ea60 USB serial (cp210x) serial 0002 /dev/ttyUSB1",
        "3-1.4    1cf1:0030 ConBee II serial DE2412345 /dev/ttyACM0",
    ], "sticks")
    p = ptlua(["scripts/zigbee.lua", "--vm", "100"], root=root, check=1)
    contains(p.stderr, "several sticks (ports 1-2, 1-3, 3-1.4): choose one with --stick PORT", "ambiguous")
    out = ptlua(["scripts/zigbee.lua", "--stick", "3-1.4", "--vm", "100", "--dry-run"], root=root).stdout
    eq(out, "device_add usb-host id=pt-usb-1cf1_0030 vendorid=0x1cf1 productid=0x0030 (ConBee II at 3-1.4)\n", "by id")
    out = ptlua(["scripts/zigbee.lua", "--stick", "1-2", "--vm", "100", "--dry-run"], root=root).stdout
    eq(out, "device_add usb-host id=pt-usb-1_2 hostbus=1 hostport=2 (USB serial (cp210x) at 1-2)\n",
       "two sticks share the id: by port")
    eq(ptlua(["scripts/zigbee.lua", "--stick", "1-2", "--vm", "100", "--emit", "proxmox"], root=root).stdout,
       "usb0: host=1-2\n", "proxmox by port")
    vm, sock = qemu(tmp)
    try:
        out = ptlua(["scripts/zigbee.lua", "--stick", "1cf1:0030", "--socket", sock], root=root).stdout
        eq(out, "attached pt-usb-1cf1_0030: ConBee II at 3-1.4\n", "attached to the running VM")
    finally:
        vm.kill()
        vm.wait()


@test()
def recipe_usb_controller(tmp):
    root = build_spec(HOST + "input 5 Logitech_Keyboard 0000:00:14.0 keyboard\ndriver vfio-pci\n",
                      os.path.join(tmp, "root"))
    p = ptlua(["scripts/usb-controller.lua", "--device", "00:14.0", "--vm", "100", "--dry-run"], root=root, check=1)
    contains(p.stdout, "0000:00:14.0 takes 1-2 [10c4:ea60] CP2102N USB to UART\n0000:00:14.0 takes 1-3", "lists")
    contains(p.stderr, "0000:00:14.0: refused: the only keyboard (Logitech Keyboard) hangs under it", "keyboard")
    out = ptlua(["scripts/usb-controller.lua", "--device", "02:00.0", "--vm", "100", "--dry-run"], root=root).stdout
    contains(out, "0000:02:00.0 takes 3-1.4 [1cf1:0030] ConBee II\n", "lists")
    contains(out, f"0000:02:00.0: write 'vfio-pci' to {root}/sys/bus/pci/devices/0000:02:00.0/driver_override", "plan")
    p = ptlua(["scripts/usb-controller.lua", "--device", "00:00.0", "--vm", "100"], root=root, check=1)
    contains(p.stderr, "is a Host bridge, not a USB controller", "not a controller")


@test()
def usb_a_physical_port_is_one_port(tmp):
    """The USB 2 and USB 3 halves of a physical port (port/peer): the inventory shows the other
    half, and a port given as the half the device is not on now resolves to where it is."""
    root = host(tmp)
    usb = {d["port"]: d for d in json.loads(ptlua(["scripts/report.lua", "--usb", "--json"], root=root).stdout)["usb"]}
    eq((usb["1-2"]["peer_port"], usb["3-1.4"]["peer_port"], usb["1-3"]["peer_port"]), ("2-2", "4-1.4", None),
       "the other halves (a root port, a hub's port, none)")
    contains(ptlua(["scripts/report.lua", "--usb"], root=root).stdout,
             "; the same physical port is 2-2 at the other speed", "in the text")
    script = os.path.join(tmp, "resolve.lua")
    with open(script, "w") as f:
        f.write('local pt = require "pt"\nlocal u = require "pt.usb"\nlocal devs = assert(pt.scan()):usb()\n'
                'for _, p in ipairs({ "2-2", "1-2", "4-1.4", "2-9" }) do\n'
                '  local r = u.resolve({ port = p }, devs)\n'
                '  print(p, r.port, r.bus, r.hostport, r.peer_of or "-")\nend\n')
    eq(ptlua(["--trusted", script], root=root).stdout.splitlines(),
       ["2-2\t1-2\t1\t2\t2-2", "1-2\t1-2\t1\t2\t-", "4-1.4\t3-1.4\t3\t1.4\t4-1.4", "2-9\t2-9\t2\t9\t-"],
       "by either half")
    # emission by port covers both halves: two usbN lines, and (one map line a node) two mappings
    for port in ("1-2", "2-2"):
        out = ptlua(["scripts/emit.lua", "--usb-port", port, "--format", "proxmox", "--vm", "100"], root=root).stdout
        eq(out.splitlines()[:2], ["usb0: host=1-2", "usb1: host=2-2"] if port == "1-2" else
           ["usb0: host=2-2", "usb1: host=1-2"], f"proxmox lines by {port}")
        contains(out, "the two halves of one physical port", "said why")
    out = ptlua(["scripts/emit.lua", "--usb-port", "1-3", "--format", "proxmox", "--vm", "100"], root=root).stdout
    eq([l for l in out.splitlines() if l.startswith("usb")], ["usb0: host=1-3"], "a port without a peer: one line")
    out = ptlua(["scripts/emit.lua", "--usb-port", "3-1.4", "--format", "mapping", "--mapping", "conbee",
                 "--node", "pve1", "--nodes", "pve2=x"], root=root).stdout
    eq(out.splitlines()[:8], ["# /etc/pve/mapping/usb.cfg", "conbee", "\tmap path=3-1.4,node=pve1",
                              "\tmap path=3-1.4,node=pve2", "", "conbee-2", "\tmap path=4-1.4,node=pve1",
                              "\tmap path=4-1.4,node=pve2"], "one mapping a half")
    contains(out, "usbN: mapping=conbee and usbM: mapping=conbee-2", "the VM's lines")
    for bad in ("1-", "0-1", "1-2..3", "1-2.", "a-1", "1-1.1.1.1.1.1.1.1"):
        p = ptlua(["scripts/usb.lua", "--port", bad, "--vm", "100"], root=root, check=None)
        eq(p.returncode != 0, True, f"port {bad!r} refused")
