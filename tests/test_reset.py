"""Device reset (scripts/reset.lua, libpt/actions/reset.c) on the kernel emulator; what the doctor says a
bus reset would also hit; vendor-reset's rule in the host plan for an AMD GPU with the reset bug."""
import json
import os

from harness import PTLUA, TOP, build_spec, contains, eq, kemu_env, ptlua, run, test

SPEC = """
0000:00:01.0 8086:1901 060400 group=1 driver=pcieport
0000:01:00.0 8086:10d3 020000 group=2 driver=vfio-pci reset_method=flr,bus
0000:01:00.1 8086:10d3 020000 group=3 driver=e1000e reset_method=bus
0000:00:1c.0 8086:a290 060400 group=4 driver=pcieport
0000:02:00.0 1b21:0612 010601 group=5 reset_method=bus parent=0000:00:1c.0
0000:00:1d.0 8086:a298 060400 group=6 driver=pcieport
0000:03:00.0 1002:67df 030000 group=7 driver=amdgpu parent=0000:00:1d.0 boot_vga=0
0000:03:00.1 1002:aaf0 040300 group=7 driver=snd_hda_intel parent=0000:00:1d.0
0000:00:1f.0 8086:a2c9 060100 group=8 reset_method=-
"""


def host(tmp):
    return build_spec(SPEC, os.path.join(tmp, "root"))


def reset(root, device, *args, check=0, env=None):
    return run([PTLUA, "--root", root, "scripts/reset.lua", "--device", device, *args], check=check, cwd=TOP,
               env=env or kemu_env(root))


def resets(root, address):
    path = os.path.join(root, "sys/bus/pci/devices", address, ".resets")
    return open(path).read() if os.path.exists(path) else ""


@test()
def reset_a_free_device(tmp):
    root = host(tmp)
    eq(reset(root, "01:00.0", "--dry-run").stdout.strip(),
       f"write '1' to {root}/sys/bus/pci/devices/0000:01:00.0/reset (methods in order: flr bus)", "dry run")
    eq(resets(root, "0000:01:00.0"), "", "the dry run reset nothing")
    eq(reset(root, "01:00.0").stdout.strip(), "reset 0000:01:00.0 (flr)", "reset, the method named")
    eq(resets(root, "0000:01:00.0"), "1\n", "one write to reset")
    # a driverless device resets too
    eq(reset(root, "02:00.0").stdout.strip(), "reset 0000:02:00.0 (bus)", "no driver")


@test()
def reset_refused_where_it_would_hurt(tmp):
    root = host(tmp)
    p = reset(root, "01:00.1", check=1)
    contains(p.stderr, "0000:01:00.1: bound to e1000e: a reset would pull the device from under its driver",
             "a host driver's device")
    fd = os.path.join(root, "proc", "777", "fd")
    os.makedirs(fd)
    os.symlink("/dev/vfio/2", os.path.join(fd, "9"))
    p = reset(root, "01:00.0", check=1)
    contains(p.stderr, "0000:01:00.0: process 777 holds /dev/vfio/2 (a VM is using the device): a reset refused",
             "a VM's device")
    os.unlink(os.path.join(fd, "9"))
    p = reset(root, "00:1f.0", check=1)
    contains(p.stderr, "0000:00:1f.0: the kernel offers no reset for it", "no method")
    p = reset(root, "01:00.0", check=1, env=kemu_env(root, faults="reset@0000:01:00.0=EIO"))
    contains(p.stderr, "0000:01:00.0: write '1' to " + root + "/sys/bus/pci/devices/0000:01:00.0/reset: "
             "Input/output error", "the failed write named")
    eq(resets(root, "0000:01:00.0") + resets(root, "0000:01:00.1") + resets(root, "0000:00:1f.0"), "",
       "nothing reset")


@test()
def reset_doctor_names_what_a_bus_reset_hits(tmp):
    root = host(tmp)

    def check(device):
        report = json.loads(ptlua(["scripts/doctor.lua", "--device", device, "--json"], root=root, check=None).stdout)
        return {c["id"]: c for c in report["checks"]}.get("bus-reset")

    c = check("01:00.0")
    eq(c["status"], "info", "flr first")
    contains(c["evidence"], "0000:01:00.0 resets itself first (flr); a secondary bus reset of 0000:00:01.0 "
             "would also reset 0000:01:00.1", "the other function named")
    c = check("01:00.1")
    eq(c["status"], "warn", "bus only, with a neighbour")
    contains(c["evidence"], "its reset is a secondary bus reset of 0000:00:01.0, which also resets 0000:01:00.0",
             "the neighbour named")
    c = check("02:00.0")
    eq((c["status"], c["evidence"]), ("pass", "0000:02:00.0 resets through its bridge 0000:00:1c.0, below "
                                      "which there is nothing else"), "alone below its bridge")


@test()
def reset_vendor_reset_in_the_host_plan(tmp):
    root = host(tmp)
    out = ptlua(["scripts/persist.lua", "--device", "03:00.0"], root=root).stdout
    contains(out, "/etc/udev/rules.d/62-libpt-vendor-reset.rules", "the rule file")
    contains(out, '+ACTION=="add", SUBSYSTEM=="pci", ATTR{vendor}=="0x1002", ATTR{device}=="0x67df", '
             'ATTR{reset_method}="device_specific"  # Polaris 10', "the GPU's rule")
    eq(out.count("ATTR{reset_method}"), 1, "only the GPU, not its audio")
    contains(out, "+vendor-reset", "vendor-reset in the initramfs")
    plain = ptlua(["scripts/persist.lua", "--device", "01:00.0"], root=root).stdout
    eq("vendor-reset" in plain, False, "no rule for other devices")
