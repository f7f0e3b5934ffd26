"""Emitters (Proxmox, qm, mappings, libvirt, QEMU, host persistence) and the Proxmox lint."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

from harness import build_spec, contains, eq, ptlua, run, snapshot, test

HOST = """
0000:00:00.0 8086:3ec2 060000 group=0
0000:00:02.0 8086:3e92 030000 group=1 driver=i915 boot_vga=1
0000:00:01.0 8086:1901 060400 group=2 pcie=root driver=pcieport
0000:01:00.0 10de:1b81 030000 group=2 driver=nouveau boot_vga=0 subsys=1458:3772
0000:01:00.1 10de:10f0 040300 group=2 driver=snd_hda_intel
0000:00:1c.0 8086:a290 060400 group=3 pcie=root driver=pcieport
0000:02:00.0 10de:1b81 030000 group=4 driver=nouveau boot_vga=0 parent=0000:00:1c.0
0000:02:00.1 10de:10f0 040300 group=4 driver=snd_hda_intel parent=0000:00:1c.0
0000:00:1d.0 8086:a298 060400 group=5 pcie=root driver=pcieport
0000:03:00.0 8086:1533 020000 group=6 driver=igb parent=0000:00:1d.0
0000:03:00.1 8086:1533 020000 group=7 driver=igb parent=0000:00:1d.0
0000:00:1b.0 8086:a2e7 060400 group=8 pcie=root acs=none driver=pcieport
0000:04:00.0 1b21:0612 010601 group=8 driver=ahci parent=0000:00:1b.0
0000:04:01.0 8086:1539 020000 group=8 driver=igb parent=0000:00:1b.0
"""
ID = r"(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?"
HOSTPCI_KEYS = {"host", "rombar", "pcie", "x-vga", "romfile", "legacy-igd", "mdev", "vendor-id",
                "device-id", "sub-vendor-id", "sub-device-id", "driver", "mapping"}


def host(tmp, spec=HOST, conf=None):
    root = build_spec(spec, os.path.join(tmp, "root"))
    os.makedirs(os.path.join(root, "etc/pve/qemu-server"))
    for vm, text in (conf or {}).items():
        with open(os.path.join(root, f"etc/pve/qemu-server/{vm}.conf"), "w") as f:
            f.write(text)
    return root


def emit(root, *args, check=0):
    return ptlua(["scripts/emit.lua", *args], root=root, check=check)


@test()
def emit_proxmox(tmp):
    root = host(tmp, conf={100: "# my VM\nboot: order=scsi0\nhostpci0: 03:00.0,pcie=1\nmachine: q35\n"
                                 "bios: ovmf\nefidisk0: local-lvm:vm-100-disk-0,efitype=4m,size=4M\n"
                                 "[snap1]\nhostpci1: 04:00.0\n"})
    out = emit(root, "--format", "proxmox", "--device", "01:00.0", "--vm", "100", "--primary").stdout
    eq(out, "hostpci1: 01:00,pcie=1,x-vga=1\ncpu: host\nvga: none\n", "next free N, slot form, settings")
    out = emit(root, "--format", "qm", "--device", "01:00.0", "--vm", "100", "--primary").stdout
    eq(out, "qm set 100 --hostpci1 01:00,pcie=1,x-vga=1 --cpu host --vga none\n", "qm")
    out = emit(root, "--format", "proxmox", "--device", "01:00.0", "--vm", "101", "--hide-kvm").stdout
    eq(out, "hostpci0: 01:00,pcie=1\nmachine: q35\nbios: ovmf\ncpu: host,hidden=1\n"
            "# VM 101 has no config on this node (/etc/pve/qemu-server/101.conf): these lines are for a VM still "
            "to be created\n# efidisk0: allocate it with qm set 101 --efidisk0 local-lvm:1,efitype=4m,pre-enrolled-keys=1\n",
       "a new VM")
    out = emit(root, "--format", "proxmox", "--device", "03:00.1", "--vm", "101").stdout
    eq(out.splitlines()[:2], ["hostpci0: 03:00.1,pcie=1", "machine: q35"], "one function of two: the function form")
    out = emit(root, "--format", "proxmox", "--device", "04:01.0", "--vm", "101", "--no-rombar").stdout
    eq(out.splitlines()[:2], ["hostpci0: 04:00,pcie=1,rombar=0", "hostpci1: 04:01,pcie=1,rombar=0"],
       "a shared group: every slot of the set")
    out = emit(root, "--format", "proxmox", "--usb", "10C4:EA60", "--vm", "100").stdout
    eq(out, "usb0: host=10c4:ea60\n", "usb by id")
    out = emit(root, "--format", "qm", "--usb-port", "1-2.3", "--vm", "100").stdout
    eq(out, "qm set 100 --usb0 host=1-2.3\n", "usb by port")


@test()
def emit_proxmox_round_trip(tmp):
    """Emitted lines parse back with the project's parser and match qemu-server's grammar."""
    root = host(tmp)
    conf = []
    for vm, dev in ((100, "01:00.0"), (101, "03:00.1"), (102, "04:00.0")):
        lines = emit(root, "--format", "proxmox", "--device", dev, "--vm", str(vm), "--primary").stdout.splitlines()
        conf += [line.replace("hostpci", f"hostpci{vm}") for line in lines if line.startswith("hostpci")]
    script = os.path.join(tmp, "parse.lua")
    with open(script, "w") as f:
        f.write('local proxmox = require "pt.proxmox"\nlocal c = proxmox.parse_config(io.read("a"), "stdin")\n'
                'for _, k in ipairs(c.main.keys) do\n  if k:match("^hostpci") then\n'
                '    local list = proxmox.parse_props(c.main.values[k], "host")\n'
                '    for _, kv in ipairs(list) do print(k, kv[1], kv[2]) end\n  end\nend\n')
    p = subprocess.run(["lua/ptlua", "--root", root, "--trusted", script], input="\n".join(conf) + "\n", capture_output=True,
                       text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert p.returncode == 0, p.stderr
    hosts = 0
    for line in p.stdout.splitlines():
        key, prop, value = line.split("\t")
        assert prop in HOSTPCI_KEYS, prop
        if prop == "host":
            hosts += 1
            for id in value.split(";"):
                assert re.fullmatch(ID, id), id
        if prop in ("pcie", "x-vga", "rombar"):
            assert value in ("0", "1"), (prop, value)
    assert hosts >= 3, p.stdout


@test()
def emit_bad_input(tmp):
    root = host(tmp)
    for args, message in (
        (["--format", "proxmox", "--device", "01:00.0", "--vm", "100", "--romfile", "a,x-vga=1"],
         'romfile "a,x-vga=1": newlines, commas'),
        (["--format", "proxmox", "--device", "01:00.0", "--vm", "100", "--romfile", "é.rom"], "non-ASCII"),
        (["--format", "mapping", "--device", "01:00.0", "--mapping", "gpu\nhostpci0"], "mapping name"),
        (["--format", "libvirt-domain", "--device", "01:00.0", "--vm", "100", "--romfile", "x"], None),
    ):
        p = emit(root, *args, check=None)
        if message:
            assert p.returncode == 1, (args, p.returncode, p.stdout)
            contains(p.stderr, message, " ".join(args))
    contains(emit(root, "--format", "proxmox", "--device", "01:00.0", "--vm", "99", check=2).stderr,
             "--vm '99' is not a VM id", "vm id")
    contains(emit(root, "--format", "qemu", "--usb-port", "1-2..3", check=2).stderr,
             "--usb-port '1-2..3' is not a USB port", "port")
    contains(emit(root, "--format", "proxmox", "--usb-port", "x", "--vm", "100", check=2).stderr,
             "--usb-port 'x' is not a USB port", "port")
    contains(emit(root, "--format", "proxmox", "--device", "1:00.0", "--vm", "100", check=2).stderr,
             "'1:00.0' is not a PCI address", "address")
    contains(emit(root, "--format", "proxmox", "--usb", "10c4-ea60", "--vm", "100", check=2).stderr,
             "is not a USB id", "usb id")


def proxmox_passes(root, out, node):
    """What Proxmox passes for the hostpci lines of a mapping on a node, read as qemu-server does:
    the node's first map line (assert_valid: id, subsystem-id and iommugroup of the path's first
    device, function 0 when the path has none), a path without function every function of it."""
    sections, name = {}, None
    for line in out.splitlines():
        if line.startswith("# in the VM") or not line or line.startswith("#"):
            continue
        if not line.startswith("\t"):
            name = line
            sections[name] = []
        else:
            sections[name].append(dict(kv.split("=", 1) for kv in line.split(None, 1)[1].split(",")))
    devices = os.path.join(root, "sys/bus/pci/devices")
    passed = []
    for h in re.findall(r"hostpciN: mapping=([\w-]+)", out):
        entry = [m for m in sections[h] if m["node"] == node][0]
        assert ";" not in entry["path"], entry
        path = entry["path"] if re.search(r"\.[0-7]$", entry["path"]) else entry["path"] + ".0"
        def attr(a):
            with open(os.path.join(devices, path, a)) as f:
                return f.read().strip().replace("0x", "")
        eq(entry["id"], attr("vendor") + ":" + attr("device"), f"{h}: id")
        eq(entry["subsystem-id"], attr("subsystem_vendor") + ":" + attr("subsystem_device"), f"{h}: subsystem-id")
        eq(entry["iommugroup"], os.path.basename(os.readlink(os.path.join(devices, path, "iommu_group"))), f"{h}: group")
        if path == entry["path"]:
            passed.append(path)
        else:
            passed += sorted(d for d in os.listdir(devices) if d[:-2] == entry["path"])
    return sorted(passed)


@test()
def emit_mapping(tmp):
    root = host(tmp)
    other = os.path.join(tmp, "pve2.json")
    with open(other, "w") as f:
        f.write(ptlua(["scripts/report.lua", "--json"], root=root).stdout)
    empty = build_spec("0000:00:00.0 8086:3ec2 060000 group=0\n", os.path.join(tmp, "pve3"))
    third = os.path.join(tmp, "pve3.json")
    with open(third, "w") as f:
        f.write(ptlua(["scripts/report.lua", "--json"], root=empty).stdout)
    out = emit(root, "--format", "mapping", "--device", "01:00.0", "--mapping", "gtx1070", "--node", "pve1",
               "--nodes", f"pve2={other},pve3={third}").stdout
    eq(out.splitlines(), [
        "# /etc/pve/mapping/pci.cfg",
        "gtx1070",
        "\tmap id=10de:1b81,iommugroup=2,node=pve1,path=0000:01:00,subsystem-id=1458:3772",
        "\tmap id=10de:1b81,iommugroup=4,node=pve1,path=0000:02:00,subsystem-id=10de:1b81",
        "\tmap id=10de:1b81,iommugroup=2,node=pve2,path=0000:01:00,subsystem-id=1458:3772",
        "\tmap id=10de:1b81,iommugroup=4,node=pve2,path=0000:02:00,subsystem-id=10de:1b81",
        "# in the VM: hostpciN: mapping=gtx1070,pcie=1",
        "# no matching device on: pve3",
    ], "mapping: the slot form, every matching device an alternative")
    eq(proxmox_passes(root, out, "pve1"), ["0000:01:00.0", "0000:01:00.1"], "Proxmox passes the whole set")
    # A set over two slots: one mapping each, one hostpci line each.
    out = emit(root, "--format", "mapping", "--device", "04:00.0", "--mapping", "pair", "--node", "pve1").stdout
    eq(out.splitlines(), [
        "# /etc/pve/mapping/pci.cfg",
        "pair",
        "\tmap id=1b21:0612,iommugroup=8,node=pve1,path=0000:04:00,subsystem-id=1b21:0612",
        "",
        "pair-2",
        "\tmap id=8086:1539,iommugroup=8,node=pve1,path=0000:04:01,subsystem-id=8086:1539",
        "# in the VM: hostpciN: mapping=pair,pcie=1",
        "# in the VM: hostpciN: mapping=pair-2,pcie=1",
    ], "mapping over two slots")
    eq(proxmox_passes(root, out, "pve1"), ["0000:04:00.0", "0000:04:01.0"], "both slots")
    # Part of a slot: one mapping a function, with the function in the path.
    out = emit(root, "--format", "mapping", "--device", "03:00.1", "--mapping", "nic", "--node", "pve1").stdout
    contains(out, "\tmap id=8086:1533,iommugroup=7,node=pve1,path=0000:03:00.1,", "one function")
    # A report from elsewhere is checked before anything of it reaches pci.cfg.
    forged = json.loads(ptlua(["scripts/report.lua", "--json"], root=root).stdout)
    for field, value in (("iommu_group", "2,iommugroup=7,node=pve9"), ("address", "0000:01:00.0\n\tmap id=dead:beef"),
                         ("subsystem_vendor_id", "1458,node=x")):
        bad = json.loads(json.dumps(forged))
        bad["devices"][3][field] = value
        with open(os.path.join(tmp, "forged.json"), "w") as f:
            json.dump(bad, f)
        p = emit(root, "--format", "mapping", "--device", "01:00.0", "--mapping", "m", "--nodes",
                 f"pve9={tmp}/forged.json", check=1)
        contains(p.stderr, f"node pve9: device", "forged " + field)
        assert "map" not in p.stdout, p.stdout
    with open(os.path.join(tmp, "bad.json"), "w") as f:
        f.write("{not json")
    p = emit(root, "--format", "mapping", "--device", "01:00.0", "--mapping", "m", "--nodes",
             f"pve2={tmp}/bad.json", check=1)
    contains(p.stderr, "bad.json: json:", "bad report named")


@test()
def emit_host_facts_decided_once(tmp):
    """The CPU vendor, its IOMMU parameters and the boot loader come from the library
    (pt_host_cpu_vendor, pt_iommu_params, pt_host_boot_loader): the plan and the doctor agree."""
    root = host(tmp)
    for d in ("etc/kernel", "proc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "proc/cpuinfo"), "w") as f:
        f.write("vendor_id\t: AuthenticAMD\nflags\t\t: svm\n")
    with open(os.path.join(root, "etc/kernel/cmdline"), "w") as f:
        f.write("root=ZFS=rpool/ROOT/pve-1 boot=zfs\n")
    out = emit(root, "--format", "host", "--device", "03:00.0").stdout
    contains(out, "+root=ZFS=rpool/ROOT/pve-1 boot=zfs iommu=pt\n", "systemd-boot, AMD: iommu=pt only")
    assert "intel_iommu" not in out and "/etc/default/grub" not in out, out
    script = os.path.join(tmp, "facts.lua")
    with open(script, "w") as f:
        f.write('local h = pt.host() print(h.cpu_vendor, h.boot_loader, table.concat(h.iommu_params, " "),'
                ' table.concat(pt.iommu_params("intel"), " "))\n')
    eq(ptlua([script], root=root).stdout, "amd\tsystemd-boot\tiommu=pt\tintel_iommu=on iommu=pt\n", "pt.host()")


@test()
def emit_refuses_injection(tmp):
    """Values that would carry another key, line or shell command into what is emitted are
    refused where they enter, naming them; `qm` output is quoted so that it runs one qm set."""
    import shlex
    root = host(tmp)
    before = snapshot(root)
    for args, message in (
        (["--format", "mapping", "--usb-port", "1-2,node=evil\n\tmap id=dead:beef", "--mapping", "m"],
         "is not a USB port"),
        (["--format", "proxmox", "--usb-port", "1-2;reboot", "--vm", "100"], "is not a USB port"),
        (["--format", "qm", "--device", "01:00.0", "--vm", "100", "--romfile",
          "x.rom --hookscript local:snippets/evil.pl"], 'romfile "x.rom --hookscript local:snippets/evil.pl"'),
        (["--format", "qm", "--device", "01:00.0", "--vm", "100", "--romfile", "$(reboot)"], 'romfile "$(reboot)"'),
        (["--format", "qm", "--device", "01:00.0", "--vm", "100", "--storage", "local;reboot"], "storage"),
        (["--format", "mapping", "--device", "01:00.0", "--mapping", "m", "--node", "pve1,node=x"], "node name"),
    ):
        p = emit(root, *args, check=p_check(args))
        contains(p.stderr, message, " ".join(args))
        assert "evil" not in p.stdout and "reboot" not in p.stdout, p.stdout
    # What qm prints is one command of plain words, whatever the values.
    out = emit(root, "--format", "qm", "--device", "01:00.0", "--vm", "100", "--romfile", "gtx1070.rom",
               "--hide-kvm").stdout.strip()
    words = shlex.split(out)
    eq(words[:3], ["qm", "set", "100"], "one qm set")
    assert not any(c in out for c in ";&|`$\n"), out
    from harness import tree_diff
    eq(tree_diff(before, snapshot(root)), [], "nothing written")


def p_check(args):
    return 2 if "--usb-port" in args else 1


@test(timeout=120)
def emit_libvirt_validates(tmp):
    root = host(tmp)
    domain = os.path.join(tmp, "domain.xml")
    with open(domain, "w") as f:
        f.write(emit(root, "--format", "libvirt-domain", "--device", "01:00.0", "--vm", "100",
                     "--usb", "10c4:ea60").stdout)
    run(["virt-xml-validate", domain, "domain"], check=0)
    fragment = emit(root, "--format", "libvirt", "--device", "04:00.0", "--usb", "046d:c52b").stdout
    contains(fragment, "<address domain='0x0000' bus='0x04' slot='0x01' function='0x0'/>", "shared set")
    p = emit(root, "--format", "libvirt", "--usb-port", "1-2", check=1)
    contains(p.stderr, "a USB device needs an id or a bus and device number", "libvirt usb by port")
    fragment = emit(root, "--format", "libvirt", "--device", "01:00.0", "--usb", "10c4:ea60").stdout
    wrapped = os.path.join(tmp, "wrapped.xml")
    with open(wrapped, "w") as f:
        f.write("<domain type='kvm'><name>f</name><memory>1048576</memory><os><type>hvm</type></os>"
                "<devices>" + fragment + "</devices></domain>")
    run(["virt-xml-validate", wrapped, "domain"], check=0)


def start_qemu(args, timeout=3):
    """QEMU started with the arguments: its exit status and stderr, or "running" after timeout
    seconds (a failing start is waited for as long as it takes, up to 30 s)."""
    cmd = ["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-nodefaults", "-display", "none", "-S",
           "-monitor", "none", "-serial", "none", *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, err
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.communicate()
        return "running", ""


@test(timeout=120)
def emit_qemu_arguments_start(tmp):
    import shlex
    root = host(tmp)
    words = shlex.split(emit(root, "--format", "qemu", "--device", "01:00.0", "--primary").stdout)
    eq(words[:6], ["-device", "pcie-root-port,id=pt-port0,chassis=101,slot=1", "-device",
                   "vfio-pci,host=0000:01:00.0,bus=pt-port0,addr=0x0.0,multifunction=on,x-vga=on",
                   "-device", "vfio-pci,host=0000:01:00.1,bus=pt-port0,addr=0x0.1"], "arguments")
    status, err = start_qemu(words, timeout=30)
    assert status != "running" and "no such host device" in err, (status, err)
    for line in err.splitlines():
        assert "no such host device" in line or not line.strip(), f"a property error: {line}"
    words = shlex.split(emit(root, "--format", "qemu", "--device", "04:00.0", "--no-rombar").stdout)
    status, err = start_qemu(words, timeout=30)
    assert "no such host device" in err and "Property" not in err, err
    for usb in (["--usb", "10c4:ea60"], ["--usb-port", "1-2.3"]):
        status, err = start_qemu(shlex.split(emit(root, "--format", "qemu", *usb).stdout))
        eq(status, "running", f"usb-host starts: {err}")


@test()
def emit_host_persistence(tmp):
    root = host(tmp)
    for d in ("etc/modprobe.d", "etc/udev/rules.d", "etc/initramfs-tools", "etc/default", "proc/sys/kernel"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "etc/default/grub"), "w") as f:
        f.write('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n')
    with open(os.path.join(root, "etc/initramfs-tools/modules"), "w") as f:
        f.write("# modules\nvfio\n")
    with open(os.path.join(root, "proc/sys/kernel/osrelease"), "w") as f:
        f.write("6.1.0-18-amd64\n")
    with open(os.path.join(root, "proc/cpuinfo"), "w") as f:
        f.write("vendor_id\t: GenuineIntel\n")
    out = emit(root, "--format", "host", "--device", "03:00.0").stdout
    contains(out, "+++ /etc/modprobe.d/libpt-vfio.conf\n@@ -0,0 +1,4 @@\n"
             "+# Written by libpt: 0000:03:00.0 go to vfio-pci at boot.\n+# Their host drivers: 0000:03:00.0=igb\n"
             "+softdep igb pre: vfio-pci\n"
             "+# ids= would also take 0000:03:00.1 (8086:1533)", "ids shared: no ids=")
    contains(out, '+ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:03:00.0", ATTR{driver_override}="vfio-pci"',
             "udev rule by address")
    contains(out, " vfio\n+vfio_virqfd\n+vfio_iommu_type1\n+vfio_pci", "initramfs modules (6.1 has vfio_virqfd)")
    contains(out, '-GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n+GRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on iommu=pt"',
             "grub")
    contains(out, "then run: update-initramfs -u -k all && update-grub", "commands")
    assert not os.path.exists(os.path.join(root, "etc/modprobe.d/libpt-vfio.conf")), "a diff writes nothing"
    out = emit(root, "--format", "host", "--device", "01:00.0").stdout
    contains(out, '+ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:01:00.1", ATTR{driver_override}="vfio-pci"',
             "two identical GPUs: by address")
    contains(out, "+# ids= would also take 0000:02:00.0 (10de:1b81), 0000:02:00.1 (10de:10f0)", "named")
    out = emit(root, "--format", "host", "--device", "04:00.0", "--apply").stdout
    contains(out, f"# backup: {root}/etc/default/grub.libpt-", "backup, named as the user knows it")
    with open(os.path.join(root, "etc/modprobe.d/libpt-vfio.conf")) as f:
        eq(f.read(), "# Written by libpt: 0000:04:00.0 0000:04:01.0 go to vfio-pci at boot.\n"
                     "# Their host drivers: 0000:04:00.0=ahci 0000:04:01.0=igb\n"
                     "softdep ahci pre: vfio-pci\nsoftdep igb pre: vfio-pci\n"
                     "options vfio-pci ids=1b21:0612,8086:1539\n", "applied: ids= when no other device has them")
    backups = [f for f in os.listdir(os.path.join(root, "etc/default")) if f.startswith("grub.libpt-")]
    with open(os.path.join(root, "etc/default", backups[0])) as f:
        contains(f.read(), 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n', "the backup holds the old file")
    eq(emit(root, "--format", "host", "--device", "04:00.0").stdout,
       "# the host is already set up for 0000:04:00.0 0000:04:01.0\n", "applied twice: nothing to do")
    # a write that fails half way puts back the files written before it
    p = emit(root, "--format", "host", "--device", "01:00.0", "--apply", check=None)
    eq(p.returncode, 0, "first apply of another set")
    shutil.rmtree(os.path.join(root, "etc/initramfs-tools"))
    open(os.path.join(root, "etc/initramfs-tools"), "w").close()  # not a directory: the write fails
    os.unlink(os.path.join(root, "etc/udev/rules.d/61-libpt-vfio.rules"))
    modprobe = open(os.path.join(root, "etc/modprobe.d/libpt-vfio.conf")).read()
    p = emit(root, "--format", "host", "--device", "04:00.0", "--apply", check=1)
    contains(p.stderr, "etc/initramfs-tools/modules", "names the file")
    contains(p.stderr, "(the files written before it are put back)", "rolled back")
    eq(open(os.path.join(root, "etc/modprobe.d/libpt-vfio.conf")).read(), modprobe, "modprobe.d put back")
    assert not os.path.exists(os.path.join(root, "etc/udev/rules.d/61-libpt-vfio.rules")), "created file removed"
    os.unlink(os.path.join(root, "etc/initramfs-tools"))
    os.makedirs(os.path.join(root, "etc/initramfs-tools"))
    os.makedirs(os.path.join(root, "etc/kernel"))
    with open(os.path.join(root, "etc/kernel/cmdline"), "w") as f:
        f.write("root=ZFS=rpool/ROOT/pve-1 boot=zfs\n")
    out = emit(root, "--format", "host", "--device", "04:00.0").stdout
    contains(out, "+root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on iommu=pt", "systemd-boot")
    contains(out, "proxmox-boot-tool refresh", "refresh")


@test()
def lint_configs(tmp):
    root = host(tmp, conf={
        100: "machine: pc-i440fx-8.0\nhostpci0: 01:00.0,pcie=1,x-vga=1\nusb0: host=046d:c52b\n",
        101: "machine: q35\nbios: ovmf\nhostpci0: 01:00,pcie=1\nhostpci1: mapping=nope\nhostpci2: 09:00.0\n",
        102: "machine: q35\nbios: ovmf\nhostpci0: 03:00,pcie=1\n",
    })
    os.makedirs(os.path.join(root, "etc/pve/mapping"))
    with open(os.path.join(root, "etc/pve/mapping/pci.cfg"), "w") as f:
        f.write("gpu\n\tmap id=10de:1b81,node=pve1,path=0000:01:00.0\n")
    for n in (1, 2):
        usb = os.path.join(root, f"sys/bus/usb/devices/3-{n}")
        os.makedirs(usb)
        for attr, value in (("idVendor", "046d"), ("idProduct", "c52b")):
            with open(os.path.join(usb, attr), "w") as f:
                f.write(value + "\n")
    p = ptlua(["scripts/lint.lua"], root=root, check=1)
    eq(p.stdout.splitlines(), [
        "100 hostpci0: 0000:01:00.0 shares IOMMU group 2 with 0000:01:00.1, which the VM does not get and snd_hda_intel holds: the VM cannot start",
        "100 hostpci0: pcie=1 needs machine q35 (machine: pc-i440fx-8.0)",
        "100 hostpci0: x-vga=1 with SeaBIOS: a primary GPU wants bios: ovmf (UEFI), as most current cards have no legacy VGA BIOS",
        "100 usb0: 046d:c52b matches 2 devices, at ports 3-1, 3-2: name it by its port instead (host=BUS-PORT, --port)",
        "101 hostpci: 0000:01:00.0 is also given to VM 100 (VMs 100, 101)",
        "101 hostpci1: mapping nope is not in /etc/pve/mapping/pci.cfg",
        "101 hostpci2: host 09:00.0: no such PCI device on this host",
        "7 findings",
    ], "findings")
    eq(ptlua(["scripts/lint.lua", "--vm", "102"], root=root).stdout, "0 findings\n", "a clean VM")
    j = json.loads(ptlua(["scripts/lint.lua", "--vm", "101", "--json"], root=root, check=1).stdout)
    eq(len(j), 3, "json findings")


@test()
def emit_usb_ambiguity_and_mapping(tmp):
    root = host(tmp, HOST + """
usb 1-2 10c4:ea60 0000:00:1b.0 serial=0001
usb 1-3 10c4:ea60 0000:00:1b.0 serial=0002
""")
    p = emit(root, "--format", "proxmox", "--usb", "10c4:ea60", "--vm", "100", check=1)
    contains(p.stderr, "10c4:ea60 matches 2 devices, at ports 1-2, 1-3: name it by its port instead", "ambiguous id")
    eq(emit(root, "--format", "proxmox", "--usb-port", "1-3", "--vm", "100").stdout.splitlines()[0], "usb0: host=1-3",
       "port form")
    out = emit(root, "--format", "mapping", "--usb", "1cf1:0030", "--mapping", "conbee", "--node", "pve1",
               "--nodes", "pve2=x.json").stdout
    eq(out, "# /etc/pve/mapping/usb.cfg\nconbee\n\tmap id=1cf1:0030,node=pve1\n\tmap id=1cf1:0030,node=pve2\n"
            "# in the VM: usbN: mapping=conbee\n", "usb mapping")


# Two sockets: a GPU on node 0, a NIC on node 1.
NUMA_HOST = """0000:00:00.0 8086:2020 060000 group=0
0000:00:01.0 8086:2030 060400 group=1 pcie=root driver=pcieport numa=0
0000:01:00.0 10de:2484 030000 group=2 driver=nouveau boot_vga=0 parent=0000:00:01.0 numa=0
0000:80:01.0 8086:2030 060400 group=3 pcie=root driver=pcieport numa=1
0000:81:00.0 8086:1572 020000 group=4 driver=i40e parent=0000:80:01.0 numa=1
node 0 0-7,16-23
node 1 8-15,24-31
hugepages 0 1048576 2
hugepages 0 2048 600
hugepages 1 2048 400
"""


@test()
def lint_numa_locality(tmp):
    root = host(tmp, spec=NUMA_HOST, conf={
        100: "machine: q35\nhostpci0: 01:00.0,pcie=1\naffinity: 8-15\nnuma: 1\nnuma0: cpus=0-7,hostnodes=1,memory=8192,policy=bind\n",
        101: "machine: q35\nhostpci0: 01:00.0,pcie=1\naffinity: 4-11\n",
        102: "machine: q35\nhostpci0: 01:00.0,pcie=1\nhostpci1: 81:00.0,pcie=1\n",
        103: "machine: q35\nhostpci0: 01:00.0,pcie=1\naffinity: 0-3,16-19\nnuma0: cpus=0-3,hostnodes=0,memory=4096\n",
    })
    p = ptlua(["scripts/lint.lua"], root=root, check=1)
    eq(p.stdout.splitlines(), [
        "100 affinity: CPUs 8-15 lie off NUMA node 0, where 0000:01:00.0 is (its CPUs 0-7,16-23): every DMA and "
        "interrupt crosses between the sockets",
        "100 numa0: hostnodes=1: the VM's memory lies off NUMA node 0, where 0000:01:00.0 is",
        "101 affinity: 4 of the CPUs 4-11 lie off NUMA node 0, where 0000:01:00.0 is (its CPUs 0-7,16-23)",
        "101 hostpci: 0000:01:00.0 is also given to VM 100 (VMs 100, 101, 102, 103)",
        "102 hostpci: its devices are on NUMA nodes 0 (0000:01:00.0) and 1 (0000:81:00.0): the VM runs near one of them only",
        "5 findings",
    ], "a VM placed off its devices' node; 103 is placed on it")
    codes = {f["code"] for f in json.loads(ptlua(["scripts/lint.lua", "--json"], root=root, check=1).stdout)}
    eq(codes, {"affinity-off-device-node", "hostnodes-off-device-node", "affinity-spans-nodes", "devices-split-numa",
               "device-in-two-vms"},
       "the codes")
    out = ptlua(["scripts/report.lua", "--device", "01:00.0"], root=root).stdout
    contains(out, "  NUMA node 0, local CPUs 0-7,16-23", "where the device is")


@test()
def lint_hugepages_at_start(tmp):
    # 2 free 1 GiB pages on node 0; 600 + 400 free 2 MiB pages on the host
    root = host(tmp, spec=NUMA_HOST, conf={
        104: "memory: 8192\nhugepages: 1024\nnuma: 1\nnuma0: cpus=0-7,hostnodes=0,memory=8192,policy=bind\n",
        105: "memory: 4096\nhugepages: 2\n",
        106: "memory: 4096\nhugepages: 2\n",
        107: "memory: current=1024\nhugepages: 2\n",
        108: "memory: 8192\nhugepages: 1024\nnuma: 1\nnuma0: cpus=0-7,hostnodes=0,memory=2048,policy=bind\n",
    })
    os.makedirs(f"{root}/var/run/qemu-server")
    with open(f"{root}/var/run/qemu-server/106.pid", "w") as f:
        f.write("4242\n")  # running: it holds its pages already
    p = ptlua(["scripts/lint.lua"], root=root, check=1)
    eq(p.stdout.splitlines(), [
        "104 numa0: hugepages 1024 (1 GiB pages, which only a boot reserves reliably): this NUMA node's 8192 MiB on "
        "host node 0 need 8 pages, the node has 2 free now: the VM would not start",
        "105 hugepages: hugepages 2 (2 MiB pages): memory 4096 MiB needs 2048 pages, the host has 1000 free now: the "
        "VM would not start",
        "2 findings",
    ], "what a start would not find; 106 runs, 107 and 108 fit")
