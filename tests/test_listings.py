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


# What a listing says of a device, in the JSON report; the rest (topology, config space, boot
# VGA, reset methods, subsystem ids) a listing cannot say, and the tree's builder assumes.
LISTING_SAYS = ("address", "vendor_id", "device_id", "class", "revision", "vendor_name", "device_name",
                "class_name", "kind", "driver", "iommu_group", "verdict", "passthrough_set")


def device_lines(text):
    """Each device's first line (as lspci -nn says it) and its verdict, from the text report."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.startswith("  0") or line.startswith("  1"):
            out.append((line, lines[i + 1].split("; ")[1]))
    return out


@test(timeout=240)
def listing_report_equals_the_trees_report(tmp):
    from harness import LISTINGS, PTLUA, TOP
    for name in listings():
        path = os.path.join(LISTINGS, name)
        root = build_listing(name, os.path.join(tmp, name))
        tree = report_json(root)
        p = run([PTLUA, "scripts/report.lua", "--listing", path, "--json"], check=0, cwd=TOP)
        import json
        got = json.loads(p.stdout)
        eq((got["listing"], got["iommu"], got["warnings"]), (path, True, []), f"{name}: the listing's report")
        contains_all = "topology behind bridges" in got["cannot_show"]
        assert contains_all, got["cannot_show"]
        sets = {g["number"]: g["passthrough_set"] for g in got["groups"]}
        for d in got["devices"]:
            d["passthrough_set"] = sets[d["iommu_group"]] if d["verdict"] not in ("bridge",) else []
        eq([{k: d[k] for k in LISTING_SAYS} for d in got["devices"]],
           [{k: d[k] for k in LISTING_SAYS} for d in tree["devices"]], f"{name}: devices")
        eq([{k: g[k] for k in ("number", "devices", "passthrough_set")} for g in got["groups"]],
           [{k: g[k] for k in ("number", "devices", "passthrough_set")} for g in tree["groups"]], f"{name}: groups")
        text = run([PTLUA, "scripts/report.lua", "--listing", path], check=0, cwd=TOP).stdout
        eq(device_lines(text), device_lines(run([PTLUA, "--root", root, "scripts/report.lua"], check=0, cwd=TOP).stdout),
           f"{name}: the text report's device lines and verdicts")
        assert text.splitlines()[-1].startswith("Note: a listing shows groups"), text.splitlines()[-1]


@test()
def listing_that_is_not_one_is_refused_by_line(tmp):
    from harness import PTLUA, TOP, contains
    cases = {
        "01:00.0 VGA compatible controller [0300]: NVIDIA [10de:1b81]\n":
            "x.txt:1: a device line outside an IOMMU group",
        "IOMMU Group 1 01:00.0 VGA [0300]: NVIDIA [10de:1b81]\nIOMMU Group 2 01:00.0 VGA [0300]: X [10de:1b82]\n":
            "x.txt:2: 0000:01:00.0 is listed twice (first on line 1)",
        "IOMMU Group 1:\n\thello world\n": "x.txt:2: neither an `lspci -nns` nor an ls-iommu device line: hello world",
        "# nothing\n": "x.txt: no device lines",
        "Group 1: [10de:1b81] 01:00.0  Flux capacitor  X\n": "x.txt:1: neither",
        "IOMMU Group 1 01:00.0 VGA [0300]: \x1b[31mX [10de:1b81] (rev zz)\n": "x.txt:1: neither",
    }
    for text, want in cases.items():
        path = os.path.join(tmp, "x.txt")
        with open(path, "w") as f:
            f.write(text)
        p = run([PTLUA, "scripts/report.lua", "--listing", "x.txt"], cwd=tmp if False else TOP)
        p = run([PTLUA, os.path.join(TOP, "scripts/report.lua"), "--listing", "x.txt"], cwd=tmp)
        eq(p.returncode, 1, repr(text))
        contains(p.stderr, want, repr(text))
        assert "\x1b" not in p.stderr, p.stderr
