"""Option ROMs (scripts/rom.lua, libpt/inventory/rom.c): a device's read through sysfs `rom` on the kernel
emulator, ROM files checked (ids, code types, checksums, a flashing tool's header, truncation),
saved where Proxmox looks, refused while a VM holds the device. The ROMs are QEMU's own iPXE
images (Debian's ipxe-qemu): a legacy x86 image and an EFI one for 8086:10d3."""
import json
import os

from harness import PTLUA, TOP, Skip, build_spec, contains, eq, kemu_env, run, test

EFI_ROM = "/usr/lib/ipxe/qemu/efi-e1000e.rom"  # x86 + EFI images
PXE_ROM = "/usr/lib/ipxe/qemu/pxe-e1000e.rom"  # the x86 image alone

SPEC = """
0000:00:01.0 8086:1901 060400 group=1 driver=pcieport
0000:01:00.0 8086:10d3 020000 group=1 driver=e1000e rom={rom}
0000:01:00.1 8086:10d3 020000 group=2 driver=e1000e
0000:02:00.0 10de:1b81 030000 group=3 driver=vfio-pci rom={rom}
"""


def rom_bytes(path=EFI_ROM):
    if not os.path.exists(path):
        raise Skip(f"{path} missing (Debian's ipxe-qemu)")
    with open(path, "rb") as f:
        return f.read()


def host(tmp):
    rom_bytes()
    return build_spec(SPEC.format(rom=EFI_ROM), os.path.join(tmp, "root"))


def rom(root, *args, check=0, env=None):
    return run([PTLUA, "--root", root, "scripts/rom.lua", *args], check=check, cwd=TOP, env=env)


def put_romfile(root, name, data):
    d = os.path.join(root, "usr", "share", "kvm")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


@test()
def rom_read_from_the_device_and_saved(tmp):
    root = host(tmp)
    env = kemu_env(root)
    dry = rom(root, "--device", "0000:01:00.0", "--save", "e1000e.rom", "--dry-run", env=env)
    attr = "/sys/bus/pci/devices/0000:01:00.0/rom"
    eq(dry.stdout.splitlines(), [f"write '1' to {attr}; read it; write '0' to {attr}",
                                 "write the ROM's images to /usr/share/kvm/e1000e.rom"], "dry run")
    writes = os.path.join(root, "sys/bus/pci/devices/0000:01:00.0/.rom_writes")
    eq(os.path.exists(writes), False, "the dry run wrote nothing")
    p = rom(root, "--device", "0000:01:00.0", "--save", "e1000e.rom", env=env)
    eq(p.stdout.splitlines()[:3], [
        f"{attr}: 244 KiB, 2 images",
        "  image 1 at 0x0: x86 (legacy BIOS), 73.5 KiB, 8086:10d3, checksum ok",
        "  image 2 at 0x12600: EFI (x64), 170.5 KiB, 8086:10d3, last"], "the images")
    contains(p.stdout, "use it: hostpciN: 0000:01:00.0,romfile=e1000e.rom", "romfile= to use")
    with open(writes) as f:
        eq(f.read(), "1\n0\n", "rom enabled, then disabled again")
    with open(os.path.join(root, "usr/share/kvm/e1000e.rom"), "rb") as f:
        eq(f.read() == rom_bytes(), True, "the saved file is the ROM")
    again = rom(root, "--device", "0000:01:00.0", "--save", "e1000e.rom", env=env)
    contains(again.stdout, "(the old one kept as ", "a second save keeps the first")


@test()
def rom_json_and_the_device_it_is_for(tmp):
    root = host(tmp)
    put_romfile(root, "nic.rom", rom_bytes())
    j = json.loads(rom(root, "--file", "nic.rom", "--device", "0000:01:00.1", "--json").stdout)
    eq([(i["code"], i["vendor_id"], i["device_id"], i["matches"]) for i in j["images"]],
       [("x86 (legacy BIOS)", "8086", "10d3", True), ("EFI", "8086", "10d3", True)], "images")
    eq((j["ok"], j["start"], j["end"], j["size"]), (True, 0, 249856, 249856), "the whole file")
    eq(j["images"][1]["efi_machine"], "8664", "an x64 EFI image")
    # the same file for the GPU: both images are for another device
    p = rom(root, "--file", "nic.rom", "--device", "0000:02:00.0", check=1)
    contains(p.stdout, "error: image 1 is for 8086:10d3, not for 0000:02:00.0 (10de:1b81)", "mismatch")


@test()
def rom_a_tool_header_is_found_and_left_out(tmp):
    root = host(tmp)
    data = rom_bytes()
    put_romfile(root, "dump.rom", b"NVGI" + bytes(0x3fc) + data)
    p = rom(root, "--file", "dump.rom", "--save", "clean.rom")
    contains(p.stdout, "note: 1024 bytes before the first image (a flashing tool's header)", "header")
    contains(p.stdout, "image 1 at 0x400:", "offsets in the file")
    with open(os.path.join(root, "usr/share/kvm/clean.rom"), "rb") as f:
        eq(f.read() == data, True, "the saved copy is the image alone")


@test()
def rom_defects_named(tmp):
    root = host(tmp)
    data = bytearray(rom_bytes())
    put_romfile(root, "legacy.rom", rom_bytes(PXE_ROM))
    contains(rom(root, "--file", "legacy.rom").stdout, "warning: no EFI image: under OVMF the screen "
             "stays dark", "no EFI image")
    bad = bytearray(data)
    bad[100] ^= 0xff
    put_romfile(root, "bad.rom", bytes(bad))
    contains(rom(root, "--file", "bad.rom", check=1).stdout,
             "error: image 1: its bytes do not sum to 0", "checksum")
    put_romfile(root, "cut.rom", bytes(data[:100000]))
    contains(rom(root, "--file", "cut.rom", check=1).stdout,
             "error: the last image runs past the end of the data (a truncated dump?)", "truncated")
    put_romfile(root, "text.rom", b"not a rom\n" * 100)
    contains(rom(root, "--file", "text.rom", check=1).stderr,
             "/usr/share/kvm/text.rom: no option ROM image: no 55 AA signature", "not a ROM")
    put_romfile(root, "saved.rom", b"keep")
    rom(root, "--file", "bad.rom", "--save", "saved.rom", check=1)
    with open(os.path.join(root, "usr/share/kvm/saved.rom"), "rb") as f:
        eq(f.read(), b"keep", "a ROM with errors is not saved")
    for bad_name in ("../etc/passwd", ".hidden", "a/b", ""):
        p = rom(root, "--file", bad_name, check=1)
        contains(p.stderr, "a file name in /usr/share/kvm/", f"name {bad_name!r} refused")
    contains(rom(root, "--file", "missing.rom", check=1).stderr,
             f"{root}/usr/share/kvm/missing.rom: No such file or directory", "missing file")


@test()
def rom_refused_while_a_vm_holds_the_device(tmp):
    root = host(tmp)
    # QEMU (pid 4242) holding the GPU's VFIO group, as /proc shows it
    fd = os.path.join(root, "proc", "4242", "fd")
    os.makedirs(fd)
    os.symlink("/dev/vfio/3", os.path.join(fd, "17"))
    env = kemu_env(root)
    p = rom(root, "--device", "0000:02:00.0", check=1, env=env)
    contains(p.stderr, "0000:02:00.0: process 4242 holds /dev/vfio/3 (a VM is using the device)", "refused")
    eq(os.path.exists(os.path.join(root, "sys/bus/pci/devices/0000:02:00.0/.rom_writes")), False,
       "rom not touched")
    os.unlink(os.path.join(fd, "17"))
    p = rom(root, "--device", "0000:02:00.0", check=1, env=env)  # read now: the fixture's GPU has the NIC's ROM
    contains(p.stdout, "error: image 1 is for 8086:10d3, not for 0000:02:00.0 (10de:1b81)", "read once free")
    p = rom(root, "--device", "0000:01:00.1", check=1, env=env)
    contains(p.stderr, "0000:01:00.1: has no expansion ROM", "no ROM BAR")


@test()
def rom_lint_checks_a_vm_romfile(tmp):
    root = host(tmp)
    put_romfile(root, "nic.rom", rom_bytes())
    put_romfile(root, "legacy.rom", rom_bytes(PXE_ROM))
    put_romfile(root, "dump.rom", bytes(512) + rom_bytes())
    conf = os.path.join(root, "etc", "pve", "qemu-server")
    os.makedirs(conf)
    for vm, line, bios in ((100, "0000:01:00.0,romfile=nic.rom", "ovmf"),
                           (101, "0000:02:00.0,romfile=nic.rom", "seabios"),
                           (102, "0000:01:00.0,romfile=legacy.rom", "ovmf"),
                           (103, "0000:01:00.0,romfile=gone.rom", "seabios"),
                           (104, "0000:01:00.0,romfile=dump.rom", "seabios")):
        with open(os.path.join(conf, f"{vm}.conf"), "w") as f:
            f.write(f"bios: {bios}\nhostpci0: {line}\n")
    p = run([PTLUA, "--root", root, "scripts/lint.lua"], check=1, cwd=TOP)
    lines = [l for l in p.stdout.splitlines() if "romfile" in l]
    eq([l.split(":")[0] for l in lines], ["101 hostpci0", "101 hostpci0", "102 hostpci0", "103 hostpci0",
                                          "104 hostpci0"], "one finding each, none for VM 100")
    contains(p.stdout, "101 hostpci0: romfile nic.rom: image 1 is for 8086:10d3, not for 0000:02:00.0 (10de:1b81)",
             "the wrong device")
    contains(p.stdout, "102 hostpci0: romfile legacy.rom has no EFI image: with bios: ovmf", "no EFI for OVMF")
    contains(p.stdout, f"103 hostpci0: romfile gone.rom: {root}/usr/share/kvm/gone.rom: No such file or directory: "
             "the VM cannot start", "missing")
    contains(p.stdout, "104 hostpci0: romfile dump.rom: 512 bytes before its first image", "a header")
