"""The doctor: every check in both directions, on fixture hosts."""
import json
import os
import subprocess

from harness import report_json, build_spec, contains, eq, ptlua, test

KERNEL = "6.1.0-99-amd64"
DEVICES = """
0000:00:00.0 8086:3ec2 060000 group=0
0000:00:02.0 8086:3e92 030000 group=1 driver=i915 boot_vga=1
0000:00:01.0 8086:1901 060400 group=2 pcie=root
0000:01:00.0 10de:1b81 030000 group=2 driver=nouveau boot_vga=0
0000:01:00.1 10de:10f0 040300 group=2 driver=snd_hda_intel
0000:00:1c.0 8086:a290 060400 group=3 pcie=root acs=on
0000:02:00.0 10de:1b81 030000 group=4 driver=nouveau parent=0000:00:1c.0
0000:00:1d.0 8086:a298 060400 group=5 pcie=root acs=on
0000:03:00.0 1002:67df 030000 group=6 driver=amdgpu parent=0000:00:1d.0
0000:00:1b.0 8086:a2e7 060400 group=7 pcie=root acs=none
0000:04:00.0 8086:1533 020000 group=7 driver=igb parent=0000:00:1b.0 reset_method=-
0000:04:01.0 1b21:0612 010601 group=7 driver=ahci parent=0000:00:1b.0
"""
GOOD = {
    "proc/cpuinfo": "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse vmx smx\n",
    "proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/sda2 ro quiet intel_iommu=on iommu=pt\n",
    "proc/interrupts": "           CPU0\n 24:          0  IR-PCI-MSI 512000-edge      ahci\n",
    "proc/sys/kernel/osrelease": KERNEL + "\n",
    "sys/firmware/acpi/tables/DMAR": "DMAR",
    "etc/modprobe.d/vfio.conf": "options vfio-pci ids=10de:10f0\nsoftdep snd_hda_intel pre: vfio-pci\n",
}


def fake_module(root, name, path):
    """A module file libkmod and depmod accept: an object with a .modinfo section."""
    src = os.path.join(root, "mod.c")
    with open(src, "w") as f:
        f.write('__attribute__((section(".modinfo"), used)) static const char i[] = '
                f'"license=GPL\\0name={name}\\0vermagic={KERNEL} SMP mod_unload \\0";\n')
    full = os.path.join(root, "lib", "modules", KERNEL, "kernel", path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    subprocess.run(["cc", "-c", "-o", full, src], check=True)
    os.unlink(src)


def host(tmp, files=None, modules=("vfio", "vfio_pci", "vfio_iommu_type1"), devices=DEVICES):
    root = build_spec(devices, os.path.join(tmp, "root"))
    for path, text in dict(GOOD, **(files or {})).items():
        full = os.path.join(root, path)
        if text is None:
            continue
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    for name in modules:
        fake_module(root, name, f"drivers/vfio/{name.replace('_', '-')}.ko")
    os.makedirs(os.path.join(root, "lib", "modules", KERNEL), exist_ok=True)
    subprocess.run(["/sbin/depmod" if os.path.exists("/sbin/depmod") else "depmod", "-b", root, KERNEL],
                   check=True, capture_output=True)
    return root


def doctor(root, *args, check=None):
    p = ptlua(["scripts/doctor.lua", "--json", *args], root=root, check=check)
    return {c["id"]: c for c in json.loads(p.stdout)["checks"]}, p.returncode


@test(timeout=120)
def doctor_ready_host(tmp):
    checks, rc = doctor(host(tmp), check=0)
    eq({k: c["status"] for k, c in checks.items()}, {
        "cpu-virtualization": "pass", "iommu-firmware": "pass", "iommu-kernel": "pass",
        "kernel-cmdline": "pass", "default-domain": "pass", "interrupt-remapping": "pass",
        "acs-override": "pass", "vfio-modules": "pass", "vfio-blocked": "pass", "vfio-ids": "pass"},
        "all pass")
    contains(checks["vfio-modules"]["evidence"], f"vfio_pci: loadable ({tmp}/root/lib/modules/{KERNEL}/kernel/"
             "drivers/vfio/vfio-pci.ko)", "module found through libkmod")
    contains(checks["cpu-virtualization"]["evidence"], "/proc/cpuinfo flags: vmx", "evidence")
    contains(checks["vfio-ids"]["evidence"], "vfio.conf:1: ids 10de:10f0 matches 0000:01:00.1", "ids")


@test(timeout=120)
def doctor_unready_host(tmp):
    root = host(tmp, files={
        "proc/cpuinfo": "vendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse\n",
        "proc/cmdline": "root=/dev/sda2 ro quiet pcie_acs_override=downstream,multifunction\n",
        "proc/interrupts": "  24:  0  PCI-MSI 512000-edge  ahci\n",
        "sys/firmware/acpi/tables/DMAR": None,
        "etc/modprobe.d/vfio.conf": "options vfio-pci ids=10de:1b81,10de:10f0\n",
        "etc/modprobe.d/blacklist.conf": "# keep it away\nblacklist vfio_pci\ninstall vfio_iommu_type1 /bin/false\n",
    }, modules=("vfio",))
    os.makedirs(os.path.join(root, "sys/firmware/acpi/tables"), exist_ok=True)
    checks, rc = doctor(root, check=1)
    status = {k: c["status"] for k, c in checks.items()}
    eq(status, {
        "cpu-virtualization": "fail", "iommu-firmware": "fail", "iommu-kernel": "pass",
        "kernel-cmdline": "pass", "default-domain": "warn", "interrupt-remapping": "warn",
        "acs-override": "warn", "vfio-modules": "fail", "vfio-blocked": "fail", "vfio-ids": "warn"},
        "statuses")
    contains(checks["vfio-blocked"]["evidence"], f"{root}/etc/modprobe.d/blacklist.conf:2: blacklist vfio_pci",
             "blacklist with file and line")
    contains(checks["vfio-blocked"]["evidence"], "blacklist.conf:3: install vfio_iommu_type1 /bin/false",
             "install rule")
    contains(checks["vfio-blocked"]["fix"], "delete line 2 of", "fix names the line")
    contains(checks["vfio-ids"]["evidence"], "ids 10de:1b81 matches 0000:01:00.0 and 0000:02:00.0",
             "two identical GPUs")
    contains(checks["vfio-modules"]["evidence"], "vfio_pci: missing", "missing module")
    contains(checks["acs-override"]["evidence"], "pcie_acs_override=downstream,multifunction", "override")
    contains(checks["default-domain"]["fix"], "iommu=pt", "fix")
    contains(checks["interrupt-remapping"]["fix"], "allow_unsafe_interrupts=1", "fix")


@test(timeout=120)
def doctor_iommu_off(tmp):
    root = host(tmp, files={"proc/cmdline": "root=/dev/sda2 ro quiet\n"},
                devices="iommu=off\n" + DEVICES)
    checks, _ = doctor(root, check=1)
    eq((checks["iommu-kernel"]["status"], checks["kernel-cmdline"]["status"]), ("fail", "fail"), "off")
    contains(checks["kernel-cmdline"]["fix"], 'add "intel_iommu=on iommu=pt" to GRUB_CMDLINE_LINUX_DEFAULT', "grub")
    os.makedirs(os.path.join(root, "etc", "kernel"))
    with open(os.path.join(root, "etc", "kernel", "cmdline"), "w") as f:
        f.write("root=ZFS=rpool/ROOT/pve-1 boot=zfs\n")
    checks, _ = doctor(root, check=1)
    contains(checks["kernel-cmdline"]["fix"], "/etc/kernel/cmdline, then run: proxmox-boot-tool refresh",
             "systemd-boot")
    root2 = host(os.path.join(tmp, "2"), files={"proc/cmdline": "quiet intel_iommu=off\n"})
    checks, _ = doctor(root2, check=1)
    eq(checks["kernel-cmdline"]["status"], "fail", "intel_iommu=off")


@test(timeout=120)
def doctor_devices(tmp):
    root = host(tmp)
    checks, _ = doctor(root, "--device", "01:00.1", check=0)
    eq({k: checks[k]["status"] for k in ("reset", "large-bar", "softdep", "group", "guard")},
       {"reset": "pass", "large-bar": "pass", "softdep": "pass", "group": "pass", "guard": "pass"}, "gpu audio")
    contains(checks["softdep"]["evidence"], "vfio.conf:2: softdep snd_hda_intel pre: vfio-pci", "softdep")
    checks, _ = doctor(host(os.path.join(tmp, "b"), files={"etc/modprobe.d/vfio.conf": "options vfio-pci ids=10de:10f0\n"}),
                       "--device", "01:00.1", check=0)
    eq(checks["softdep"]["status"], "warn", "softdep missing")
    contains(checks["softdep"]["fix"], "softdep snd_hda_intel pre: vfio-pci", "fix")
    checks, _ = doctor(root, "--device", "00:02.0", check=1)
    eq((checks["boot-vga"]["status"], checks["guard"]["status"]), ("warn", "fail"), "boot vga")
    contains(checks["guard"]["evidence"], "boot VGA device (boot_vga = 1)", "guard reason")
    checks, _ = doctor(root, "--device", "03:00.0", check=1)
    eq(checks["amd-reset-bug"]["status"], "fail", "Polaris without vendor-reset")
    contains(checks["amd-reset-bug"]["evidence"], "1002:67df is an AMD Polaris 10 GPU", "family")
    os.makedirs(os.path.join(root, "sys/module/vendor_reset"))
    with open(os.path.join(root, "sys/devices/pci0000:00/0000:00:1d.0/0000:03:00.0/reset_method"), "w") as f:
        f.write("device_specific\n")
    checks, _ = doctor(root, "--device", "03:00.0", check=0)
    eq(checks["amd-reset-bug"]["status"], "pass", "vendor-reset loaded and selected")
    checks, _ = doctor(root, "--device", "04:00.0", check=0)
    eq((checks["reset"]["status"], checks["group"]["status"]), ("warn", "warn"), "no reset, shared group")
    contains(checks["group"]["evidence"], "0000:00:1b.0, the root port above 0000:04:00.0, has no ACS", "why")
    contains(checks["group"]["fix"], "Move the card to a slot", "fix")
    res = os.path.join(root, "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/resource")
    with open(res, "w") as f:
        f.write("0x00000000f6000000 0x00000000f6ffffff 0x0000000000040200\n"
                "0x000000e000000000 0x000000e3ffffffff 0x000000000014220c\n" +
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n" * 11)
    checks, _ = doctor(root, "--device", "01:00.0", check=0)
    eq(checks["large-bar"]["status"], "warn", "16 GiB BAR")
    contains(checks["large-bar"]["evidence"], "BAR1: 16384 MiB", "evidence")
    contains(checks["large-bar"]["fix"], "a 64-bit MMIO window of 64 GiB: qm set VMID --args '-fw_cfg "
             "name=opt/ovmf/X-PciMmio64Mb,string=65536 -global q35-pcihost.pci-hole64-size=64G'", "the window")
    # Resizable BAR (Linux 6.1+): bit n of resourceN_resize for 2^n MiB
    with open(os.path.join(os.path.dirname(res), "resource1_resize"), "w") as f:
        f.write("0000000000007ff0\n")  # 16 MiB to 16 GiB
    checks, _ = doctor(root, "--device", "01:00.0", check=0)
    contains(checks["large-bar"]["evidence"], "BAR1: 16384 MiB (resizable: 16 MiB-16 GiB)", "the sizes it takes")
    dev = {d["address"]: d for d in report_json(root)["devices"]}["0000:01:00.0"]
    eq(dev["bar_resizable"], {"1": [16 << i for i in range(11)]}, "in the report's JSON")
    with open(res, "w") as f:
        f.write("0x000000e000000000 0x000000efffffffff 0x000000000014220c\n" * 2 +
                "0x0000000000000000 0x0000000000000000 0x0000000000000000\n" * 11)
    checks, _ = doctor(root, "--device", "01:00.0", check=0)
    contains(checks["large-bar"]["fix"], "a 64-bit MMIO window of 256 GiB", "twice two 64 GiB BARs, a power of two")


@test()
def doctor_text(tmp):
    p = ptlua(["scripts/doctor.lua"], root=host(tmp), check=0)
    contains(p.stdout, "[PASS] cpu-virtualization: CPU virtualization extensions\n       evidence: ", "line")
    contains(p.stdout, "10 checks, 0 failed", "summary")
