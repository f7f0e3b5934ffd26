"""The report on hand-made trees: edge cases, filters, errors."""
import json
import os
import shutil

from harness import build_spec, contains, eq, ptlua, report_json, test

# A small host: a GPU with its audio behind a root port, a NIC sharing a group with a SATA
# controller behind a switch, a USB controller alone, a driverless ISA bridge with SMBus.
HOST = """
0000:00:00.0 8086:3ec2 060000 group=0
0000:00:01.0 8086:1901 060400 group=1 driver=pcieport
0000:01:00.0 10de:1b81 030000 group=1 driver=nouveau boot_vga=0 rev=a1
0000:01:00.1 10de:10f0 040300 group=1 driver=snd_hda_intel rev=a1
0000:00:02.0 8086:3e92 030000 group=2 driver=i915 boot_vga=1
0000:00:14.0 8086:a2af 0c0330 group=3 driver=xhci_hcd reset_method=-
0000:00:1c.0 8086:a290 060400 group=4 driver=pcieport
0000:02:00.0 10ec:8168 020000 group=4 driver=r8169 parent=0000:00:1c.0
0000:02:01.0 1b21:0612 010601 group=4 driver=ahci parent=0000:00:1c.0
0000:00:1f.0 8086:a2c9 060100 group=5
0000:00:1f.4 8086:a2a3 0c0500 group=5 driver=i801_smbus
"""


def host(tmp, text=HOST):
    return build_spec(text, os.path.join(tmp, "root"))


def by_addr(report):
    return {d["address"]: d for d in report["devices"]}


@test()
def report_json_fields(tmp):
    r = report_json(host(tmp))
    d = by_addr(r)
    gpu = d["0000:01:00.0"]
    eq((gpu["vendor_id"], gpu["device_id"], gpu["class"], gpu["revision"]),
       ("10de", "1b81", "030000", "a1"), "gpu ids")
    eq(gpu["driver"], "nouveau", "gpu driver")
    eq(gpu["iommu_group"], 1, "gpu group")
    eq(gpu["verdict"], "with-companions", "gpu verdict")
    eq(gpu["passthrough_set"], ["0000:01:00.0", "0000:01:00.1"], "gpu set (root port left out)")
    eq(gpu["parent"], "0000:00:01.0", "gpu parent")
    eq(gpu["boot_vga"], False, "gpu boot_vga")
    eq(gpu["vendor_name"], "NVIDIA Corporation", "vendor name from libpci")
    eq(d["0000:00:02.0"]["boot_vga"], True, "igpu boot_vga")
    eq(d["0000:00:02.0"]["flags"], ["boot-vga", "host-critical: boot VGA device (boot_vga = 1)"], "igpu flags")
    eq(d["0000:00:14.0"]["reset_method"], "", "no reset method")
    eq(d["0000:00:14.0"]["flags"], ["no-reset"], "usb flags")
    eq(d["0000:00:14.0"]["class"], "0c0330", "class keeps the programming interface")
    eq(d["0000:02:00.0"]["verdict"], "shared", "nic shares with sata")
    eq(d["0000:02:00.0"]["passthrough_set"], ["0000:02:00.0", "0000:02:01.0"], "nic set")
    eq(d["0000:00:1f.4"]["passthrough_set"], ["0000:00:1f.4"], "driverless ISA bridge stays")
    eq(d["0000:00:1f.4"]["verdict"], "isolated", "smbus verdict")
    eq(d["0000:00:00.0"]["driver"], None, "no driver is null")
    eq(d["0000:00:01.0"]["verdict"], "bridge", "root port verdict")
    eq(d["0000:00:01.0"]["bridge"], True, "root port is a bridge")
    eq(d["0000:01:00.0"]["multifunction"], True, "gpu multifunction")
    eq(d["0000:00:02.0"]["multifunction"], False, "igpu single function")
    groups = {g["number"]: g for g in r["groups"]}
    eq(groups[4]["devices"], ["0000:00:1c.0", "0000:02:00.0", "0000:02:01.0"], "group 4 members")
    eq(groups[4]["passthrough_set"], ["0000:02:00.0", "0000:02:01.0"], "group 4 set")
    eq(r["iommu"], True, "iommu on")


@test()
def report_text(tmp):
    out = ptlua(["scripts/report.lua"], root=host(tmp)).stdout
    contains(out, "IOMMU on, 6 groups", "summary")
    contains(out, "0000:01:00.0  VGA compatible controller [0300]: NVIDIA Corporation", "gpu line")
    contains(out, "driver nouveau; with companions: passes with 0000:01:00.1", "gpu verdict line")
    contains(out, "shared: passes only with 0000:02:01.0", "nic verdict line")
    contains(out, "boot-vga", "boot vga flag")


@test()
def report_filters(tmp):
    root = host(tmp)
    eq([d["address"] for d in report_json(root, "--class", "gpu")["devices"]],
       ["0000:00:02.0", "0000:01:00.0"], "--class gpu")
    eq([d["address"] for d in report_json(root, "--class", "audio")["devices"]],
       ["0000:01:00.1"], "--class audio")
    eq([d["address"] for d in report_json(root, "--class", "storage")["devices"]],
       ["0000:02:01.0"], "--class storage")
    eq([d["address"] for d in report_json(root, "--class", "network")["devices"]],
       ["0000:02:00.0"], "--class network")
    eq([d["address"] for d in report_json(root, "--class", "usb")["devices"]],
       ["0000:00:14.0"], "--class usb")
    r = report_json(root, "--device", "02:00.0")
    eq([d["address"] for d in r["devices"]], ["0000:02:00.0"], "--device short form")
    eq([g["number"] for g in r["groups"]], [4], "--device groups")


@test()
def report_bad_arguments(tmp):
    root = host(tmp)
    p = ptlua(["scripts/report.lua", "--device", "1:0.0"], root=root, check=2)
    contains(p.stderr, "'1:0.0' is not a PCI address", "bad address")
    p = ptlua(["scripts/report.lua", "--class", "sound"], root=root, check=2)
    contains(p.stderr, "is not one of gpu, audio, usb, storage, network", "bad class")
    p = ptlua(["scripts/report.lua", "--frobnicate"], root=root, check=2)
    contains(p.stderr, "unknown option '--frobnicate'", "unknown option")
    p = ptlua(["scripts/report.lua", "--device", "0000:09:00.0"], root=root, check=1)
    contains(p.stderr, "0000:09:00.0: no such PCI device", "absent device")
    p = ptlua(["scripts/report.lua", "--help"], root=root)
    contains(p.stdout, "--require-iommu", "help lists options")


@test()
def report_five_digit_domain(tmp):
    root = host(tmp, """
0000:00:0e.0 8086:467f 010400 group=7 driver=vmd
10000:e0:06.0 8086:464d 060400 group=7 driver=pcieport
10000:e1:00.0 144d:a80a 010802 group=7 driver=nvme parent=10000:e0:06.0
""")
    d = by_addr(report_json(root))
    eq(sorted(d), ["0000:00:0e.0", "10000:e0:06.0", "10000:e1:00.0"], "addresses")
    eq(d["10000:e1:00.0"]["parent"], "10000:e0:06.0", "parent across the VMD domain")
    eq(d["10000:e1:00.0"]["passthrough_set"], ["0000:00:0e.0", "10000:e1:00.0"], "set")
    eq(d["10000:e1:00.0"]["verdict"], "shared", "verdict")
    r = report_json(root, "--device", "10000:e1:00.0")
    eq([x["address"] for x in r["devices"]], ["10000:e1:00.0"], "--device with 5 digits")


@test()
def report_missing_and_dangling_group_links(tmp):
    root = host(tmp)
    os.unlink(f"{root}/sys/bus/pci/devices/0000:00:14.0/iommu_group")
    shutil.rmtree(f"{root}/sys/kernel/iommu_groups/2")
    r = report_json(root)
    d = by_addr(r)
    eq((d["0000:00:14.0"]["iommu_group"], d["0000:00:14.0"]["verdict"]), (None, "no-group"), "missing link")
    eq((d["0000:00:02.0"]["iommu_group"], d["0000:00:02.0"]["verdict"]), (None, "no-group"), "dangling link")
    eq(len(r["warnings"]), 1, "one warning")
    contains(r["warnings"][0], f"0000:00:02.0: {root}/sys/bus/pci/devices/0000:00:02.0/iommu_group: "
             "links to group 2", "dangling link warning names the file")


@test()
def report_no_iommu(tmp):
    for mode in ("off", "empty"):
        root = host(os.path.join(tmp, mode), "iommu=" + mode + "\n" + HOST)
        r = report_json(root)
        eq(r["iommu"], False, mode + ": iommu")
        eq({d["verdict"] for d in r["devices"]}, {"no-iommu"}, mode + ": verdicts")
        eq({d["iommu_group"] for d in r["devices"]}, {None}, mode + ": groups")
        out = ptlua(["scripts/report.lua"], root=root).stdout
        contains(out, "IOMMU off", mode + ": summary")
        # the CPU's vendor unknown: both vendors' parameters, where this host's boot loader takes them
        contains(out, '2. Intel CPU: add "intel_iommu=on iommu=pt" to GRUB_CMDLINE_LINUX_DEFAULT in '
                 '/etc/default/grub, then run: update-grub && reboot', mode + ": Intel parameters")
        contains(out, 'AMD CPU: add "iommu=pt" to GRUB_CMDLINE_LINUX_DEFAULT', mode + ": AMD parameters")
        contains(out, "0000:01:00.0  VGA compatible controller", mode + ": devices still listed")
        p = ptlua(["scripts/report.lua", "--require-iommu"], root=root, check=1)
        contains(p.stderr, "the IOMMU is off", mode + ": --require-iommu")
    ptlua(["scripts/report.lua", "--require-iommu"], root=host(os.path.join(tmp, "on")))
    # an AMD host on systemd-boot: its own vendor's line, and the doctor's fix says the same
    os.makedirs(f"{root}/proc", exist_ok=True)
    os.makedirs(f"{root}/etc/kernel", exist_ok=True)
    with open(f"{root}/proc/cpuinfo", "w") as f:
        f.write("vendor_id\t: AuthenticAMD\nflags\t\t: fpu svm\n")
    with open(f"{root}/etc/kernel/cmdline", "w") as f:
        f.write("root=ZFS=rpool/ROOT/pve-1 boot=zfs\n")
    out = ptlua(["scripts/report.lua"], root=root).stdout
    fix = 'add "iommu=pt" to the line in /etc/kernel/cmdline, then run: proxmox-boot-tool refresh && reboot'
    contains(out, "1. Enable AMD-Vi / IOMMU in the firmware setup.\n  2. " + fix, "the AMD host's advice")
    assert "Intel" not in out.split("The IOMMU is off")[1], out
    doctor = json.loads(ptlua(["scripts/doctor.lua", "--json"], root=root, check=1).stdout)
    eq({c["id"]: c for c in doctor["checks"]}["iommu-kernel"]["fix"], fix, "the doctor's fix is the report's")


@test()
def report_bad_attributes(tmp):
    root = host(tmp)
    dev = f"{root}/sys/devices/pci0000:00/0000:00:1c.0/0000:02:01.0"
    # Without uevent the attribute files are read; a garbled uevent line is named.
    for a in ("0000:00:1c.0/0000:02:01.0", "0000:00:14.0", "0000:00:02.0"):
        os.unlink(f"{root}/sys/devices/pci0000:00/{a}/uevent")
    with open(f"{root}/sys/devices/pci0000:00/0000:00:1c.0/uevent", "a") as f:
        f.write("PCI_ID=zz\n")
    with open(f"{dev}/class", "w") as f:
        f.write("zz-not-a-class\n")
    usb = f"{root}/sys/devices/pci0000:00/0000:00:14.0"
    for attr in ("config", "vendor"):  # read() gives EISDIR
        os.unlink(f"{usb}/{attr}")
        os.mkdir(f"{usb}/{attr}")
    os.unlink(f"{root}/sys/devices/pci0000:00/0000:00:02.0/config")
    r = report_json(root)
    d = by_addr(r)
    eq(d["0000:02:01.0"]["class"], None, "garbled class is unknown, not guessed")
    eq(d["0000:02:01.0"]["passthrough_set"], ["0000:02:00.0", "0000:02:01.0"],
       "a device of unknown class still counts in its group")
    eq(d["0000:02:00.0"]["verdict"], "shared", "the NIC still shares")
    eq(d["0000:00:14.0"]["vendor_id"], "ffff", "unreadable config and vendor")
    eq(d["0000:00:14.0"]["device_id"], "a2af", "device from its attribute when config is unreadable")
    eq((d["0000:00:02.0"]["vendor_id"], d["0000:00:02.0"]["device_id"]), ("8086", "3e92"),
       "ids from the attributes without config")
    eq(d["0000:01:00.0"]["vendor_id"], "10de", "other devices unaffected")
    eq(r["warnings"], [
        f'0000:00:14.0: {root}/sys/bus/pci/devices/0000:00:14.0/vendor: Is a directory',
        f'0000:00:14.0: {root}/sys/bus/pci/devices/0000:00:14.0/config: Is a directory',
        f'0000:00:1c.0: {root}/sys/bus/pci/devices/0000:00:1c.0/uevent: invalid line "PCI_ID=zz"',
        f'0000:02:01.0: {root}/sys/bus/pci/devices/0000:02:01.0/class: invalid value "zz-not-a-class"',
    ], "warnings name the device and the file")
    p = ptlua(["scripts/report.lua"], root=root)
    contains(p.stderr, "warning: 0000:02:01.0:", "text report warns on stderr")


@test()
def report_not_sysfs(tmp):
    os.makedirs(f"{tmp}/etc")
    p = ptlua(["scripts/report.lua"], root=tmp, check=1)
    contains(p.stderr, f"{tmp}: not a sysfs tree: {tmp}/sys/bus/pci/devices: No such file or directory",
             "error")
    p = ptlua(["scripts/report.lua"], root=f"{tmp}/nonexistent", check=1)
    contains(p.stderr, f"{tmp}/nonexistent: No such file or directory", "missing root")


@test()
def report_stray_entries(tmp):
    """Entries that are not PCI addresses are skipped with a warning, the rest is listed."""
    root = host(tmp)
    os.symlink("nowhere", f"{root}/sys/bus/pci/devices/not-a-device")
    r = report_json(root)
    eq(len(r["devices"]), 11, "devices")
    contains(r["warnings"][0], "not-a-device: not a PCI address, skipped", "warning")


@test()
def report_sriov(tmp):
    root = host(tmp, """
0000:00:00.0 8086:3ec2 060000 group=0
0000:03:00.0 8086:1572 020000 group=10 driver=i40e totalvfs=4
0000:03:02.0 8086:154c 020000 group=11 driver=iavf physfn=0000:03:00.0
0000:03:02.1 8086:154c 020000 group=12 physfn=0000:03:00.0
""")
    d = by_addr(report_json(root))
    eq(d["0000:03:00.0"]["virtfns"], ["0000:03:02.0", "0000:03:02.1"], "virtfns")
    eq(d["0000:03:02.1"]["physfn"], "0000:03:00.0", "physfn")
    eq(d["0000:03:02.1"]["verdict"], "isolated", "vf verdict")
    eq(d["0000:03:00.0"]["flags"], ["2-vfs"], "pf flags")
    # A VF's config space reads ffff; the ids are the kernel's (uevent), as on hardware.
    with open(f"{root}/sys/bus/pci/devices/0000:03:02.1/config", "rb") as f:
        eq(f.read(4), b"\xff\xff\xff\xff", "the fixture's VF config")
    eq((d["0000:03:02.1"]["vendor_id"], d["0000:03:02.1"]["device_id"]), ("8086", "154c"), "vf ids")
    text = ptlua(["scripts/report.lua", "--device", "03:02.1"], root=root).stdout
    assert "ffff" not in text.lower() and "Illegal" not in text, text


@test()
def report_without_uevent(tmp):
    """A tree without uevent files: the ids, class and subsystem ids from the attribute files."""
    root = host(tmp, """
0000:00:00.0 8086:3ec2 060000 group=0 uevent=no
0000:01:00.0 10de:1b81 030000 group=1 subsys=1458:3702 uevent=no
""")
    d = by_addr(report_json(root))["0000:01:00.0"]
    eq((d["vendor_id"], d["device_id"], d["class"], d["subsystem_vendor_id"], d["subsystem_device_id"]),
       ("10de", "1b81", "030000", "1458", "3702"), "ids from attributes")


@test()
def report_real_host(tmp):
    """The machine the tests run on: the report runs and lists what sysfs lists."""
    if not os.path.isdir("/sys/bus/pci/devices"):
        from harness import Skip
        raise Skip("no /sys/bus/pci here")
    p = ptlua(["scripts/report.lua", "--json"])
    r = json.loads(p.stdout)
    eq(sorted(d["address"] for d in r["devices"]), sorted(os.listdir("/sys/bus/pci/devices")),
       "devices")
    eq(r["iommu"], bool(os.path.isdir("/sys/kernel/iommu_groups") and os.listdir("/sys/kernel/iommu_groups")),
       "iommu")


@test(timeout=120)
def report_partial_scan_answers_as_the_full_one(tmp):
    """pt.scan{devices = ...}: for every device it covers, the same record (verdict, set, group,
    parent, flags, guard) as the whole scan gives; it reads far fewer devices, and says so."""
    from harness import build_listing, listings
    script = os.path.join(tmp, "partial.lua")
    with open(script, "w") as f:
        f.write('''
local pt, json = require "pt", require "pt.json"
local full = assert(pt.scan())
local checked, fewer = 0, 0
for d in full:devices() do
  if d.class and (d.class >> 16 == 0x03 or d.class >> 16 == 0x02 or d.class >> 16 == 0x01) then
    local part = assert(pt.scan { devices = { d.address } })
    assert(part:partial() and not full:partial())
    assert(part:device(d.address), d.address)
    for p in part:devices() do
      local a, b = json.encode(p:fields()), json.encode(full:device(p.address):fields())
      if a ~= b then error(d.address .. ": " .. p.address .. " differs:\\n" .. a .. "\\n" .. b) end
      local xa, xb = p:explain(), full:device(p.address):explain()
      assert((xa and xa.reason) == (xb and xb.reason), p.address .. ": explanation")
      checked = checked + 1
    end
    if part:count() < full:count() then fewer = fewer + 1 end
  end
end
local slot = assert(pt.scan { devices = { "0000:01:00" } })
print(checked, fewer, slot:count() > 0)
local none, msg = pt.scan { devices = { "0000:7f:1f.7" } }
print(none, msg)
''')
    for name in listings()[:6]:
        root = build_listing(name, os.path.join(tmp, name))
        p = ptlua(["--trusted", script], root=root)
        checked, fewer, slot = p.stdout.splitlines()[0].split("\t")
        assert int(checked) > 0 and int(fewer) > 0, (name, p.stdout)
        contains(p.stdout, "nil\t0000:7f:1f.7: no such device", name + ": a device not there")


@test(timeout=180)
def report_scan_threads_give_the_one_thread_snapshot(tmp):
    """A host of 4096 functions is read on several threads (libpt/inventory/pci.c, scan_all): the report,
    its warnings in their order, and the descriptors left open are those of a scan on one CPU
    (taskset: the scan starts as many threads as the CPUs it may use)."""
    import subprocess
    import mkfixture
    from harness import PTLUA, TOP, Skip
    if len(os.sched_getaffinity(0)) < 2:
        raise Skip("one CPU: the scan runs on one thread")
    root = os.path.join(tmp, "root")
    mkfixture.build(mkfixture.generate(4096), root)
    devices = os.path.join(root, "sys", "bus", "pci", "devices")
    names = sorted(os.listdir(devices))
    for i, name in enumerate(names[100::509]):  # warnings from devices all over the host
        d = os.path.realpath(os.path.join(devices, name))
        if i % 2:
            with open(os.path.join(d, "uevent"), "a") as f:
                f.write("PCI_ID=zz\n")
        else:
            with open(os.path.join(d, "resource"), "w") as f:
                f.write("zz\n")
    script = os.path.join(tmp, "fds.lua")
    with open(script, "w") as f:
        f.write('local inv = pt.scan()\n'
                'local n = 0\n'
                'for _ in io.popen("ls /proc/" .. io.open("/proc/self/stat"):read("n") .. "/fd"):lines() do n = n + 1 end\n'
                'print(#inv:devices(), n)\n')
    out = {}
    for how in ([], ["taskset", "-c", "0"]):
        report = subprocess.run(how + [PTLUA, "--root", root, "scripts/report.lua", "--json"],
                                capture_output=True, text=True, cwd=TOP)
        eq(report.returncode, 0, f"{' '.join(how)} report: {report.stderr[-500:]}")
        fds = subprocess.run(how + [PTLUA, "--trusted", "--root", root, script], capture_output=True, text=True)
        out[bool(how)] = (report.stdout, report.stderr, fds.stdout)
    threads, one = out[False], out[True]
    eq(json.loads(threads[0])["warnings"], json.loads(one[0])["warnings"], "warnings, in order")
    contains(threads[0], "0000:", "the report lists devices")
    eq(len(json.loads(threads[0])["warnings"]) >= 8, True, "the damaged devices warned")
    eq(threads[0] == one[0], True, "the same report on several threads as on one")
    eq(threads[2], one[2], "devices and descriptors open after the scan")


@test()
def report_pcie_link(tmp):
    import sys
    sys.path.insert(0, os.path.dirname(__file__))
    from test_ccontract import LINKS
    root = build_spec(LINKS, os.path.join(tmp, "root"))
    os.makedirs(f"{root}/sys/bus/pci/slots/3")
    with open(f"{root}/sys/bus/pci/slots/3/address", "w") as f:
        f.write("0000:01:00\n")
    out = ptlua(["scripts/report.lua", "--link", "--class", "gpu"], root=root).stdout
    contains(out, "  link: x4 at 8.0 GT/s (it can do x16 at 16.0 GT/s)\n  link narrow: 0000:01:00.0: trained at x4 "
             "at 8.0 GT/s (Gen3), both ends can do x16 at 8.0 GT/s (Gen3)", "the narrow link, against the slot's Gen3")
    contains(out, "  link slow: 0000:02:00.0: at x16 at 2.5 GT/s (Gen1)", "the slow one, said as what it may be")
    assert out.count("link:") == 2, out  # the iGPU has no link attributes: no line
    r = json.loads(ptlua(["scripts/report.lua", "--device", "03:00.0", "--json"], root=root).stdout)
    eq(r["links"], {"0000:03:00.0": {"width": 4, "max_width": 4, "speed": 16000, "max_speed": 16000, "state": "ok",
                                     "why": None}}, "--device says the link")
    # a root port's link attributes are the link below it, as the real kernel shows them: a port
    # of x16 Gen4 over an x1 Gen1 device is that device's link, as good as its ends allow
    for dev in ("00:1c.0", "04:00.0"):
        r = json.loads(ptlua(["scripts/report.lua", "--device", dev, "--json"], root=root).stdout)
        eq([(k, v["state"]) for k, v in r["links"].items()], [(f"0000:{dev}", "ok")], f"{dev}: no narrow link")
    plain = json.loads(ptlua(["scripts/report.lua", "--json"], root=root).stdout)
    assert "links" not in plain, "no link reads without --link: the report's cost stays"
    doctor = json.loads(ptlua(["scripts/doctor.lua", "--device", "01:00.0", "--json"], root=root, check=1).stdout)
    link = {c["id"]: c for c in doctor["checks"]}["pcie-link"]
    eq((link["status"], link["evidence"].endswith("(slot 3)")), ("warn", True), "the doctor names the slot")
