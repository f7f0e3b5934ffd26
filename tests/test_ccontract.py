"""The C contract by layer (tests/test-contract-*.c, in the style of kmod's testsuite): each C test a
row with its fixture root, the kernel emulator's faults for an action, and the exact output it
must write; built against the library and run under valgrind (the sanitizers under
SANITIZE=1). And the coverage of the exported symbols by the C tests: every one called."""
import json
import os
import re
import subprocess
import time

from harness import CC_SAN, SANITIZE, TOP, build_spec, kemu_env, run, soname, test

# A host with a bit of everything the inventory says: a GPU with its audio (an override set, a
# ROM, a resizable BAR), an SR-IOV NIC and its VFs, an AMD GPU with the reset bug, GVT-g types on
# the IGD, an NVIDIA vGPU PF and VFs, USB devices, a stray entry in sysfs (a warning).
INV = """
0000:00:00.0 8086:3ec2 060000 group=0
0000:00:02.0 8086:3e92 030000 group=1 driver=i915 boot_vga=1
0000:00:01.0 8086:1901 060400 group=2 pcie=root driver=pcieport
0000:01:00.0 10de:2484 030000 group=2 driver=nouveau boot_vga=0 subsys=10de:14ae rev=a1 numa=0 rom=ROM
0000:01:00.1 10de:10f0 040300 group=2 driver=snd_hda_intel override=vfio-pci rev=a1
0000:00:1c.0 8086:a290 060400 group=3 pcie=root acs=on driver=pcieport
0000:03:00.0 8086:1521 020000 group=4 driver=igb totalvfs=4 parent=0000:00:1c.0
0000:03:10.0 8086:1520 020000 group=5 physfn=0000:03:00.0 driver=igbvf parent=0000:00:1c.0
0000:03:10.4 8086:1520 020000 group=6 physfn=0000:03:00.0 parent=0000:00:1c.0
0000:00:1d.0 8086:a298 060400 group=7 pcie=root driver=pcieport
0000:05:00.0 1002:67df 030000 group=8 driver=amdgpu boot_vga=0 parent=0000:00:1d.0
0000:00:1b.0 8086:a2e7 060400 group=9 pcie=root driver=pcieport
0000:06:00.0 10de:26b9 030200 group=10 driver=nvidia totalvfs=2 parent=0000:00:1b.0
0000:06:00.4 10de:26b9 030200 group=11 physfn=0000:06:00.0 driver=nvidia parent=0000:00:1b.0
0000:00:14.0 8086:a2af 0c0330 group=12 driver=xhci_hcd
usb 1-2 10c4:ea60 0000:00:14.0 serial=0001 manufacturer=Silicon,Labs product=CP2102N driver=cp210x tty=ttyUSB0 peer=2-2 devnum=3
usb 1-4 046d:c52b 0000:00:14.0 class=03 driver=usbhid speed=480
fb fb0 0000:00:02.0
fbcon
"""

MDEV_UUID = "4b20d080-1b54-4048-85b3-a6a62d165c01"


def write(path, data, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


def rom_image(vendor, device, code_type=0, last=True, blocks=2):
    """An option ROM image: 55 AA, its PCIR, an x86 image's checksum right."""
    img = bytearray(blocks * 512)
    img[0:2] = b"\x55\xaa"
    img[2] = blocks
    img[0x18:0x1a] = (0x40).to_bytes(2, "little")
    p = 0x40
    img[p:p + 4] = b"PCIR"
    img[p + 4:p + 6] = vendor.to_bytes(2, "little")
    img[p + 6:p + 8] = device.to_bytes(2, "little")
    img[p + 0x0a:p + 0x0c] = (0x18).to_bytes(2, "little")
    img[p + 0x0d:p + 0x10] = bytes([0, 0, 3])
    img[p + 0x10:p + 0x12] = blocks.to_bytes(2, "little")
    img[p + 0x14] = code_type
    img[p + 0x15] = 0x80 if last else 0
    if code_type == 0:
        img[-1] = (-sum(img)) & 0xff
    return bytes(img)


def inventory(root, tmp, more=""):
    rom = os.path.join(tmp, "gpu.rom")
    write(rom, rom_image(0x10de, 0x2484), "wb")
    build_spec(INV.replace("rom=ROM", f"rom={rom}") + more, root)
    sys_ = os.path.join(root, "sys")
    dev = lambda a: os.path.realpath(os.path.join(sys_, "bus/pci/devices", a))  # noqa: E731
    write(os.path.join(dev("0000:01:00.0"), "resource0_resize"), "0000000000003f00\n")
    os.makedirs(os.path.join(sys_, "bus/pci/devices/not-a-device"))  # a stray entry: a scan warning
    gpu = dev("0000:00:02.0")
    for t, name, avail in (("i915-GVTg_V5_4", "GVTg_V5_4", 2), ("i915-GVTg_V5_8", "GVTg_V5_8", 0)):
        d = os.path.join(gpu, "mdev_supported_types", t)
        write(os.path.join(d, "name"), name + "\n")
        write(os.path.join(d, "description"), "low_gm_size: 128MB\nhigh_gm_size: 512MB\n")
        write(os.path.join(d, "device_api"), "vfio-pci\n")
        write(os.path.join(d, "available_instances"), f"{avail}\n")
        write(os.path.join(d, "create"), "")
    os.makedirs(os.path.join(gpu, MDEV_UUID))
    os.symlink("../mdev_supported_types/i915-GVTg_V5_4", os.path.join(gpu, MDEV_UUID, "mdev_type"))
    os.makedirs(os.path.join(sys_, "class/mdev_bus"))
    os.symlink(gpu, os.path.join(sys_, "class/mdev_bus/0000:00:02.0"))
    os.makedirs(os.path.join(sys_, "bus/mdev/devices"))
    os.symlink(os.path.join(gpu, MDEV_UUID), os.path.join(sys_, "bus/mdev/devices", MDEV_UUID))
    vf = dev("0000:06:00.4")
    write(os.path.join(vf, "nvidia/creatable_vgpu_types"), "ID    : vGPU Name\n557   : NVIDIA L4-1Q\n558   : NVIDIA L4-2Q\n")
    write(os.path.join(vf, "nvidia/current_vgpu_type"), "557\n")
    write(os.path.join(root, "proc/cpuinfo"), "processor\t: 0\nvendor_id\t: GenuineIntel\n")
    return root


def amd(root, tmp):
    build_spec("0000:00:00.0 1022:1480 060000\niommu=empty\n", root)
    write(os.path.join(root, "proc/cpuinfo"), "processor\t: 0\nvendor_id\t: AuthenticAMD\n")
    write(os.path.join(root, "etc/kernel/cmdline"), "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n")
    return root


def compile_c(name, tmp):
    exe = os.path.join(tmp, name)
    run(["cc", *CC_SAN, "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-unused-function",
         "-Wno-missing-field-initializers", "-Werror",
         "-g", "-pthread", "-I", f"{TOP}/include", "-I", f"{TOP}/tests", "-o", exe, f"{TOP}/tests/{name}.c", "-L", TOP, "-lpt",
         f"-Wl,-rpath,{TOP}"], check=0)
    return exe


def quiet(text):
    """valgrind's notes of a system call it does not know (openat2, which the library falls back
    from) left out, so that the runner's tail shows what failed."""
    return re.sub(r"--\d+-- WARNING: unhandled .*\n(--\d+-- (?!WARNING).*\n)*", "", text)


def run_c(exe, roots, *args, env=None, valgrind=True):
    p = run([exe, roots, *args], valgrind=valgrind, check=None, env=env)
    p.stdout, p.stderr = quiet(p.stdout), quiet(p.stderr)
    print(p.stdout, p.stderr)
    assert p.returncode == 0 and p.stdout.rstrip().endswith(" 0 failed"), p.stdout + p.stderr


def roots_of(tmp, builders):
    roots = os.path.join(tmp, "roots")
    for name, build in builders.items():
        build(os.path.join(roots, name), tmp)
    return roots


def drivers_host(root, tmp):
    """tests/test_drivers.py's host (a variant driver for 15b3:101e), laid out as Linux 6.6+ with
    IOMMUFD (/dev/iommu, the bound 03:00.0's vfio-dev/vfio0), and ROOT-qemu9, a stand-in QEMU that
    lists the iommufd object as QEMU 9 does."""
    from test_drivers import SPEC
    build_spec(SPEC, root)
    write(os.path.join(root, "dev/iommu"), "")
    dev = os.path.realpath(os.path.join(root, "sys/bus/pci/devices/0000:03:00.0"))
    os.makedirs(os.path.join(dev, "vfio-dev/vfio0"))
    os.makedirs(os.path.join(root, "sys/class/vfio-dev"))
    write(os.path.join(dev, "power_state"), "D3cold\n")  # a device asleep, its port letting it
    write(os.path.join(dev, "d3cold_allowed"), "1\n")
    write(root + "-qemu9", '#!/bin/sh\nprintf "List of user creatable objects:\\n  iommufd\\n"\n')
    os.chmod(root + "-qemu9", 0o755)
    return root


BUILDERS_INVENTORY = {"drivers": drivers_host, "inv": inventory, "amd": amd}


@test(timeout=120)
def ccontract_inventory(tmp):
    exe = compile_c("test-contract-inventory", tmp)
    run_c(exe, roots_of(tmp, BUILDERS_INVENTORY))


BUILDERS_CONVENTIONS = {"inv": inventory}


@test(timeout=120)
def ccontract_conventions(tmp):
    """The scan's load flags, value structs of the caller's size, outputs only on success, and
    the pure helpers, on the inventory host."""
    exe = compile_c("test-contract-conventions", tmp)
    run_c(exe, roots_of(tmp, BUILDERS_CONVENTIONS))


def homelab(root, tmp):
    """tests/homelab.spec as node pve1 of a cluster: VM configs, a mapping, what pve2 (and
    hostile or broken nodes) published, pve2's report.lua --json."""
    with open(os.path.join(TOP, "tests/homelab.spec")) as f:
        build_spec(f.read(), root)
    write(os.path.join(root, "etc/hostname"), "pve1.example.org\n")
    write(os.path.join(root, "proc/cpuinfo"), "processor\t: 0\nvendor_id\t: GenuineIntel\n")
    write(os.path.join(root, "etc/pve/qemu-server/101.conf"), "machine: q35\nbios: ovmf\nhostpci0: 01:00,pcie=1,x-vga=1\n")
    write(os.path.join(root, "etc/pve/storage.cfg"), "# the node's storages\ndir: local\n\tpath /var/lib/vz\n"
          "\tcontent iso,vztmpl,backup,snippets\n\nzfspool: local-zfs\n\tpool rpool/data\n\tsparse\n\tcontent images,rootdir\n")
    write(os.path.join(root, "etc/pve/mapping/pci.cfg"),
          "hba\n\tmap id=1000:0097,node=pve1,path=0000:03:00.0\n\tmap id=1000:0097,node=pve2,path=0000:09:00.0\n")
    cols = ["address", "vendor_id", "device_id", "subsystem_vendor_id", "subsystem_device_id", "iommu_group", "physfn",
            "class"]
    now = int(time.time())
    rows = [["0000:0a:00.0", "10de", "2484", "10de", "146b", 7, None, "030000"],
            ["0000:0a:00.1", "10de", "228b", "10de", "146b", 7, None, "040300"],
            ["0000:0b:10.0", "8086", "1520", "8086", "1520", None, "0000:0b:00.0", "020000"]]
    published = {
        "pve2": dict(libpt=1, node="pve2", time=now - 60, columns=cols, devices=rows),
        "pve3": dict(libpt=1, node="pve3", time=now, columns=cols, devices=[rows[0], ["0000:0a:00.1", "10de"]]),
        "pve4": dict(libpt=1, node="pve2", time=now, columns=cols, devices=rows),
        "pve5": dict(libpt=1, node="pve5", time=100, columns=cols, devices=rows),
    }
    for node, report in published.items():
        write(os.path.join(root, f"etc/pve/nodes/{node}/libpt.json"), json.dumps(report))
    write(os.path.join(root, "etc/pve/nodes/pve6/libpt.json"), '{"libpt": 1, "libpt": 1}')
    os.makedirs(os.path.join(root, "etc/pve/nodes/pve7"))
    os.makedirs(os.path.join(root, "etc/pve/nodes/pve1"))
    write(os.path.join(root, "pve2-report.json"), json.dumps({"devices": [
        {"address": "0000:0a:00.0", "vendor_id": "10de", "device_id": "2484", "subsystem_vendor_id": "10de",
         "subsystem_device_id": "146b", "iommu_group": 7, "physfn": None}]}))
    return root


LINKS = """0000:00:00.0 8086:3e30 060000 group=0
0000:00:01.0 8086:1901 060400 group=1 pcie=root driver=pcieport link=4x8.0 maxlink=16x8.0
0000:01:00.0 10de:2484 030000 group=1 driver=nouveau boot_vga=0 parent=0000:00:01.0 link=4x8.0 maxlink=16x16.0
0000:00:01.1 8086:1905 060400 group=2 pcie=root driver=pcieport link=16x2.5 maxlink=16x16.0
0000:02:00.0 1002:73bf 030000 group=2 driver=amdgpu boot_vga=0 parent=0000:00:01.1 link=16x2.5 maxlink=16x16.0
0000:00:1b.0 8086:a340 060400 group=3 pcie=root driver=pcieport link=4x16.0 maxlink=4x16.0
0000:03:00.0 144d:a80a 010802 group=3 driver=nvme parent=0000:00:1b.0 link=4x16.0 maxlink=4x16.0 numa=0
0000:00:02.0 8086:3e98 030000 group=4 driver=i915 boot_vga=1
0000:00:1c.0 8086:a338 060400 group=5 pcie=root driver=pcieport link=1x2.5 maxlink=16x16.0
0000:04:00.0 8086:10d3 020000 group=5 driver=e1000e parent=0000:00:1c.0 link=1x2.5 maxlink=1x2.5
node 0 0-3,8-11
"""


def links(root, tmp):
    """PCIe links: a GPU at x4 in an x16 slot of Gen3, one at Gen1 of Gen4 (idle, or a slow slot),
    an NVMe as it should be, an integrated GPU with no link attributes."""
    build_spec(LINKS, root)


BUILDERS_ANALYSIS = {"homelab": homelab, "links": links}


@test(timeout=120)
def ccontract_analysis(tmp):
    exe = compile_c("test-contract-analysis", tmp)
    run_c(exe, roots_of(tmp, BUILDERS_ANALYSIS))


BUILDERS_CLUSTER = {"homelab": homelab}


@test(timeout=120)
def ccontract_cluster(tmp):
    """Cluster nodes' reports, this node's published, and Proxmox's section configs, on the
    homelab host as node pve1."""
    exe = compile_c("test-contract-cluster", tmp)
    run_c(exe, roots_of(tmp, BUILDERS_CLUSTER))


def emit_host(root, tmp, more=""):
    """The inventory host with a VM (100) and a GRUB file: what the emitters and plans read."""
    inventory(root, tmp, more)
    write(os.path.join(root, "etc/hostname"), "pve1\n")
    write(os.path.join(root, "etc/pve/qemu-server/100.conf"), "machine: q35\nbios: ovmf\nhostpci0: 05:00.0\n")
    write(os.path.join(root, "etc/default/grub"), 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    for d in ("etc/modprobe.d", "etc/udev/rules.d", "etc/initramfs-tools"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    return root


def place_host(root, tmp):
    """A two-socket host (tests/twonode.spec): VM 100 of 2 cores x 2 sockets and 8 GiB, VM 200
    pinning CPUs 8, 24 and 9 of node 1."""
    with open(os.path.join(TOP, "tests", "twonode.spec")) as f:
        build_spec(f.read(), root)
    write(os.path.join(root, "etc/pve/qemu-server/100.conf"), "cores: 2\nsockets: 2\nmemory: 8192\nmachine: q35\n")
    write(os.path.join(root, "etc/pve/qemu-server/200.conf"), "affinity: 8,24,9\nmemory: 2048\n")
    return root


BUILDERS_EMIT = {"emit": emit_host, "place": place_host}


@test(timeout=120)
def ccontract_emit(tmp):
    exe = compile_c("test-contract-emit", tmp)
    run_c(exe, roots_of(tmp, BUILDERS_EMIT))


def action_host(root, tmp):
    """The emitters' host with vfio-pci loaded, a PF's sriov files, a free vGPU VF, a storage
    for snippets, a link in /etc; the kernel emulator's list of native drivers beside it."""
    emit_host(root, tmp, "driver vfio-pci\n")
    pf = os.path.realpath(os.path.join(root, "sys/bus/pci/devices/0000:03:00.0"))
    write(os.path.join(pf, "sriov_numvfs"), "2\n")
    write(os.path.join(pf, "sriov_drivers_autoprobe"), "1\n")
    vf = os.path.realpath(os.path.join(root, "sys/bus/pci/devices/0000:06:00.4"))
    write(os.path.join(vf, "nvidia/current_vgpu_type"), "0\n")
    write(os.path.join(root, "etc/pve/storage.cfg"),
          "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,snippets\n\n"
          "zfspool: tank\n\tpool tank\n\tcontent images,rootdir\n")
    write(os.path.join(root, "sys/bus/pci/devices/0000:01:00.1/driver_override"), "(null)\n")
    write(os.path.join(root, "sys/bus/pci/devices/0000:00:00.0/reset_method"), "\n")  # no reset
    os.unlink(os.path.join(root, "sys/bus/pci/devices/0000:03:10.0/driver"))  # a new VF: no driver yet
    os.unlink(os.path.join(root, "sys/bus/pci/drivers/igbvf/0000:03:10.0"))
    os.makedirs(os.path.join(root, "var/lib/vz/snippets"))
    write(os.path.join(root, "link-target"), "theirs\n")
    os.symlink(os.path.join(root, "link-target"), os.path.join(root, "etc/link.conf"))
    kemu_env(root)
    return root


def console(root, tmp):
    """A desktop with one GPU (tests/test_holds.py's): fbcon on vtcon1, efifb on the GPU's memory,
    a display manager behind a stand-in systemctl (ROOT-systemctl) that notes what it is asked."""
    from test_holds import CONSOLE_SPEC
    build_spec(CONSOLE_SPEC, root)
    sys_ = os.path.join(root, "sys")
    write(os.path.join(sys_, "devices/virtual/vtconsole/vtcon0/bind"), "0\n")
    os.symlink("../../devices/virtual/vtconsole/vtcon0", os.path.join(sys_, "class/vtconsole/vtcon0"))
    drv = os.path.join(sys_, "bus/platform/drivers/efi-framebuffer")
    for f in ("bind", "unbind"):
        write(os.path.join(drv, f), "")
    os.makedirs(os.path.join(sys_, "devices/platform/efi-framebuffer.0"))
    os.makedirs(os.path.join(sys_, "bus/platform/devices"))
    os.symlink("../../../devices/platform/efi-framebuffer.0", os.path.join(sys_, "bus/platform/devices/efi-framebuffer.0"))
    os.symlink("../../../../devices/platform/efi-framebuffer.0", os.path.join(drv, "efi-framebuffer.0"))
    os.symlink("../../bus/platform/drivers/efi-framebuffer", os.path.join(sys_, "devices/platform/efi-framebuffer.0/driver"))
    log, state = root + "-systemctl.log", root + "-dm.state"
    write(state, "active\n")
    write(root + "-systemctl", "#!/bin/sh\n"
          f"echo \"$@\" >> {log}\n"
          f"case \"$1\" in is-active) grep -qx active {state};; stop) echo inactive > {state};;"
          f" start) echo active > {state};; esac\n")
    os.chmod(root + "-systemctl", 0o755)
    kemu_env(root)
    return root


def override_host(root, tmp):
    """The action host whose GPU's audio function is bound to its driver while its
    driver_override already names vfio-pci (set by hand, or by another tool)."""
    action_host(root, tmp)
    write(os.path.join(root, "sys/bus/pci/devices/0000:01:00.1/driver_override"), "vfio-pci\n")
    return root


def variant_host(root, tmp):
    """tests/test_drivers.py's host (a ConnectX VF whose variant driver is installed) with an Intel
    NIC that has none; vfio-pci and the variant loaded."""
    from test_drivers import SPEC
    build_spec(SPEC + "0000:04:00.0 8086:1533 020000 group=5 driver=igb\n"
               "driver vfio-pci\ndriver mlx5_vfio_pci\n", root)
    kemu_env(root)
    return root


BUILDERS_ACTIONS = {"act": action_host, "fault1": action_host, "fault2": action_host, "console": console,
                    "override": override_host, "variant": variant_host}


@test(timeout=180)
def ccontract_actions(tmp):
    """Against the kernel emulator: each row with the faults it injects (KEMU_FAULTS)."""
    exe = compile_c("test-contract-actions", tmp)
    roots = os.path.realpath(roots_of(tmp, BUILDERS_ACTIONS))
    run_c(exe, roots, env=kemu_env(os.path.join(roots, "act")))


def usb_host(root, tmp):
    """The inventory host with Proxmox's QMP socket directory."""
    inventory(root, tmp)
    os.makedirs(os.path.join(root, "var/run/qemu-server"))
    return root


BUILDERS_USB = {"usb": usb_host}


@test(timeout=120)
def ccontract_usb_qmp(tmp):
    """QMP against a fake peer, libusb under a fixture root; the udev monitor under
    umockdev-wrapper, in an empty testbed of its own (no event comes: a quiet, deterministic bus)."""
    exe = compile_c("test-contract-usb", tmp)
    roots = roots_of(tmp, BUILDERS_USB)
    run_c(exe, roots, "--", "qmp-by-vm-id", "qmp-peer-that-never-answers", "usb-host-elsewhere", "usb-attach-and-detach")
    bed = os.path.join(tmp, "testbed")
    os.makedirs(bed)
    env = dict(os.environ, UMOCKDEV_DIR=bed, ASAN_OPTIONS="verify_asan_link_order=0:detect_leaks=1")
    p = run(["umockdev-wrapper", exe, roots, "--", "monitor-quiet"], env=env, timeout=60)
    print(p.stdout, p.stderr)
    assert p.returncode == 0 and p.stdout.rstrip().endswith("1 passed, 0 failed"), p.stdout + p.stderr


# Exported symbols no C test calls yet, each with why (empty: every one is called).
NOT_YET = {}


def exported_symbols():
    """The library's exported functions: from the built library, else its version script."""
    so = os.path.join(TOP, soname())
    if os.path.exists(so):
        out = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True, text=True, check=True).stdout
        return {w[2].split("@")[0] for w in (l.split() for l in out.splitlines()) if len(w) == 3 and w[1] == "T"}
    with open(os.path.join(TOP, "libpt/libpt.sym")) as f:
        return set(re.findall(r"^\s*(pt_\w+);", f.read(), re.M))


def called_from_c_tests():
    """pt_* functions called from tests/*.c (and the header they share), comments and strings aside."""
    called = set()
    tests = os.path.join(TOP, "tests")
    for name in sorted(os.listdir(tests)):
        if not (name.endswith(".c") or name == "test-contract-common.h"):
            continue
        with open(os.path.join(tests, name)) as f:
            text = f.read()
        text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)
        text = re.sub(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', '""', text)
        called |= set(re.findall(r"\b(pt_\w+)\s*\(", text))
    return called


@test(timeout=30)
def ccontract_covers_every_export(tmp):
    exported = exported_symbols()
    called = called_from_c_tests() & exported
    missing = sorted(exported - called - set(NOT_YET))
    print(f"C tests call {len(called)} of {len(exported)} exported symbols ({100 * len(called) // len(exported)}%)")
    stale = sorted(set(NOT_YET) & called)
    assert not missing, "exported symbols no C test calls: " + ", ".join(missing)
    assert not stale, "in NOT_YET but called now (take them out): " + ", ".join(stale)
