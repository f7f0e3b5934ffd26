"""A device on its vfio-pci variant driver (mlx5_vfio_pci) is on VFIO as much as one on vfio-pci:
a reset and a ROM read take it as free of host drivers and refuse it while a VM holds its group,
lint and the doctor take it as no host driver's, and the host plan never writes the variant as the
device's host driver (softdep, blacklist). And the host plan's udev rules for D3cold and
vendor-reset are for every set persisted, not only the last one."""
import json
import os

from harness import PTLUA, TOP, contains, eq, kemu_env, ptlua, run, test
from test_drivers import host

# a group of two: an igb a VM gets, and a ConnectX function on its variant beside it; another
# such group with the ConnectX function on its host driver; a function with an option ROM on
# its variant; a NIC without variant
MORE = """0000:05:00.0 8086:1533 020000 group=6 driver=igb
0000:05:00.1 15b3:101e 020000 group=6 driver=mlx5_vfio_pci
0000:06:00.0 8086:1533 020000 group=7 driver=igb
0000:06:00.1 15b3:101e 020000 group=7 driver=mlx5_core
0000:07:00.0 15b3:101e 020000 group=8 driver=mlx5_vfio_pci rom={rom}
0000:08:00.0 8086:10d3 020000 group=9 driver=e1000e
"""


def variant_host(tmp):
    rom = os.path.join(tmp, "nic.rom")
    with open(rom, "wb") as f:
        f.write(b"\x55\xaa" + bytes(4094))
    root = host(tmp, MORE.format(rom=rom))
    for d in ("etc/modprobe.d", "etc/udev/rules.d", "etc/initramfs-tools", "etc/default"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "etc/default/grub"), "w") as f:
        f.write('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    return root


def hold_group(root, pid, group):
    """QEMU (pid) holding a VFIO group, as /proc shows it."""
    fd = os.path.join(root, "proc", str(pid), "fd")
    os.makedirs(fd, exist_ok=True)
    os.symlink(f"/dev/vfio/{group}", os.path.join(fd, "9"))


def persist(root, *args, check=0):
    return ptlua(["scripts/persist.lua", *args], root=root, check=check)


@test(timeout=120)
def variant_reset_and_rom_as_vfio(tmp):
    root = variant_host(tmp)
    p = run([PTLUA, "--root", root, "scripts/reset.lua", "--device", "01:00.0", "--dry-run"], check=0, cwd=TOP,
            env=kemu_env(root))
    contains(p.stdout, f"write '1' to {root}/sys/bus/pci/devices/0000:01:00.0/reset", "on its variant: free to reset")
    p = run([PTLUA, "--root", root, "scripts/reset.lua", "--device", "02:00.0", "--dry-run"], check=1, cwd=TOP,
            env=kemu_env(root))
    contains(p.stderr, "0000:02:00.0: bound to mlx5_core: a reset would pull the device from under its driver",
             "on its host driver: refused")
    hold_group(root, 777, 2)
    p = run([PTLUA, "--root", root, "scripts/reset.lua", "--device", "01:00.0"], check=1, cwd=TOP, env=kemu_env(root))
    contains(p.stderr, "0000:01:00.0: process 777 holds /dev/vfio/2 (a VM is using the device): a reset refused",
             "a VM holds its group")
    hold_group(root, 4242, 8)
    p = run([PTLUA, "--root", root, "scripts/rom.lua", "--device", "07:00.0"], check=1, cwd=TOP, env=kemu_env(root))
    contains(p.stderr, "0000:07:00.0: process 4242 holds /dev/vfio/8 (a VM is using the device)", "no ROM read")
    eq(os.path.exists(os.path.join(root, "sys/bus/pci/devices/0000:07:00.0/.rom_writes")), False, "rom not touched")


@test(timeout=120)
def variant_lint_and_doctor_as_vfio(tmp):
    root = variant_host(tmp)
    with open(os.path.join(root, "etc/pve/qemu-server/100.conf"), "w") as f:
        f.write("machine: q35\nhostpci0: 05:00.0,pcie=1\n")
    with open(os.path.join(root, "etc/pve/qemu-server/101.conf"), "w") as f:
        f.write("machine: q35\nhostpci0: 06:00.0,pcie=1\n")
    out = ptlua(["scripts/lint.lua"], root=root, check=None).stdout
    assert "0000:05:00.1" not in out, f"a member on its variant keeps no VM from starting: {out}"
    contains(out, "101 hostpci0: 0000:06:00.0 shares IOMMU group 7 with 0000:06:00.1, which the VM does not get "
             "and mlx5_core holds: the VM cannot start", "a member on its host driver does")
    with open(os.path.join(root, "etc/modprobe.d/vfio.conf"), "w") as f:
        f.write("options vfio-pci ids=15b3:101e\n")

    def softdep(device):
        report = json.loads(ptlua(["scripts/doctor.lua", "--device", device, "--json"], root=root, check=None).stdout)
        return {c["id"]: c for c in report["checks"]}.get("softdep")

    eq(softdep("01:00.0"), None, "on its variant: no softdep asked for the variant")
    c = softdep("02:00.0")
    eq(c["status"], "warn", "on its host driver: the softdep missing")
    contains(c["evidence"], "0000:02:00.0 is in vfio-pci ids= but bound to mlx5_core", "named")


@test(timeout=120)
def variant_host_plan_never_takes_the_variant_for_the_host_driver(tmp):
    root = variant_host(tmp)
    out = persist(root, "--device", "01:00.0", "--blacklist").stdout
    for line in ("softdep mlx5_vfio_pci", "0000:01:00.0=mlx5_vfio_pci", "blacklist mlx5_vfio_pci"):
        assert line not in out, f"{line}: the variant is no host driver\n{out}"
    contains(out, "+# 0000:01:00.0 is on its vfio-pci variant mlx5_vfio_pci, which hides its host driver: no softdep "
             "for it (give it back to its host driver, then persist it again)", "said")
    # its host driver as an earlier plan recorded it, while it was there
    with open(os.path.join(root, "etc/modprobe.d/libpt-vfio.conf"), "w") as f:
        f.write("# Written by libpt: 0000:01:00.0 go to vfio-pci at boot.\n"
                "# Their host drivers: 0000:01:00.0=mlx5_core\nsoftdep mlx5_core pre: vfio-pci\n")
    out = persist(root, "--device", "01:00.0", "--blacklist").stdout
    contains(out, "\n # Their host drivers: 0000:01:00.0=mlx5_core\n softdep mlx5_core pre: vfio-pci\n",
             "the record and its softdep kept")
    contains(out, "+# not blacklisted: mlx5_core also drives 0000:02:00.0", "its host driver's blacklist decided")
    assert "mlx5_vfio_pci" not in out, out
    # an earlier libpt recorded the variant as its host driver: that record is none
    with open(os.path.join(root, "etc/modprobe.d/libpt-vfio.conf"), "w") as f:
        f.write("# Written by libpt: 0000:01:00.0 go to vfio-pci at boot.\n"
                "# Their host drivers: 0000:01:00.0=mlx5_vfio_pci\nsoftdep mlx5_vfio_pci pre: vfio-pci\n"
                "blacklist mlx5_vfio_pci\n")
    out = persist(root, "--device", "01:00.0").stdout
    for line in ("-# Their host drivers: 0000:01:00.0=mlx5_vfio_pci\n", "-softdep mlx5_vfio_pci pre: vfio-pci\n",
                 "-blacklist mlx5_vfio_pci\n", "+# 0000:01:00.0 is on its vfio-pci variant mlx5_vfio_pci"):
        contains(out, line, "the variant's record mended")


@test(timeout=120)
def variant_proxmox_keep_says_what_binds_it(tmp):
    root = variant_host(tmp)
    out = ptlua(["scripts/emit.lua", "--format", "proxmox", "--device", "01:00.0", "--vm", "100"], root=root).stdout
    eq(out.splitlines()[0], "hostpci0: 01:00,pcie=1,driver=keep", "kept")
    contains(out, "# 0000:01:00.0: on its variant mlx5_vfio_pci now, which nothing makes last: driver=keep binds "
             "nothing and no boot binds a variant (on its host driver after a reboot, the VM does not start); bind it "
             "to the variant before each start (bind.lua --device 0000:01:00.0 --vm 100 --driver variant)", "said")
    out = ptlua(["scripts/emit.lua", "--format", "proxmox", "--device", "02:00.0", "--vm", "100"], root=root).stdout
    eq(out.splitlines()[0], "hostpci0: 02:00,pcie=1", "on its host driver: Proxmox binds it")
    assert "nothing makes last" not in out, out
    # a GPU on its variant: the hookscript that binds it so at each start (gpu-audio's --driver)
    os.makedirs(os.path.join(tmp, "gpu"))
    gpu = host(os.path.join(tmp, "gpu"), "0000:0c:00.0 10de:2342 030200 group=13 driver=nvgrace_gpu_vfio_pci\n"
               "variant nvgrace_gpu_vfio_pci 10de:2342\n")
    out = ptlua(["scripts/emit.lua", "--format", "proxmox", "--device", "0c:00.0", "--vm", "100"], root=gpu).stdout
    eq(out.splitlines()[0], "hostpci0: 0c:00,pcie=1,driver=keep", "a GPU kept")
    contains(out, "# 0000:0c:00.0: on its variant nvgrace_gpu_vfio_pci now, which nothing makes last: driver=keep "
             "binds nothing and no boot binds a variant (on its host driver after a reboot, the VM does not start); "
             "bind it to the variant before each start (its hookscript: ptlua hookscript --vm 100 --recipe "
             "gpu-audio --gpu 0000:0c:00.0 --driver variant)", "the hookscript named")


@test(timeout=120)
def variant_paths_host_plan_d3cold_for_every_set(tmp):
    root = variant_host(tmp)
    for address in ("0000:03:00.0", "0000:08:00.0"):
        with open(os.path.join(root, "sys/bus/pci/devices", address, "d3cold_allowed"), "w") as f:
            f.write("1\n")
    rules = os.path.join(root, "etc/udev/rules.d/63-libpt-d3cold.rules")
    rule = 'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="{}", ATTR{{d3cold_allowed}}="0"'
    out = persist(root, "--device", "03:00.0", "--no-d3cold", "--apply").stdout
    contains(out, "udevadm control --reload && udevadm trigger --action=add /sys/bus/pci/devices/0000:03:00.0",
             "only the set's devices replayed")
    assert "--subsystem-match" not in out, out
    out = persist(root, "--device", "08:00.0", "--no-d3cold").stdout
    contains(out, "+" + rule.format("0000:08:00.0"), "the second device's rule")
    assert "-" + rule.format("0000:03:00.0") not in out, f"the first device's rule kept: {out}"
    persist(root, "--device", "08:00.0", "--no-d3cold", "--apply")
    eq(open(rules).read().splitlines()[1:], [rule.format("0000:03:00.0"), rule.format("0000:08:00.0")], "both")
    out = persist(root, "--device", "08:00.0").stdout
    eq("63-libpt-d3cold" in out, False, "persisted again without --no-d3cold: its rule stays")
    persist(root, "--device", "03:00.0", "--remove", "--apply")
    eq(open(rules).read().splitlines()[1:], [rule.format("0000:08:00.0")], "a removed device's rule goes")


AMD = """0000:0a:00.0 1002:67df 030000 group=11 driver=amdgpu boot_vga=0
0000:0b:00.0 1002:6863 030000 group=12 driver=amdgpu boot_vga=0
"""


@test(timeout=120)
def variant_paths_host_plan_vendor_reset_for_every_set(tmp):
    root = host(tmp, AMD)
    for d in ("etc/modprobe.d", "etc/udev/rules.d", "etc/initramfs-tools", "etc/default"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    rules = os.path.join(root, "etc/udev/rules.d/62-libpt-vendor-reset.rules")
    rule = ('ACTION=="add", SUBSYSTEM=="pci", ATTR{{vendor}}=="0x1002", ATTR{{device}}=="0x{}", '
            'ATTR{{reset_method}}="device_specific"  # {}')
    persist(root, "--device", "0a:00.0", "--apply")
    out = persist(root, "--device", "0b:00.0").stdout
    contains(out, "+" + rule.format("6863", "Vega 10"), "the second GPU's rule")
    assert "-" + rule.format("67df", "Polaris 10") not in out, f"the first GPU's rule kept: {out}"
    persist(root, "--device", "0b:00.0", "--apply")
    eq(open(rules).read().splitlines()[1:], [rule.format("67df", "Polaris 10"), rule.format("6863", "Vega 10")], "both")
    persist(root, "--device", "0a:00.0", "--remove", "--apply")
    eq(open(rules).read().splitlines()[1:], [rule.format("6863", "Vega 10")], "the removed GPU's rule goes")
    persist(root, "--device", "0b:00.0", "--remove", "--apply")
    eq(open(rules).read(), "# Written by libpt: no GPU persisted here needs vendor-reset's reset.\n", "none left")
