"""vfio-pci variant drivers and IOMMUFD (issue 24). A variant (mlx5_vfio_pci) is found as the kernel
finds it: a module whose modinfo has the device's `vfio_pci:` alias, indexed by the real depmod
and looked up with libkmod; the report names it and Proxmox's line keeps a device bound to it
(driver=keep). IOMMUFD on a tree laid out as Linux 6.6+ lays it out (/dev/iommu, a bound device's
vfio-dev/vfioN): QEMU is asked itself whether it has the iommufd object; Debian 12's QEMU 7.2
has not, so the VFIO group is used and the reason said."""
import os
import shutil

from harness import TOP, contains, eq, ptlua, ptlua_emu, run, test

SPEC = """0000:00:01.0 8086:2030 060400 group=1 pcie=root driver=pcieport
0000:01:00.0 15b3:101e 020000 group=2 driver=mlx5_vfio_pci parent=0000:00:01.0
0000:02:00.0 15b3:101e 020000 group=3 driver=mlx5_core
0000:03:00.0 8086:1533 020000 group=4 driver=vfio-pci
variant mlx5_vfio_pci 15b3:101e
"""


def host(tmp, extra="", base=SPEC):
    root = os.path.join(tmp, "root")
    spec = os.path.join(tmp, "spec")
    with open(spec, "w") as f:
        f.write(base + extra)
    run(["python3", os.path.join(TOP, "tests", "mkfixture.py"), "--spec", spec, root], check=0)
    os.makedirs(os.path.join(root, "etc/pve/qemu-server"))
    with open(os.path.join(root, "etc/pve/qemu-server/100.conf"), "w") as f:
        f.write("machine: q35\n")
    return root


def emit(root, *args, check=0):
    return ptlua(["scripts/emit.lua", *args], root=root, check=check)


@test(timeout=120)
def variant_driver_found_reported_and_kept(tmp):
    if not shutil.which("depmod"):
        raise AssertionError("depmod (kmod) is missing")
    root = host(tmp)
    out = emit(root, "--format", "proxmox", "--device", "01:00.0", "--vm", "100").stdout
    eq(out.splitlines()[0], "hostpci0: 01:00,pcie=1,driver=keep", "bound to its variant: qemu-server keeps it")
    out = emit(root, "--format", "proxmox", "--device", "02:00.0", "--vm", "100").stdout
    eq(out.splitlines()[0], "hostpci0: 02:00,pcie=1", "on its host driver: Proxmox binds it to vfio-pci")
    contains(out, "# 0000:02:00.0: mlx5_vfio_pci stands in for vfio-pci for it", "the variant said")
    out = emit(root, "--format", "proxmox", "--device", "03:00.0", "--vm", "100").stdout
    eq(out.splitlines()[0], "hostpci0: 03:00,pcie=1", "no variant for an igb")
    p = ptlua(["scripts/report.lua", "--device", "02:00.0"], root=root)
    contains(p.stdout, "vfio-pci variant driver: mlx5_vfio_pci (stands in for vfio-pci: migration, its quirks)", "report")
    p = ptlua(["scripts/report.lua", "--device", "01:00.0"], root=root)
    contains(p.stdout, "vfio-pci variant driver: mlx5_vfio_pci (bound: Proxmox's line takes driver=keep)", "report")
    # qemu-server's grammar: driver is an enum of vfio and keep
    line = "hostpci0: 01:00,pcie=1,driver=keep"
    props = dict(kv.split("=") for kv in line.split(": ", 1)[1].split(",")[1:])
    assert props["driver"] in ("vfio", "keep"), props


@test(timeout=120)
def iommufd_where_kernel_and_qemu_have_it(tmp):
    root = host(tmp)
    # Debian 12's kernel and QEMU: no /dev/iommu; the group path, and why
    p = emit(root, "--format", "qemu", "--device", "03:00.0")
    assert "iommufd" not in p.stdout and len(p.stdout.splitlines()) == 1, p.stdout  # stdout: one shell line
    contains(p.stderr, "# the VFIO group: the kernel has no /dev/iommu or no VFIO cdevs (IOMMUFD: Linux 6.6+)", "why")
    # a tree as Linux 6.6+ lays it out: /dev/iommu, VFIO's cdev class, the bound device's vfio-dev/vfio0
    os.makedirs(os.path.join(root, "dev"), exist_ok=True)
    open(os.path.join(root, "dev/iommu"), "w").close()
    dev = os.path.realpath(os.path.join(root, "sys/bus/pci/devices/0000:03:00.0"))
    os.makedirs(os.path.join(dev, "vfio-dev/vfio0"))
    os.makedirs(os.path.join(root, "sys/class/vfio-dev"))
    os.symlink(os.path.join(dev, "vfio-dev/vfio0"), os.path.join(root, "sys/class/vfio-dev/vfio0"))
    script = os.path.join(tmp, "cdev.lua")
    with open(script, "w") as f:
        f.write('local inv = assert(require("pt").scan())\n'
                'print(inv:device("03:00.0").vfio_cdev, inv:device("02:00.0").vfio_cdev)\n')
    eq(ptlua(["--trusted", script], root=root).stdout, "/dev/vfio/devices/vfio0\tnil\n", "the cdev")
    # this machine's QEMU (7.2) is asked, and has no iommufd object
    p = emit(root, "--format", "qemu", "--device", "03:00.0", "--qemu", shutil.which("qemu-system-x86_64"))
    assert "iommufd" not in p.stdout, p.stdout
    contains(p.stderr, "# the VFIO group: QEMU has no iommufd object (QEMU 9.0+)", "QEMU asked")
    p = emit(root, "--format", "qemu", "--device", "03:00.0", "--qemu", shutil.which("qemu-system-x86_64"),
             "--iommufd", "yes", check=1)
    contains(p.stderr, "--iommufd yes: QEMU has no iommufd object", "refused when asked for")
    # a QEMU 9 (a stand-in that lists its objects as QEMU does): the devices through IOMMUFD
    qemu9 = os.path.join(tmp, "qemu9")
    with open(qemu9, "w") as f:
        f.write('#!/bin/sh\n[ "$1 $2" = "-object help" ] || exit 1\n'
                'printf "List of user creatable objects:\\n  iommufd\\n  memory-backend-ram\\n"\n')
    os.chmod(qemu9, 0o755)
    p = emit(root, "--format", "qemu", "--device", "03:00.0", "--qemu", qemu9)
    eq(p.stdout, "-object iommufd,id=pt-iommufd0 -device pcie-root-port,id=pt-port0,chassis=101,slot=1 "
       "-device vfio-pci,host=0000:03:00.0,bus=pt-port0,addr=0x0.0,iommufd=pt-iommufd0\n", "QEMU's iommufd form")
    contains(p.stderr, "# IOMMUFD: the kernel has IOMMUFD and VFIO cdevs, QEMU its iommufd object", "which and why")
    out = emit(root, "--format", "qemu", "--device", "03:00.0", "--qemu", qemu9, "--iommufd", "no").stdout
    assert "iommufd=" not in out, out
    # it is run as root: a program someone else may change is not
    os.chmod(qemu9, 0o775)
    p = emit(root, "--format", "qemu", "--device", "03:00.0", "--qemu", qemu9, "--iommufd", "yes", check=1)
    contains(p.stderr, f"{qemu9}: not run: a QEMU to ask must be a regular file root owns", "group-writable refused")
    # and a recipe not trusted cannot run a program through it
    with open(script, "w") as f:
        f.write(f'require("pt").iommufd("{qemu9}")\nreturn {{ name = "x", run = function() end }}\n')
    p = ptlua(["--check", script], root=root, check=None)
    contains(p.stderr + p.stdout, "pt.iommufd with a QEMU's path: refused at a script's top level", "sandboxed")


@test()
def power_state_said_and_d3cold_kept_out_per_device(tmp):
    root = host(tmp)
    dev = os.path.realpath(os.path.join(root, "sys/bus/pci/devices/0000:03:00.0"))
    for name, value in (("power_state", "D3cold"), ("d3cold_allowed", "1")):
        with open(os.path.join(dev, name), "w") as f:
            f.write(value + "\n")
    p = ptlua(["scripts/report.lua", "--device", "03:00.0"], root=root)
    contains(p.stdout, "power D3cold, D3cold allowed (persist.lua --no-d3cold keeps it out)", "the report")
    p = ptlua(["scripts/report.lua", "--device", "02:00.0"], root=root)
    assert "power" not in p.stdout, p.stdout  # the kernel says nothing of it: nothing said
    for d in ("etc/modprobe.d", "etc/udev/rules.d", "etc/initramfs-tools", "etc/default"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(root, "etc/default/grub"), "w") as f:
        f.write('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    out = ptlua(["scripts/persist.lua", "--device", "03:00.0", "--no-d3cold"], root=root).stdout
    contains(out, '+ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:03:00.0", ATTR{d3cold_allowed}="0"',
             "a rule for the device, not disable_idle_d3 for all")
    assert "disable_idle_d3" not in out, out
    out = ptlua(["scripts/persist.lua", "--device", "03:00.0"], root=root).stdout
    assert "d3cold" not in out, "only when asked"


@test(timeout=120)
def variant_driver_bind_and_restore(tmp):
    """bind --driver variant on the kernel emulator: the device to its variant driver (loaded, as a
    driver with no device), vfio-pci for a device without one; the restore gives each back."""
    root = host(tmp, "0000:04:00.0 8086:1533 020000 group=5 driver=igb\n")
    for d in ("vfio-pci", "mlx5_vfio_pci"):  # loaded drivers
        os.makedirs(os.path.join(root, "sys/bus/pci/drivers", d), exist_ok=True)
        for f in ("bind", "unbind", "new_id"):
            open(os.path.join(root, "sys/bus/pci/drivers", d, f), "a").close()
    drv = lambda a: os.path.basename(os.readlink(os.path.join(root, f"sys/bus/pci/devices/{a}/driver")))  # noqa: E731
    p = ptlua_emu(["scripts/bind.lua", "--device", "02:00.0", "--vm", "100", "--driver", "variant", "--dry-run"], root)
    contains(p.stdout, "write 'mlx5_vfio_pci' to ROOT/sys/bus/pci/devices/0000:02:00.0/driver_override".replace(
        "ROOT", root), "the plan: the variant")
    ptlua_emu(["scripts/bind.lua", "--device", "02:00.0", "--vm", "100", "--driver", "variant"], root)
    eq(drv("0000:02:00.0"), "mlx5_vfio_pci", "bound to its variant")
    ptlua_emu(["scripts/bind.lua", "--device", "04:00.0", "--vm", "101", "--driver", "variant"], root)
    eq(drv("0000:04:00.0"), "vfio-pci", "no variant: vfio-pci")
    ptlua_emu(["scripts/restore.lua", "--vm", "100"], root)
    eq(drv("0000:02:00.0"), "mlx5_core", "given back")
    ptlua_emu(["scripts/restore.lua", "--vm", "101"], root)
    eq(drv("0000:04:00.0"), "igb", "given back")
    ptlua_emu(["scripts/bind.lua", "--device", "02:00.0", "--vm", "100"], root)
    eq(drv("0000:02:00.0"), "vfio-pci", "vfio-pci unless asked")
    ptlua_emu(["scripts/restore.lua", "--vm", "100"], root)


@test(timeout=120)
def variant_driver_named_as_its_module_registered_it(tmp):
    """A variant whose driver's name is not its module's (module pds_vfio_pci registers the driver
    pds-vfio-pci, as the kernel lists under /sys/module/pds_vfio_pci/drivers): the bind writes the
    driver's name to driver_override (the kernel matches it against the driver's name), and a
    device bound to it is kept so on its Proxmox line."""
    root = host(tmp, "0000:05:00.0 1dd8:1002 020000 group=6 driver=pds_core\nvariant pds_vfio_pci 1dd8:1002\n")
    for d in ("vfio-pci", "pds-vfio-pci"):
        for f in ("bind", "unbind", "new_id"):
            os.makedirs(os.path.join(root, "sys/bus/pci/drivers", d), exist_ok=True)
            open(os.path.join(root, "sys/bus/pci/drivers", d, f), "a").close()
    os.makedirs(os.path.join(root, "sys/module/pds_vfio_pci/drivers"))
    os.symlink("../../../bus/pci/drivers/pds-vfio-pci", os.path.join(root, "sys/module/pds_vfio_pci/drivers/pci:pds-vfio-pci"))
    out = ptlua(["scripts/report.lua", "--device", "05:00.0"], root=root).stdout
    contains(out, "vfio-pci variant driver: pds-vfio-pci", "the driver's name")
    p = ptlua_emu(["scripts/bind.lua", "--device", "05:00.0", "--vm", "100", "--driver", "variant", "--dry-run"], root)
    contains(p.stdout, f"write 'pds-vfio-pci' to {root}/sys/bus/pci/devices/0000:05:00.0/driver_override", "the plan")
    ptlua_emu(["scripts/bind.lua", "--device", "05:00.0", "--vm", "100", "--driver", "variant"], root)
    eq(os.path.basename(os.readlink(os.path.join(root, "sys/bus/pci/devices/0000:05:00.0/driver"))), "pds-vfio-pci",
       "bound to the variant")
    contains(emit(root, "--format", "proxmox", "--device", "05:00.0", "--vm", "100").stdout, "driver=keep",
             "kept on its Proxmox line")
    ptlua_emu(["scripts/restore.lua", "--vm", "100"], root)
    eq(os.path.basename(os.readlink(os.path.join(root, "sys/bus/pci/devices/0000:05:00.0/driver"))), "pds_core",
       "given back")


# two functions of a Pensando card, whose variant's module (pds_vfio_pci) registers pds-vfio-pci;
# vfio-pci not loaded
PDS = """0000:00:01.0 8086:2030 060400 group=1 pcie=root driver=pcieport
0000:05:00.0 1dd8:1002 020000 group=6 driver=pds_core parent=0000:00:01.0
0000:05:00.1 1dd8:1002 020000 group=6 driver=pds_core parent=0000:00:01.0
variant pds_vfio_pci 1dd8:1002
"""


@test(timeout=120)
def variant_driver_not_loaded_yet_planned_as_loaded(tmp):
    """The variant's module not loaded yet: the plan loads it (once for both functions) and, not
    knowing yet the name it registers, says where the commit reads it rather than writing the
    module's name, which the kernel would not match; under a fixture root nothing can be loaded,
    so the dry run refuses as the commit does. Loaded, vfio-pci stays out: no device needs it (a
    blacklist of it refuses nothing), and a device held for the VM already is left, said so."""
    root = host(tmp, base=PDS)
    conf = os.path.join(root, "etc/modprobe.d/vfio.conf")
    os.makedirs(os.path.dirname(conf))
    drv = lambda a: os.path.basename(os.readlink(os.path.join(root, f"sys/bus/pci/devices/{a}/driver")))  # noqa: E731
    contains(ptlua(["scripts/report.lua", "--device", "05:00.0"], root=root).stdout,
             "vfio-pci variant driver: pds_vfio_pci", "the module's name while it is not loaded")
    script = os.path.join(tmp, "plan.lua")
    with open(script, "w") as f:
        f.write('local pt = require "pt"\nlocal inv = assert(pt.scan())\n'
                'local txn = assert(pt.bind(inv:device("05:00.0"), {vm = 100, variant = true, dry_run = true}))\n'
                'for _, step in ipairs(txn:plan()) do print(step) end\nprint(txn:commit())\n')
    out = ptlua_emu(["--trusted", script], root).stdout.replace(root, "ROOT")
    steps = out.splitlines()
    eq(steps[:7], [
        "load module pds_vfio_pci (modprobe pds_vfio_pci)",
        "0000:05:00.0: journal ROOT/run/libpt/0000:05:00.0 (vm 100, driver pds_core, override none, binding)",
        "0000:05:00.0: write the driver pds_vfio_pci registers (read from ROOT/sys/module/pds_vfio_pci/drivers "
        "after loading) to ROOT/sys/bus/pci/devices/0000:05:00.0/driver_override",
        "0000:05:00.0: write '0000:05:00.0' to ROOT/sys/bus/pci/drivers/pds_core/unbind",
        "0000:05:00.0: write '0000:05:00.0' to ROOT/sys/bus/pci/drivers_probe",
        "0000:05:00.0: wait until ROOT/sys/bus/pci/devices/0000:05:00.0/driver is the driver pds_vfio_pci registers",
        "0000:05:00.0: journal ROOT/run/libpt/0000:05:00.0 (vm 100, driver pds_core, override none, bound)"],
       "the plan of the first function")
    eq(len(steps), 14, "the second function's the same, the module loaded once")
    assert "modprobe" not in out.split("\n", 1)[1] and "'pds_vfio_pci'" not in out, out
    refusal = ("pds_vfio_pci is not loaded (no ROOT/sys/bus/pci/drivers/pds_vfio_pci), and modules are loaded only on "
               "the host itself (root /)")
    eq(steps[-1], "nil\t" + refusal + "\t2", "under a fixture root it cannot be loaded: the dry commit says so")
    bind = ["scripts/bind.lua", "--device", "05:00.0", "--vm", "100", "--driver", "variant"]
    p = ptlua_emu(bind + ["--dry-run"], root, check=1)
    contains(p.stderr.replace(root, "ROOT"), "would fail: " + refusal, "the dry run")
    p = ptlua_emu(bind, root, check=1)
    contains(p.stderr.replace(root, "ROOT"), refusal, "the commit, the same")
    eq(drv("0000:05:00.0"), "pds_core", "nothing taken")
    with open(conf, "w") as f:  # the module's dashed spelling matches as modprobe matches it
        f.write("blacklist pds-vfio-pci\n")
    p = ptlua_emu(bind, root, check=1)
    contains(p.stderr, f"pds_vfio_pci is not loaded and {conf}:1 blacklists it", "its blacklist")
    # loaded: its driver as registered (an entry that is no driver name skipped), vfio-pci blacklisted
    with open(conf, "w") as f:
        f.write("blacklist vfio_pci\n")
    d = os.path.join(root, "sys/bus/pci/drivers/pds-vfio-pci")
    os.makedirs(d)
    for f in ("bind", "unbind", "new_id"):
        open(os.path.join(d, f), "a").close()
    os.makedirs(os.path.join(root, "sys/module/pds_vfio_pci/drivers"))
    os.symlink("../../../bus/pci/drivers/pds-vfio-pci",
               os.path.join(root, "sys/module/pds_vfio_pci/drivers/pci:pds-vfio-pci;reboot"))
    contains(ptlua(["scripts/report.lua", "--device", "05:00.0"], root=root).stdout,
             "vfio-pci variant driver: pds-vfio-pci (", "not the entry's name, the driver's")
    out = ptlua_emu(bind + ["--dry-run"], root).stdout
    contains(out, f"write 'pds-vfio-pci' to {root}/sys/bus/pci/devices/0000:05:00.1/driver_override", "the plan")
    assert "load module" not in out, out
    ptlua_emu(bind, root)
    eq((drv("0000:05:00.0"), drv("0000:05:00.1")), ("pds-vfio-pci", "pds-vfio-pci"), "bound without vfio-pci")
    # held for the VM already, on the variant, and asked for vfio-pci: left so, and said so
    out = ptlua_emu(bind[:-2] + ["--dry-run"], root).stdout
    eq(out.splitlines()[0], "0000:05:00.0: already held for vm 100, bound to pds-vfio-pci: left so (restore the vm, "
       "then bind again, to take it to vfio-pci)", "the note")
    out = ptlua_emu(bind + ["--dry-run"], root).stdout
    eq(out.splitlines()[0], "0000:05:00.0: already bound to pds-vfio-pci for vm 100", "as asked")
    ptlua_emu(bind[:-2], root)
    eq(drv("0000:05:00.0"), "pds-vfio-pci", "left")
    ptlua_emu(["scripts/restore.lua", "--vm", "100"], root)
    eq((drv("0000:05:00.0"), drv("0000:05:00.1")), ("pds_core", "pds_core"), "given back")
