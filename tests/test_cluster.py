"""A Proxmox cluster through pmxcfs (lua/pt/cluster.lua): nodes publish their reports under
/etc/pve/nodes, mappings come from the published reports alone, lint finds what would fail at
VM start on some node; other nodes' reports are hostile input."""
import json
import os
import shutil
import time

from harness import build_spec, contains, eq, ptlua, test

GPU = """
0000:00:01.0 8086:1901 060400 group=1 driver=pcieport
0000:01:00.0 10de:1b81 030000 group=2 driver=nouveau subsys=1458:3772 boot_vga=0
0000:01:00.1 10de:10f0 040300 group=2 driver=snd_hda_intel subsys=1458:3772
"""


def node(tmp, name, spec=GPU):
    root = build_spec(spec, os.path.join(tmp, name))
    for n in ("pve1", "pve2", "pve3"):
        os.makedirs(os.path.join(root, "etc/pve/nodes", n))
    with open(os.path.join(root, "etc/hostname"), "w") as f:
        f.write(name + ".example.org\n")
    return root


def cluster(tmp):
    """pve1's tree, holding what pve2 and pve3 published (as pmxcfs shares /etc/pve)."""
    main = node(tmp, "pve1")
    for name, spec in (("pve2", GPU), ("pve3", GPU.replace("subsys=1458:3772", "subsys=1043:8598"))):
        root = node(tmp, name, spec)
        out = ptlua(["scripts/report.lua", "--publish"], root=root).stdout
        contains(out, f"published /etc/pve/nodes/{name}/libpt.json (", "published")
        shutil.copy(os.path.join(root, "etc/pve/nodes", name, "libpt.json"),
                    os.path.join(main, "etc/pve/nodes", name, "libpt.json"))
    return main


@test()
def cluster_publish_is_compact(tmp):
    root = node(tmp, "pve1")
    ptlua(["scripts/report.lua", "--publish"], root=root)
    with open(os.path.join(root, "etc/pve/nodes/pve1/libpt.json")) as f:
        r = json.load(f)
    eq((r["libpt"], r["node"], r["columns"][:3]), (1, "pve1", ["address", "vendor_id", "device_id"]), "the header")
    eq(r["devices"][1], ["0000:01:00.0", "10de", "1b81", "1458", "3772", 2, None, "030000"], "a row")
    eq(abs(r["time"] - time.time()) < 60, True, "when")


@test()
def cluster_mapping_from_published_reports(tmp):
    root = cluster(tmp)
    out = ptlua(["scripts/emit.lua", "--format", "mapping", "--device", "01:00.0", "--mapping", "gpu",
                 "--cluster"], root=root).stdout
    maps = [l for l in out.splitlines() if l.startswith("\tmap ")]
    eq([l.split("node=")[1].split(",")[0] for l in maps], ["pve1", "pve2", "pve3"], "a map line each node")
    contains(out, "\tmap id=10de:1b81,iommugroup=2,node=pve3,path=0000:01:00,subsystem-id=1043:8598",
             "pve3's own subsystem id")


@test()
def cluster_lint(tmp):
    root = cluster(tmp)
    os.makedirs(os.path.join(root, "etc/pve/mapping"))
    with open(os.path.join(root, "etc/pve/mapping/pci.cfg"), "w") as f:
        f.write("gpu\n"
                "\tmap id=10de:1b81,iommugroup=2,node=pve1,path=0000:01:00,subsystem-id=1458:3772\n"
                "\tmap id=10de:1b81,iommugroup=2,node=pve2,path=0000:01:00,subsystem-id=1458:3772\n"
                "\tmap id=10de:1b81,iommugroup=2,node=pve3,path=0000:01:00,subsystem-id=1458:3772\n"
                "\n"
                "nic\n"
                "\tmap id=8086:10d3,node=pve2,path=0000:03:00.0\n")
    with open(os.path.join(root, "etc/pve/mapping/usb.cfg"), "w") as f:
        f.write("stick\n\tmap id=10c4:ea60,node=pve1\n\tmap path=1-2,node=pve1\n\tmap id=10c4:ea60,node=pve2\n")
    # pve2 published a day and a half ago
    p2 = os.path.join(root, "etc/pve/nodes/pve2/libpt.json")
    with open(p2) as f:
        r = json.load(f)
    r["time"] -= 36 * 3600
    with open(p2, "w") as f:
        json.dump(r, f)
    p = ptlua(["scripts/lint.lua", "--cluster"], root=root, check=1)
    eq(p.stdout.splitlines(), [
        "mapping *, node pve2: its published report is 36 h old: run report.lua --publish there",
        "mapping gpu, node pve3: path 0000:01:00 has subsystem id 1043:8598 now, the mapping says 1458:3772: "
        "the hardware probably changed",
        "mapping nic, node pve1: no map line: VMs using mapping nic cannot start on this node",
        "mapping nic, node pve2: path 0000:03:00.0: no such device there: VMs using mapping nic cannot start on pve2",
        "mapping nic, node pve3: no map line: VMs using mapping nic cannot start on this node",
        "mapping stick, node pve1: USB mapping stick has 2 map lines for this node: Proxmox takes one a node",
        "6 findings"], "what would fail where")


@test()
def cluster_reports_are_hostile_input(tmp):
    root = cluster(tmp)
    p3 = os.path.join(root, "etc/pve/nodes/pve3/libpt.json")
    with open(p3) as f:
        good = json.load(f)

    def emit_with(report, check=1):
        with open(p3, "w") as f:
            f.write(report if isinstance(report, str) else json.dumps(report))
        return ptlua(["scripts/emit.lua", "--format", "mapping", "--device", "01:00.0", "--mapping", "gpu",
                      "--cluster"], root=root, check=check)

    bad = json.loads(json.dumps(good))
    bad["devices"][1][0] = "0000:01:00.0,node=evil"
    contains(emit_with(bad).stderr, 'node pve3: device 0000:01:00.0,node=evil: address', "an address")
    bad = json.loads(json.dumps(good))
    bad["devices"][1][4] = "3772\n\tmap id=dead:beef"
    contains(emit_with(bad).stderr, "subsystem_device_id", "a newline in an id")
    bad = dict(good, node="pve2")
    contains(emit_with(bad).stderr, '/etc/pve/nodes/pve3/libpt.json: the report of node "pve2" lies under node pve3',
             "a report under another node's name")
    contains(emit_with("{").stderr, "/etc/pve/nodes/pve3/libpt.json: not JSON", "not JSON")
    bad = dict(good, columns=["address"])
    contains(emit_with(bad).stderr, "the columns are not address, vendor_id", "other columns")
    # one reader, in C, for what the Lua reader let through
    text = json.dumps(good)
    contains(emit_with(text[:-1] + ', "devices": []}').stderr, "duplicate object key", "a second devices key")
    bad = json.loads(json.dumps(good))
    bad["devices"][1][0] = "0000:01:00.0\u0000\u001b[2Jforged"
    contains(emit_with(json.dumps(bad)).stderr, "not JSON", "an escaped NUL")
    bad = dict(good, time=99999999999)
    contains(emit_with(bad).stderr, "time is not a time of this century up to now", "an absurd time")
    bad = json.loads(json.dumps(good))
    bad["devices"][1][5] = "2"
    contains(emit_with(bad).stderr, "device 2 is not a row of the columns' kinds", "a malformed column")
    emit_with(good, check=0)


@test(timeout=180)
def cluster_commands_on_a_large_report_under_ulimit_n_1024(tmp):
    """A node report of 4096 functions: lint --cluster and emit --format mapping --cluster work
    with 1024 descriptors (systemd's default), one context a node and none a device."""
    import resource
    import subprocess
    from harness import PTLUA, TOP
    main = node(tmp, "pve1")
    big = os.path.join(tmp, "pve2")
    subprocess.run(["python3", os.path.join(TOP, "tests/mkfixture.py"), "--generate", "4096", big], check=True,
                   capture_output=True)
    os.makedirs(os.path.join(big, "etc/pve/nodes/pve2"))
    with open(os.path.join(big, "etc/hostname"), "w") as f:
        f.write("pve2\n")
    ptlua(["scripts/report.lua", "--publish"], root=big)
    shutil.copy(os.path.join(big, "etc/pve/nodes/pve2/libpt.json"), os.path.join(main, "etc/pve/nodes/pve2/libpt.json"))
    shutil.rmtree(os.path.join(main, "etc/pve/nodes/pve3"))
    limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    for args in (["scripts/lint.lua", "--cluster"],
                 ["scripts/emit.lua", "--format", "mapping", "--device", "01:00.0", "--mapping", "gpu", "--cluster"]):
        p = subprocess.run([PTLUA, "--root", main] + args, cwd=TOP, capture_output=True, text=True, preexec_fn=limit,
                           env=dict(os.environ, PTLUA_CLOSE_STATE="1"))
        assert p.returncode in (0, 1) and "ptlua: 24" not in p.stderr and "Too many open files" not in p.stderr, \
            (args, p.returncode, p.stderr[-2000:])
        assert p.stdout.strip(), (args, p.stderr[-2000:])
        print(f"checked: {' '.join(args)} under ulimit -n 1024: exit {p.returncode}")
