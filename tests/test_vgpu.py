"""Mediated devices and vGPU (libpt/inventory/mdev.c, scripts/vgpu.lua) on fixture trees: Debian's kernel
has no mdev sample driver. An Intel GPU with GVT-g types and a live mdev, an NVIDIA PF with two
vGPU 17+ VFs; the report's JSON, the listing, and the VM configuration for each."""
import json
import os

from harness import build_spec, contains, eq, ptlua, report_json, run, test

SPEC = """
0000:00:02.0 8086:3e92 030000 group=0 driver=i915
0000:00:01.0 8086:1901 060400 group=1 driver=pcieport
0000:01:00.0 10de:26b9 030200 group=2 driver=nvidia totalvfs=2
0000:01:00.4 10de:26b9 030200 group=3 physfn=0000:01:00.0 driver=nvidia
0000:01:00.5 10de:26b9 030200 group=4 physfn=0000:01:00.0
0000:00:14.0 8086:a2af 0c0330 group=5 driver=xhci_hcd
"""

UUID = "4b20d080-1b54-4048-85b3-a6a62d165c01"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def host(tmp):
    root = build_spec(SPEC, os.path.join(tmp, "root"))
    gpu = os.path.realpath(os.path.join(root, "sys/bus/pci/devices/0000:00:02.0"))
    for t, name, avail in (("i915-GVTg_V5_4", "GVTg_V5_4", 2), ("i915-GVTg_V5_8", "GVTg_V5_8", 0)):
        d = os.path.join(gpu, "mdev_supported_types", t)
        write(os.path.join(d, "name"), name + "\n")
        write(os.path.join(d, "description"), f"low_gm_size: 128MB\nhigh_gm_size: 512MB\n")
        write(os.path.join(d, "device_api"), "vfio-pci\n")
        write(os.path.join(d, "available_instances"), f"{avail}\n")
    live = os.path.join(gpu, UUID)
    os.makedirs(live)
    os.symlink("../mdev_supported_types/i915-GVTg_V5_4", os.path.join(live, "mdev_type"))
    os.makedirs(os.path.join(gpu, "not-a-uuid"))  # ignored
    os.makedirs(os.path.join(root, "sys/class/mdev_bus"))
    os.symlink(gpu, os.path.join(root, "sys/class/mdev_bus/0000:00:02.0"))
    for vf, current in (("0000:01:00.4", "557\n"), ("0000:01:00.5", "0\n")):
        d = os.path.realpath(os.path.join(root, "sys/bus/pci/devices", vf))
        write(os.path.join(d, "nvidia/creatable_vgpu_types"), "ID    : vGPU Name\n557   : NVIDIA L4-1Q\n558   : NVIDIA L4-2Q\n")
        write(os.path.join(d, "nvidia/current_vgpu_type"), current)
    write(os.path.join(root, "etc/pve/qemu-server/100.conf"), "machine: q35\nhostpci0: 0000:00:14.0\n")
    return root


@test()
def vgpu_in_the_report_json(tmp):
    root = host(tmp)
    devs = {d["address"]: d for d in report_json(root)["devices"]}
    eq(devs["0000:00:02.0"]["mdev_types"], [
        {"type": "i915-GVTg_V5_4", "name": "GVTg_V5_4", "description": "low_gm_size: 128MB, high_gm_size: 512MB",
         "device_api": "vfio-pci", "available_instances": 2},
        {"type": "i915-GVTg_V5_8", "name": "GVTg_V5_8", "description": "low_gm_size: 128MB, high_gm_size: 512MB",
         "device_api": "vfio-pci", "available_instances": 0}], "the parent's types")
    eq(devs["0000:00:02.0"]["mdevs"], [{"uuid": UUID, "type": "i915-GVTg_V5_4"}], "the live mdev")
    eq((devs["0000:01:00.4"]["vgpu_types"], devs["0000:01:00.4"]["current_vgpu_type"]),
       ([{"id": 557, "name": "NVIDIA L4-1Q"}, {"id": 558, "name": "NVIDIA L4-2Q"}], 557), "a VF with a vGPU")
    eq(devs["0000:01:00.5"]["current_vgpu_type"], 0, "a VF without")
    eq("mdev_types" in devs["0000:00:14.0"] or "vgpu_types" in devs["0000:00:14.0"], False,
       "nothing on other devices")


@test()
def vgpu_listing_and_emission(tmp):
    root = host(tmp)
    out = ptlua(["scripts/vgpu.lua"], root=root).stdout
    contains(out, "0000:00:02.0:\n  type i915-GVTg_V5_4 (GVTg_V5_4): 2 instances left, low_gm_size: 128MB, "
             "high_gm_size: 512MB", "a type")
    contains(out, f"  mdev {UUID}: i915-GVTg_V5_4", "the live mdev")
    contains(out, "0000:01:00.4:\n  vGPU (NVIDIA 17+): current type 557\n  vGPU type 557: NVIDIA L4-1Q", "vGPU VF")
    eq(ptlua(["scripts/vgpu.lua", "--device", "0000:00:02.0", "--type", "i915-GVTg_V5_4", "--vm", "100"],
             root=root).stdout, "hostpci1: 0000:00:02.0,mdev=i915-GVTg_V5_4,pcie=1\n", "Proxmox: the next free hostpci")
    contains(ptlua(["scripts/vgpu.lua", "--device", "0000:00:02.0", "--type", "i915-GVTg_V5_4", "--vm", "100",
                    "--emit", "qm"], root=root).stdout, "qm set 100 --hostpci1 0000:00:02.0,mdev=i915-GVTg_V5_4,pcie=1",
             "qm set")
    p = ptlua(["scripts/vgpu.lua", "--device", "0000:00:02.0", "--type", "i915-GVTg_V5_8", "--vm", "100"],
              root=root, check=1)
    contains(p.stderr, "mdev type i915-GVTg_V5_8 on 0000:00:02.0: no instance available", "none left")
    p = ptlua(["scripts/vgpu.lua", "--device", "0000:00:02.0", "--type", "x,romfile=/etc/shadow", "--vm", "100"],
              root=root, check=1)
    contains(p.stderr, 'mdev type "x,romfile=/etc/shadow": 0000:00:02.0 offers i915-GVTg_V5_4, i915-GVTg_V5_8',
             "an unknown type refused")
    p = ptlua(["scripts/vgpu.lua", "--device", "0000:00:14.0", "--type", "t", "--vm", "100"], root=root, check=1)
    contains(p.stderr, "0000:00:14.0 offers no mediated device types", "not a parent")
    xml = ptlua(["scripts/vgpu.lua", "--device", "0000:00:02.0", "--uuid", UUID, "--emit", "libvirt"], root=root).stdout
    contains(xml, f"<hostdev mode='subsystem' type='mdev' model='vfio-pci'>\n  <source>\n"
             f"    <address uuid='{UUID}'/>", "libvirt hostdev")
    wrapped = os.path.join(tmp, "mdev-domain.xml")
    with open(wrapped, "w") as f:
        f.write("<domain type='kvm'><name>v</name><memory>1048576</memory><os><type>hvm</type></os>"
                "<devices>" + xml + "</devices></domain>")
    run(["virt-xml-validate", wrapped, "domain"], check=0)  # libvirt's schema takes it
    mapping = ptlua(["scripts/vgpu.lua", "--device", "0000:00:02.0", "--emit", "mapping", "--mapping", "igpu"],
                    root=root).stdout
    eq(mapping.splitlines()[:4], ["# /etc/pve/mapping/pci.cfg", "igpu",
                                  "\tmap id=8086:3e92,iommugroup=0,node=localhost,path=0000:00:02,subsystem-id=8086:3e92",
                                  "\tmdev 1"], "the cluster mapping provides mdevs")
    contains(mapping, "# in the VM: hostpciN: mapping=igpu,mdev=TYPE,pcie=1", "the VM's line")
    eq(ptlua(["scripts/vgpu.lua", "--device", "0000:00:02.0", "--uuid", UUID, "--emit", "qemu"], root=root).stdout,
       f"-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/{UUID}\n", "QEMU")
    p = ptlua(["scripts/vgpu.lua", "--device", "0000:00:02.0", "--uuid", "00000000-0000-0000-0000-000000000000",
               "--emit", "qemu"], root=root, check=1)
    contains(p.stderr, "0000:00:02.0 has no mdev 00000000-0000-0000-0000-000000000000", "an mdev it lacks")
    j = json.loads(ptlua(["scripts/vgpu.lua", "--json"], root=root).stdout)
    eq([p["address"] for p in j], ["0000:00:02.0", "0000:01:00.4", "0000:01:00.5"], "the JSON listing")
