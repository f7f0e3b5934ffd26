#!/usr/bin/env python3
"""Builds sysfs-shaped trees for libpt's tests and demo.

  mkfixture.py LISTING DIR          a tree from an IOMMU group listing (every format in
                                    tests/fixtures/listings)
  mkfixture.py --spec SPEC DIR      a tree from a compact spec (one device a line)
  mkfixture.py --generate N DIR     a generated host of N functions (SR-IOV NICs), for bench

Spec lines: ADDRESS VVVV:DDDD CLASS [key=value ...], keys: group, driver, parent, boot_vga,
reset_method (',' for spaces; '-' for none), rev, subsys (VVVV:DDDD), numa, physfn (a VF: its
config space reads ffff for vendor and device, as on hardware), override, totalvfs, uevent (no:
the device has no uevent file), rom (a file: the device's option ROM, its ROM BAR sized for it), pcie (root, downstream, upstream, endpoint, legacy, pci-bridge,
rciep, none), link and maxlink (WIDTHxSPEED, 16x8.0: the current and the
most a PCIe link can do, current_link_width/speed and max_link_*), acs (on,
off, none, or the enabled controls: SV+RR), cfg (bytes of config space readable: 64 as without
root, 256 without extended space, 4096). Lines starting with '#' are comments. `iommu=off` alone on a line leaves out
/sys/kernel/iommu_groups; `iommu=empty` makes it empty. Host state, for the guard:
  block NAME ADDRESS MAJ:MIN [part-of=DISK]   a disk (or partition) on a PCI controller
  dm NAME MAJ:MIN SLAVE[,SLAVE]               a device-mapper or md device over others
  mount POINT MAJ:MIN FSTYPE SOURCE           a line of /proc/self/mountinfo
  net IFACE ADDRESS|virtual [lower=A,B]       a network interface (bridge, bond, VLAN: lower=)
  route4 IFACE / route6 IFACE                 a default route
  input N NAME ADDRESS|platform keyboard|mouse  /sys/class/input/inputN
  fb NAME ADDRESS / fbcon                     a framebuffer of a PCI device / fbcon bound
  driver NAME                                 a loaded driver with no device (vfio-pci)
  node N CPULIST                              a NUMA node and its CPUs (0-7,16-23); devices
                                              with numa=N get it as their local_cpulist
  hugepages N SIZE-KB FREE                    free huge pages of a size on node N (and the total)
  siblings CPULIST                            SMT threads of one core (0,16): each CPU's
                                              topology/thread_siblings_list
  variant MODULE VVVV:DDDD                    a vfio-pci variant driver for those ids: a module
                                              whose .modinfo has the vfio_pci: alias, in the
                                              tree's /lib/modules, indexed by depmod
  usb PORT VVVV:PPPP CONTROLLER [key=value]   a USB device (1-2.3) under a PCI controller (peer=B-P:
                                              its port's other half, USB 2 / USB 3); keys
                                              serial, manufacturer, product (',' for spaces),
                                              speed, class, driver, tty (ttyUSB0)

Listings say nothing of drivers, reset methods or topology, so the builder assumes: no
driver; `flr bus` reset for endpoints (ls-iommu listings mark resettable devices with [R]);
the first VGA device is boot_vga; a bus hangs under the bridge that shares its group, else
the nearest unassigned bridge upstream (see assign_parents).
"""
import os
import subprocess
import re
import struct
import sys

ADDR = r"(?:[0-9a-fA-F]{4,5}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"
GROUP_RE = re.compile(r"^\s*(?:IOMMU\s+)?group\s+(\d+)\s*:?\s*(.*)$", re.I)
LSPCI_RE = re.compile(
    r"^(?:\(\d+\)\s*)?(" + ADDR + r")\s+(.*?)\s*\[([0-9a-fA-F]{4})\]:\s+(.*?)\s*"
    r"\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\](?:\s*\(rev ([0-9a-fA-F]{2})\))?\s*$")
LSIOMMU_RE = re.compile(
    r"^\[([0-9a-fA-F]{4}):([0-9a-fA-F]{4})\]\s+(\[R\]\s+)?(" + ADDR + r")\s+(.+?)\s{2,}(.*)$")
DRIVER_RE = re.compile(r"^\s*Kernel driver in use:\s*(\S+)\s*$")


class FixtureError(Exception):
    pass


def norm_addr(a):
    a = a.lower()
    return a if a.count(":") == 2 else "0000:" + a


def key(addr):
    dom, bus, rest = addr.split(":")
    slot, fn = rest.split(".")
    return (int(dom, 16), int(bus, 16), int(slot, 16), int(fn))


def class_names():
    """Subclass name -> 16-bit class code, from pci.ids (for listings that give names only)."""
    names = {}
    for path in ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"):
        if not os.path.exists(path):
            continue
        base = None
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"^C ([0-9a-f]{2})\s+(.*)$", line)
                if m:
                    base = int(m.group(1), 16)
                    continue
                m = re.match(r"^\t([0-9a-f]{2})\s+(.*)$", line)
                if base is not None and m:
                    names.setdefault(m.group(2).strip().lower(), (base << 8) | int(m.group(1), 16))
                elif not line.startswith("\t") and not line.startswith("#") and line.strip():
                    base = None
        return names
    raise FixtureError("pci.ids not found (Debian package pciutils)")


def parse_listing(text, source="listing"):
    """Returns a list of device dicts: addr, vendor, device, cls (24 bits), rev, group, ..."""
    devices, group, names = [], None, None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#") or line.startswith("USB:"):
            continue
        m = GROUP_RE.match(line)
        if m:
            group, line = int(m.group(1)), m.group(2)
            if not line:
                continue
        line = line.strip()
        d = DRIVER_RE.match(line)
        if d:
            if not devices:
                raise FixtureError(f"{source}:{n}: driver line before any device")
            devices[-1]["driver"] = d.group(1)
            continue
        if re.match(r"^(Subsystem|Kernel modules):", line):
            continue
        if group is None:
            raise FixtureError(f"{source}:{n}: device line outside an IOMMU group: {line!r}")
        m = LSPCI_RE.match(line)
        if m:
            addr, _cname, cls, _name, ven, dev, rev = m.groups()
            devices.append(dict(addr=norm_addr(addr), vendor=int(ven, 16), device=int(dev, 16),
                                cls=int(cls, 16) << 8, rev=int(rev or "0", 16), group=group))
            continue
        m = LSIOMMU_RE.match(line)
        if m:
            ven, dev, resettable, addr, cname, _name = m.groups()
            names = names or class_names()
            code = names.get(cname.strip().lower())
            if code is None:
                raise FixtureError(f"{source}:{n}: unknown class name {cname.strip()!r}")
            devices.append(dict(addr=norm_addr(addr), vendor=int(ven, 16), device=int(dev, 16),
                                cls=code << 8, rev=0, group=group,
                                reset_method="flr" if resettable else ""))
            continue
        raise FixtureError(f"{source}:{n}: cannot parse {line!r}")
    seen = set()
    for d in devices:
        if d["addr"] in seen:
            raise FixtureError(f"{source}: {d['addr']} listed twice")
        seen.add(d["addr"])
    return devices


HOST_WORDS = ("block", "dm", "mount", "net", "route4", "route6", "input", "fb", "fbcon", "driver", "usb", "node",
              "hugepages", "siblings", "variant")


def parse_spec(text, source="spec"):
    """Returns (devices, iommu, host): host is the list of host-state lines, split."""
    devices, iommu, host = [], "auto", []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("iommu="):
            iommu = line.split("=", 1)[1]
            continue
        if line.split()[0] in HOST_WORDS:
            host.append(line.split())
            continue
        words = line.split()
        if len(words) < 3 or not re.match(r"^[0-9a-f]{4}:[0-9a-f]{4}$", words[1]):
            raise FixtureError(f"{source}:{n}: expected ADDRESS VVVV:DDDD CLASS, got {line!r}")
        ven, dev = words[1].split(":")
        d = dict(addr=norm_addr(words[0]), vendor=int(ven, 16), device=int(dev, 16),
                 cls=int(words[2], 16), rev=0, group=None)
        for word in words[3:]:
            k, _, v = word.partition("=")
            if k in ("group", "numa", "totalvfs", "boot_vga"):
                d[k] = int(v)
            elif k == "rev":
                d["rev"] = int(v, 16)
            elif k == "subsys":
                d["subsys"] = tuple(int(x, 16) for x in v.split(":"))
            elif k == "reset_method":
                d[k] = "" if v == "-" else v.replace(",", " ")
            elif k == "cfg":
                d[k] = int(v)
            elif k in ("pcie", "acs", "uevent", "rom"):
                d[k] = v
            elif k in ("link", "maxlink"):
                width, _, speed = v.partition("x")
                d[k] = (int(width), speed)
            elif k in ("driver", "parent", "physfn", "override"):
                d[k] = norm_addr(v) if k in ("parent", "physfn") else v
            else:
                raise FixtureError(f"{source}:{n}: unknown key {k!r}")
        devices.append(d)
    return devices, iommu, host


def is_bridge(d):
    return d["cls"] >> 8 in (0x0604, 0x0609, 0x0607)


def assign_parents(devices):
    """Gives every bus an upstream bridge: the one in the same group as the bus's devices (a
    root port and its endpoint share a group without ACS), else the nearest unassigned one."""
    by_addr = {d["addr"]: d for d in devices}
    bridges = sorted((d for d in devices if is_bridge(d)), key=lambda d: key(d["addr"]))
    taken = {}
    buses = {}
    for d in devices:
        dom, bus = key(d["addr"])[:2]
        buses.setdefault((dom, bus), []).append(d)
    root_bus = {}
    for dom, bus in sorted(buses):
        root_bus.setdefault(dom, bus)
    for (dom, bus), members in sorted(buses.items()):
        explicit = [d["parent"] for d in members if d.get("parent")]
        if explicit:
            parent = by_addr.get(explicit[0])
            if parent is None:
                raise FixtureError(f"parent {explicit[0]} of bus {dom:04x}:{bus:02x} is not listed")
        elif bus == root_bus[dom]:
            parent = None
        else:
            candidates = [b for b in bridges if key(b["addr"])[0] == dom
                          and key(b["addr"])[1] < bus and b["addr"] not in taken]
            groups = {d["group"] for d in members}
            same = [b for b in candidates if b["group"] is not None and b["group"] in groups]
            pool = same or candidates
            pool.sort(key=lambda b: (-key(b["addr"])[1], key(b["addr"])[2:]))
            parent = pool[0] if pool else None
        if parent is not None:
            taken[parent["addr"]] = (dom, bus)
        for d in members:
            d["parent"] = parent["addr"] if parent else None
    for d in devices:
        if d["addr"] in taken:
            d["secondary"] = taken[d["addr"]][1]
    # Subordinate bus: the highest bus below.
    for d in devices:
        d.setdefault("subordinate", d.get("secondary", 0))
    for d in devices:
        p = d["parent"]
        bus = key(d["addr"])[1]
        while p:
            pb = by_addr[p]
            pb["subordinate"] = max(pb["subordinate"], bus)
            p = pb["parent"]


PCIE_TYPES = {"endpoint": 0, "legacy": 1, "root": 4, "upstream": 5, "downstream": 6,
              "pci-bridge": 7, "rciep": 9}
ACS_BITS = {"SV": 0x01, "TB": 0x02, "RR": 0x04, "CR": 0x08, "UF": 0x10}
ACS_CAP = 0x1f  # SV TB RR CR UF


def default_pcie(d, devices_by_bus, root_buses):
    """What a listing does not say: root ports on root buses, switch ports below them."""
    dom, bus = key(d["addr"])[:2]
    on_root_bus = root_buses.get(dom) == bus
    if not is_bridge(d):
        return "rciep" if on_root_bus else "endpoint"
    if on_root_bus:
        return "root"
    below = devices_by_bus.get((dom, d.get("secondary")), [])
    return "upstream" if below and all(is_bridge(b) for b in below) else "downstream"


def default_acs(d, pcie, groups):
    """A port alone in its group has ACS on; one that shares it (with what is below it,
    as Intel's PEG ports do) has none, which is what made the kernel group them."""
    if pcie not in ("root", "downstream"):
        return "none"
    return "on" if d["group"] is not None and groups.get(d["group"]) == [d] else "none"


def config_space(d, multifunction):
    cfg = bytearray(4096)
    header = 1 if is_bridge(d) and d["cls"] >> 8 != 0x0607 else (2 if d["cls"] >> 8 == 0x0607 else 0)
    # An SR-IOV VF's vendor and device read ffff (the kernel takes them from the PF's capability).
    struct.pack_into("<HH", cfg, 0, *((0xffff, 0xffff) if d.get("physfn") else (d["vendor"], d["device"])))
    struct.pack_into("<H", cfg, 4, 0x0007)
    cfg[8] = d["rev"]
    cfg[9], cfg[10], cfg[11] = d["cls"] & 0xff, (d["cls"] >> 8) & 0xff, d["cls"] >> 16
    cfg[0x0e] = header | (0x80 if multifunction else 0)
    if header == 0:
        sv, sd = d.get("subsys", (d["vendor"], d["device"]))
        struct.pack_into("<HH", cfg, 0x2c, sv, sd)
    elif header == 1:
        cfg[0x18] = key(d["addr"])[1]
        cfg[0x19] = d.get("secondary", 0)
        cfg[0x1a] = d.get("subordinate", 0)
    pcie = d.get("pcie", "none")
    if pcie != "none":
        struct.pack_into("<H", cfg, 6, 0x0010)  # capability list
        cfg[0x34] = 0x40
        cfg[0x40], cfg[0x41] = 0x10, 0x00
        struct.pack_into("<H", cfg, 0x42, 0x0002 | PCIE_TYPES[pcie] << 4)
        acs = d.get("acs", "none")
        if acs != "none":
            ctrl = {"on": 0x1d, "off": 0}.get(acs)
            if ctrl is None:
                ctrl = sum(ACS_BITS[f] for f in acs.split("+"))
            struct.pack_into("<IHH", cfg, 0x100, 0x000d | 1 << 16, ACS_CAP, ctrl)
    else:
        cfg = cfg[:256]
    return bytes(cfg[:d.get("cfg", len(cfg))])


def uevent(d, sv, sd):
    """The device's uevent as the kernel writes it (drivers/pci/pci-driver.c, pci_uevent)."""
    lines = [f"DRIVER={d['driver']}"] if d.get("driver") else []
    lines += [f"PCI_CLASS={d['cls']:04X}", f"PCI_ID={d['vendor']:04X}:{d['device']:04X}",
              f"PCI_SUBSYS_ID={sv:04X}:{sd:04X}", f"PCI_SLOT_NAME={d['addr']}",
              f"MODALIAS=pci:v{d['vendor']:08X}d{d['device']:08X}sv{sv:08X}sd{sd:08X}"
              f"bc{d['cls'] >> 16:02X}sc{(d['cls'] >> 8) & 0xff:02X}i{d['cls'] & 0xff:02X}"]
    return "\n".join(lines) + "\n"


def write(path, data, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


def link(target, name):
    """A relative link as the kernel writes it: up to the target's parent, then the target
    ("../../../0000:01:00.0" even where "../.." would do)."""
    os.makedirs(os.path.dirname(name), exist_ok=True)
    up = os.path.relpath(os.path.dirname(target), os.path.dirname(name))
    os.symlink(os.path.join(up, os.path.basename(target)), name)


def make_driver(path):
    """A driver's directory with its bind and unbind files (tests/kemu.c acts on writes)."""
    os.makedirs(path, exist_ok=True)
    for name in ("bind", "unbind"):
        if not os.path.exists(os.path.join(path, name)):
            write(os.path.join(path, name), "")


def build_host(host, root, paths):
    """/proc and /sys entries the guard reads: disks, mounts, interfaces, routes, inputs."""
    sys_ = os.path.join(root, "sys")
    mounts, routes4, routes6 = [], [], []
    disks = {}
    for words in host:
        kind = words[0]
        if kind == "block":
            name, addr, majmin = words[1:4]
            opts = dict(w.split("=", 1) for w in words[4:])
            if "part-of" in opts:
                path = os.path.join(disks[opts["part-of"]], name)
            else:
                path = os.path.join(paths[norm_addr(addr)], "host0", "target0:0:0", "0:0:0:0", "block", name)
            disks[name] = path
            write(os.path.join(path, "dev"), majmin + "\n")
            link(path, os.path.join(sys_, "class", "block", name))
            link(path, os.path.join(sys_, "dev", "block", majmin))
        elif kind == "dm":
            name, majmin, slaves = words[1:4]
            path = os.path.join(sys_, "devices", "virtual", "block", name)
            write(os.path.join(path, "dev"), majmin + "\n")
            for slave in slaves.split(","):
                link(disks[slave], os.path.join(path, "slaves", slave))
            disks[name] = path
            link(path, os.path.join(sys_, "class", "block", name))
            link(path, os.path.join(sys_, "dev", "block", majmin))
        elif kind == "mount":
            point, majmin, fstype, source = words[1:5]
            mounts.append(f"{len(mounts) + 20} 1 {majmin} / {point} rw,relatime shared:1 - {fstype} {source} rw\n")
        elif kind == "net":
            iface, addr = words[1:3]
            opts = dict(w.split("=", 1) for w in words[3:])
            base = os.path.join(sys_, "devices", "virtual") if addr == "virtual" else paths[norm_addr(addr)]
            path = os.path.join(base, "net", iface)
            write(os.path.join(path, "ifindex"), "1\n")
            for lower in filter(None, opts.get("lower", "").split(",")):
                link(os.path.join(sys_, "class", "net", lower), os.path.join(path, "lower_" + lower))
            link(path, os.path.join(sys_, "class", "net", iface))
        elif kind == "route4":
            routes4.append(f"{words[1]}\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n")
        elif kind == "route6":
            routes6.append("0" * 32 + " 00 " + "0" * 32 + " 00 fe800000000000000000000000000001 "
                           f"00000400 00000001 00000000 00000003 {words[1]:>8}\n")
        elif kind == "input":
            number, name, addr, what = words[1:5]
            base = os.path.join(sys_, "devices", "platform", "i8042", "serio0") if addr == "platform" \
                else os.path.join(paths[norm_addr(addr)], "usb1", "1-1", "1-1:1.0")
            path = os.path.join(base, "input", "input" + number)
            write(os.path.join(path, "name"), name.replace("_", " ") + "\n")
            keyboard = what == "keyboard"
            write(os.path.join(path, "capabilities", "ev"), ("120013" if keyboard else "17") + "\n")
            write(os.path.join(path, "capabilities", "key"),
                  ("1000000000007 ff9f207ac14057ff febeffdfffefffff fffffffffffffffe" if keyboard
                   else "1f0000 0 0 0 0") + "\n")
            link(path, os.path.join(sys_, "class", "input", "input" + number))
        elif kind == "fb":
            name, addr = words[1:3]
            path = os.path.join(paths[norm_addr(addr)], "graphics", name)
            write(os.path.join(path, "dev"), "29:0\n")
            link(paths[norm_addr(addr)], os.path.join(path, "device"))
            link(path, os.path.join(sys_, "class", "graphics", name))
        elif kind == "driver":
            make_driver(os.path.join(sys_, "bus", "pci", "drivers", words[1]))
        elif kind == "usb":
            port, ids, controller = words[1:4]
            opts = dict(w.split("=", 1) for w in words[4:])
            bus = port.split("-")[0]
            vendor, product = ids.split(":")
            path = os.path.join(paths[norm_addr(controller)], "usb" + bus, port)
            attrs = {"idVendor": vendor, "idProduct": product, "busnum": bus, "devnum": opts.get("devnum", "2"),
                     "speed": opts.get("speed", "12"), "bDeviceClass": "00"}
            for k in ("serial", "manufacturer", "product"):
                if k in opts:
                    attrs[k] = opts[k].replace(",", " ")
            for k, v in attrs.items():
                write(os.path.join(path, k), v + "\n")
            intf = os.path.join(path, port + ":1.0")
            write(os.path.join(intf, "bInterfaceClass"), opts.get("class", "ff") + "\n")
            if "driver" in opts:
                drv = os.path.join(sys_, "bus", "usb", "drivers", opts["driver"])
                os.makedirs(drv, exist_ok=True)
                link(drv, os.path.join(intf, "driver"))
            if "tty" in opts:
                os.makedirs(os.path.join(intf, opts["tty"], "tty", opts["tty"]), exist_ok=True)
            link(path, os.path.join(sys_, "bus", "usb", "devices", port))
            link(intf, os.path.join(sys_, "bus", "usb", "devices", port + ":1.0"))
            if "peer" in opts:
                # the port it is plugged into and that port's other half (USB 2 / USB 3), as the
                # kernel links them: DEVICE/port and PORT/peer
                def port_dir(p):
                    b, rest = p.split("-", 1)
                    if "." in rest:
                        hub, n = p.rsplit(".", 1)
                        return os.path.join(paths[norm_addr(controller)], "usb" + b, hub, hub + ":1.0", f"{hub}-port{n}")
                    return os.path.join(paths[norm_addr(controller)], "usb" + b, f"{b}-0:1.0", f"usb{b}-port{rest}")
                mine, other = port_dir(port), port_dir(opts["peer"])
                os.makedirs(mine, exist_ok=True)
                os.makedirs(other, exist_ok=True)
                link(mine, os.path.join(path, "port"))
                link(other, os.path.join(mine, "peer"))
        elif kind == "node":
            # a NUMA node and its CPUs; the devices on it (numa=N) list them as their local_cpulist
            number, cpus = words[1:3]
            write(os.path.join(sys_, "devices", "system", "node", f"node{number}", "cpulist"), cpus + "\n")
            for addr, p in paths.items():
                if os.path.exists(os.path.join(p, "numa_node")):
                    with open(os.path.join(p, "numa_node")) as f:
                        if f.read().strip() == number:
                            write(os.path.join(p, "local_cpulist"), cpus + "\n")
        elif kind == "variant":
            # a vfio-pci variant driver: the kernel's convention is a vfio_pci: alias in its modinfo
            module, ids = words[1:3]
            vendor, device = (int(x, 16) for x in ids.split(":"))
            release_file = os.path.join(root, "proc", "sys", "kernel", "osrelease")
            if not os.path.exists(release_file):
                write(release_file, "6.1.0-fixture\n")
            release = open(release_file).read().strip()
            mdir = os.path.join(root, "lib", "modules", release)
            src = os.path.join(mdir, f"{module}.c")
            info = [f"alias=vfio_pci:v{vendor:08X}d{device:08X}sv*sd*bc*sc*i*", f"name={module}", "depends=", "license=GPL"]
            write(src, "".join(f'__attribute__((section(".modinfo"), used)) static const char m{i}[] = "{t}";\n'
                               for i, t in enumerate(info)))
            os.makedirs(os.path.join(mdir, "kernel"), exist_ok=True)
            subprocess.run(["cc", "-c", "-o", os.path.join(mdir, "kernel", module.replace("_", "-") + ".ko"), src],
                           check=True)
            os.unlink(src)
            for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
                if not os.path.exists(os.path.join(mdir, f)):
                    write(os.path.join(mdir, f), "")
            subprocess.run(["depmod", "-b", root, release], check=True)
        elif kind == "siblings":
            # SMT threads of one core, as the kernel lists them for each
            cpus = []
            for part in words[1].split(","):
                a, _, b = part.partition("-")
                cpus += range(int(a), int(b or a) + 1)
            for c in cpus:
                write(os.path.join(sys_, "devices", "system", "cpu", f"cpu{c}", "topology", "thread_siblings_list"),
                      words[1] + "\n")
        elif kind == "hugepages":
            # free huge pages of a size on a node, and the host's total of that size
            number, kb, free = words[1:4]
            d = os.path.join(sys_, "devices", "system", "node", f"node{number}", "hugepages", f"hugepages-{kb}kB")
            write(os.path.join(d, "free_hugepages"), free + "\n")
            total = os.path.join(sys_, "kernel", "mm", "hugepages", f"hugepages-{kb}kB", "free_hugepages")
            before = int(open(total).read()) if os.path.exists(total) else 0
            write(total, f"{before + int(free)}\n")
        elif kind == "fbcon":
            path = os.path.join(sys_, "devices", "virtual", "vtconsole", "vtcon1")
            write(os.path.join(path, "name"), "(M) frame buffer device\n")
            write(os.path.join(path, "bind"), "1\n")
            link(path, os.path.join(sys_, "class", "vtconsole", "vtcon1"))
    write(os.path.join(root, "proc", "self", "mountinfo"), "".join(mounts))
    write(os.path.join(root, "proc", "net", "route"),
          "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" + "".join(routes4))
    write(os.path.join(root, "proc", "net", "ipv6_route"), "".join(routes6))


def build(devices, root, iommu="auto", host=()):
    """Writes the tree under root (which must not exist or be empty)."""
    os.makedirs(os.path.join(root, "run"), exist_ok=True)
    sys_ = os.path.join(root, "sys")
    assign_parents(devices)
    by_addr = {d["addr"]: d for d in devices}
    paths = {}

    def path_of(d):
        if d["addr"] not in paths:
            if d["parent"]:
                base = path_of(by_addr[d["parent"]])
            else:
                dom, bus = key(d["addr"])[:2]
                base = os.path.join(sys_, "devices", f"pci{dom:04x}:{bus:02x}")
            paths[d["addr"]] = os.path.join(base, d["addr"])
        return paths[d["addr"]]

    slots = {}
    for d in devices:
        slots.setdefault(d["addr"][:-2], []).append(d)
    vga = sorted((d for d in devices if d["cls"] >> 8 == 0x0300), key=lambda d: key(d["addr"]))
    by_bus, groups, root_buses = {}, {}, {}
    for d in sorted(devices, key=lambda d: key(d["addr"])):
        dom, bus = key(d["addr"])[:2]
        by_bus.setdefault((dom, bus), []).append(d)
        groups.setdefault(d["group"], []).append(d)
        root_buses.setdefault(dom, bus)
    for d in devices:
        d.setdefault("pcie", default_pcie(d, by_bus, root_buses))
        d.setdefault("acs", default_acs(d, d["pcie"], groups))
    groups_on = iommu != "off" and (iommu == "empty" or any(d["group"] is not None for d in devices))
    groups_dir = os.path.join(sys_, "kernel", "iommu_groups")
    if groups_on:
        os.makedirs(groups_dir, exist_ok=True)
    os.makedirs(os.path.join(sys_, "bus", "pci", "devices"), exist_ok=True)
    os.makedirs(os.path.join(sys_, "bus", "pci", "drivers"), exist_ok=True)
    write(os.path.join(sys_, "bus", "pci", "drivers_probe"), "")
    for d in sorted(devices, key=lambda d: key(d["addr"])):
        p = path_of(d)
        os.makedirs(p, exist_ok=True)
        sv, sd = d.get("subsys", (d["vendor"], d["device"]))
        for name, value in (("vendor", f"0x{d['vendor']:04x}"), ("device", f"0x{d['device']:04x}"),
                            ("subsystem_vendor", f"0x{sv:04x}"), ("subsystem_device", f"0x{sd:04x}"),
                            ("class", f"0x{d['cls']:06x}"), ("revision", f"0x{d['rev']:02x}"),
                            ("numa_node", str(d.get("numa", -1))), ("irq", "0"),
                            ("driver_override", d.get("override", "(null)")),
                            ("modalias", f"pci:v{d['vendor']:08X}d{d['device']:08X}sv{sv:08X}sd{sd:08X}"
                                         f"bc{d['cls'] >> 16:02X}sc{(d['cls'] >> 8) & 0xff:02X}i{d['cls'] & 0xff:02X}")):
            write(os.path.join(p, name), value + "\n")
        if d.get("uevent", "yes") != "no":
            write(os.path.join(p, "uevent"), uevent(d, sv, sd))
        multifunction = len(slots[d["addr"][:-2]]) > 1
        write(os.path.join(p, "config"), config_space(d, multifunction), "wb")
        resource = ["0x0000000000000000 0x0000000000000000 0x0000000000000000\n"] * 13
        if d.get("rom"):
            # the image as the kernel's `rom` gives it, the ROM BAR sized (a power of two) for it
            with open(d["rom"], "rb") as f:
                image = f.read()
            write(os.path.join(p, "rom"), image, "wb")
            # kept for the kernel emulator: a write of 1 or 0 to `rom` leaves the image
            write(os.path.join(root, ".fixture-roms", d["addr"]), image, "wb")
            size = 1 << max(11, (len(image) - 1).bit_length())
            resource[6] = f"0x00000000fe000000 0x{0xfe000000 + size - 1:016x} 0x0000000000046200\n"
        write(os.path.join(p, "resource"), "".join(resource))
        if d["cls"] >> 8 == 0x0300:
            boot = d.get("boot_vga", 1 if d is vga[0] else 0)
            write(os.path.join(p, "boot_vga"), f"{boot}\n")
        reset = d.get("reset_method", None if is_bridge(d) else "flr bus")
        if reset:
            write(os.path.join(p, "reset_method"), reset + "\n")
            write(os.path.join(p, "reset"), "")
        if "secondary" in d:
            dom = key(d["addr"])[0]
            os.makedirs(os.path.join(p, "pci_bus", f"{dom:04x}:{d['secondary']:02x}"), exist_ok=True)
        if d.get("totalvfs"):
            write(os.path.join(p, "sriov_totalvfs"), f"{d['totalvfs']}\n")
        for k, prefix in (("link", "current"), ("maxlink", "max")):
            if k in d:
                # as the kernel prints them (drivers/pci/pci-sysfs.c): "8.0 GT/s PCIe", "16"
                write(os.path.join(p, f"{prefix}_link_speed"), f"{d[k][1]} GT/s PCIe\n")
                write(os.path.join(p, f"{prefix}_link_width"), f"{d[k][0]}\n")
        if d.get("physfn"):
            link(path_of(by_addr[d["physfn"]]), os.path.join(p, "physfn"))
            # and the PF's virtfnN links, numbered in address order as the kernel numbers them
            pf_dir = path_of(by_addr[d["physfn"]])
            n = sum(1 for f in os.listdir(pf_dir) if f.startswith("virtfn"))
            link(p, os.path.join(pf_dir, f"virtfn{n}"))
        link(p, os.path.join(sys_, "bus", "pci", "devices", d["addr"]))
        if d.get("driver"):
            drv = os.path.join(sys_, "bus", "pci", "drivers", d["driver"])
            make_driver(drv)
            link(drv, os.path.join(p, "driver"))
            link(p, os.path.join(drv, d["addr"]))
        if groups_on and iommu != "empty" and d["group"] is not None:
            g = os.path.join(groups_dir, str(d["group"]))
            if not os.path.exists(g):
                write(os.path.join(g, "type"), "DMA\n")
            link(p, os.path.join(g, "devices", d["addr"]))
            link(g, os.path.join(p, "iommu_group"))
    build_host(host, root, paths)
    return paths


def generate(n):
    """A host of n functions: a host bridge, then root ports each holding an SR-IOV NIC with
    63 VFs, every function in its own group (the first of every eight ports a GPU with its audio, one group):
    the shape of hosts with thousands of functions. Past 240 ports a domain, the next domain
    (as on hosts with several PCI segments)."""
    devices = [dict(addr="0000:00:00.0", vendor=0x8086, device=0x3ec2, cls=0x060000, rev=7, group=0)]
    group, port = 1, 0
    while len(devices) < n:
        dom, index = divmod(port, 240)
        bus = index + 1
        slot, fn = divmod(index, 8)
        port += 1
        devices.append(dict(addr=f"{dom:04x}:00:{slot + 1:02x}.{fn}", vendor=0x8086, device=0x1901,
                            cls=0x060400, rev=7, group=group, driver="pcieport"))
        if bus % 8 == 1:
            for f, (dev, cls, drv) in enumerate(((0x2204, 0x030000, "nouveau"), (0x1aef, 0x040300, "snd_hda_intel"))):
                devices.append(dict(addr=f"{dom:04x}:{bus:02x}:00.{f}", vendor=0x10de, device=dev, cls=cls, rev=0xa1,
                                    group=group + 1, driver=drv, boot_vga=0))
            group += 2
            continue
        pf = f"{dom:04x}:{bus:02x}:00.0"
        devices.append(dict(addr=pf, vendor=0x8086, device=0x1572, cls=0x020000, rev=1,
                            group=group + 1, driver="i40e", totalvfs=63))
        group += 2
        for vf in range(1, 64):
            vslot, vfn = divmod(vf, 8)
            devices.append(dict(addr=f"{dom:04x}:{bus:02x}:{vslot:02x}.{vfn}", vendor=0x8086,
                                device=0x154c, cls=0x020000, rev=1, group=group,
                                driver="iavf", physfn=pf))
            group += 1
    return devices[:n]


def main(argv):
    if len(argv) == 4 and argv[1] == "--spec":
        with open(argv[2]) as f:
            devices, iommu, host = parse_spec(f.read(), argv[2])
        build(devices, argv[3], iommu, host)
    elif len(argv) == 4 and argv[1] == "--generate":
        build(generate(int(argv[2])), argv[3])
    elif len(argv) == 3:
        with open(argv[1]) as f:
            build(parse_listing(f.read(), argv[1]), argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except FixtureError as e:
        sys.stderr.write(f"mkfixture: {e}\n")
        sys.exit(1)
