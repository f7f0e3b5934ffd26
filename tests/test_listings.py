"""Every shared listing, built into a tree: the JSON report says what the listing implies."""
import os

from harness import build_listing, eq, listing_devices, listings, report_json, run, test
import mkfixture


def implied(devices):
    """Sets and verdicts as the rule reads: bridges and driverless class-0x06 devices stay with
    the host (verdict bridge, no set); the others' set is their group less those."""
    groups = {}
    for d in devices:
        groups.setdefault(d["group"], []).append(d)

    def stays(m):
        return mkfixture.is_bridge(m) or (m["cls"] >> 16 == 0x06 and not m.get("driver"))
    out = {}
    for d in devices:
        if stays(d):
            out[d["addr"]] = ("bridge", [])
            continue
        members = sorted((m["addr"] for m in groups[d["group"]] if not stays(m)), key=mkfixture.key)
        if len(members) == 1:
            verdict = "isolated"
        elif all(m[:-2] == d["addr"][:-2] for m in members):
            verdict = "with-companions"
        else:
            verdict = "shared"
        out[d["addr"]] = (verdict, members)
    return out


def check_listing(name, tmp):
    devices = listing_devices(name)
    report = report_json(build_listing(name, os.path.join(tmp, "root")))
    eq(report["iommu"], True, f"{name}: iommu")
    eq(report["warnings"], [], f"{name}: warnings")
    got = {d["address"]: d for d in report["devices"]}
    eq(sorted(got, key=mkfixture.key), sorted((d["addr"] for d in devices), key=mkfixture.key),
       f"{name}: addresses")
    want = implied(devices)
    for d in devices:
        g = got[d["addr"]]
        where = f"{name}: {d['addr']}"
        eq((g["vendor_id"], g["device_id"]), (f"{d['vendor']:04x}", f"{d['device']:04x}"), where + " ids")
        eq(g["class"][:4], f"{d['cls'] >> 8:04x}", where + " class")
        eq(g["iommu_group"], d["group"], where + " group")
        eq((g["verdict"], g["passthrough_set"]), want[d["addr"]], where + " verdict and set")
    groups = {}
    for d in devices:
        groups.setdefault(d["group"], []).append(d["addr"])
    eq({g["number"]: g["devices"] for g in report["groups"]},
       {n: sorted(a, key=mkfixture.key) for n, a in groups.items()}, f"{name}: groups")
    return got


for _name in listings():
    test(f"listing-{_name[:-4]}")(lambda tmp, n=_name: check_listing(n, tmp))


# What a user reads off these machines, stated by hand.
KNOWN = {
    "01-intel-z370-coffeelake-gt1030.txt": {
        "0000:01:00.0": ("with-companions", ["0000:01:00.0", "0000:01:00.1"]),
        "0000:05:00.0": ("isolated", ["0000:05:00.0"]),
        "0000:00:01.0": ("bridge", []),
    },
    "13-msi-b450m-mortar-big-chipset-group.txt": {
        "0000:18:00.0": ("shared", ["0000:15:00.0", "0000:15:00.1", "0000:18:00.0"]),
        "0000:39:00.0": ("isolated", ["0000:39:00.0"]),
        "0000:38:00.1": ("with-companions", ["0000:38:00.1", "0000:38:00.2", "0000:38:00.3",
                                             "0000:38:00.4", "0000:38:00.6"]),
    },
    "07-lenovo-m75s-renoir-before-acs.txt": {
        "0000:07:00.0": ("shared", None),
    },
    "08-lenovo-m75s-renoir-acs-override.txt": {
        "0000:07:00.0": ("isolated", ["0000:07:00.0"]),
    },
    "21-asus-x670e-i-am5-usb-listing-format.txt": {
        "0000:01:00.0": ("with-companions", ["0000:01:00.0", "0000:01:00.1"]),
        "0000:07:00.0": ("shared", None),
    },
}


@test()
def listing_known_verdicts(tmp):
    for name, cases in KNOWN.items():
        report = report_json(build_listing(name, os.path.join(tmp, name)))
        got = {d["address"]: d for d in report["devices"]}
        for addr, (verdict, members) in cases.items():
            eq(got[addr]["verdict"], verdict, f"{name}: {addr} verdict")
            if members is not None:
                eq(got[addr]["passthrough_set"], members, f"{name}: {addr} set")
    eq(got["0000:01:00.0"]["class"], "030000", "class from an ls-iommu class name")


@test()
def listing_lspci_agrees(tmp):
    """lspci, through libpci forced to the same tree, sees the same devices and ids."""
    name = "17-dual-xeon-e5-c602-aspeed-3gpu.txt"
    root = build_listing(name, os.path.join(tmp, "root"))
    p = run(["lspci", "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", "-nD"], check=0)
    lspci = {}
    for line in p.stdout.splitlines():
        addr, cls, ids = line.split()[:3]
        lspci[addr] = (cls.rstrip(":"), ids)
    report = report_json(root)
    ours = {d["address"]: (d["class"][:4], f"{d['vendor_id']}:{d['device_id']}") for d in report["devices"]}
    eq(ours, lspci, "report vs lspci -nD")
