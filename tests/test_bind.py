"""Binding transactions against the kernel emulator: round trips, dry runs, a fault at every
step, a crash after every step, 20 racing processes, claims, reservations, hot swap."""
import json
import os
import subprocess

from harness import (TOP, build_listing, build_spec, contains, eq, listing_devices, ptlua, ptlua_emu,
                     snapshot, test, tree_diff, kemu_env, PTLUA)
import mkfixture

HOST = """
0000:00:00.0 8086:3ec2 060000 group=0
0000:00:02.0 8086:3e92 030000 group=1 driver=i915 boot_vga=1
0000:00:01.0 8086:1901 060400 group=2 pcie=root driver=pcieport
0000:01:00.0 10de:1b81 030000 group=2 driver=nouveau boot_vga=0
0000:01:00.1 10de:10f0 040300 group=2 driver=snd_hda_intel
0000:00:1c.0 8086:a290 060400 group=3 pcie=root driver=pcieport
0000:02:00.0 8086:1533 020000 group=4 driver=igb parent=0000:00:1c.0
0000:00:1d.0 8086:a298 060400 group=5 pcie=root driver=pcieport
0000:03:00.0 1b21:0612 010601 group=6 parent=0000:00:1d.0
0000:03:01.0 8086:1533 020000 group=6 driver=igb parent=0000:00:1d.0 override=igb
driver vfio-pci
"""
BIND = ["scripts/bind.lua", "--device", "01:00.0", "--vm", "100", "--timeout-ms", "300"]
RESTORE = ["scripts/restore.lua", "--vm", "100", "--timeout-ms", "300"]


def host(tmp, spec=HOST):
    return build_spec(spec, os.path.join(tmp, "root"))


def driver(root, address):
    link = os.path.join(root, "sys/bus/pci/devices", address, "driver")
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else None


def same_tree(root, before, what):
    diff = tree_diff(before, snapshot(root))
    assert not diff, f"{what}: the tree changed:\n" + "\n".join(diff[:20])


@test()
def bind_round_trip(tmp):
    root = host(tmp)
    before = snapshot(root)
    out = ptlua_emu(BIND, root).stdout
    eq(out, "vm 100 holds 0000:01:00.0 0000:01:00.1\n", "bound")
    eq((driver(root, "0000:01:00.0"), driver(root, "0000:01:00.1")), ("vfio-pci", "vfio-pci"), "links")
    with open(os.path.join(root, "run/libpt/0000:01:00.0")) as f:
        journal = dict(line.split("=", 1) for line in f.read().splitlines())
    eq((journal["vm"], journal["driver"], journal["state"]), ("100", "nouveau", "bound"), "journal")
    eq(oct(os.stat(os.path.join(root, "run/libpt")).st_mode & 0o777), "0o700", "journal dir mode")
    eq(oct(os.stat(os.path.join(root, "run/libpt/0000:01:00.0")).st_mode & 0o777), "0o600", "journal mode")
    eq(ptlua_emu(BIND, root).stdout, "vm 100 holds 0000:01:00.0 0000:01:00.1\n", "again: idempotent")
    # post-stop, another process
    eq(ptlua_emu(RESTORE, root).stdout, "vm 100 gave back 0000:01:00.0 0000:01:00.1\n", "restored")
    same_tree(root, before, "after restore")
    eq(sorted(os.listdir(os.path.join(root, "run/libpt"))), ["lock"], "journal gone")
    # a device with a driver_override of its own gets it back
    ptlua_emu(["scripts/bind.lua", "--device", "03:01.0", "--vm", "100"], root)
    ptlua_emu(RESTORE, root)
    same_tree(root, before, "override restored")


@test()
def bind_dry_run_writes_nothing(tmp):
    root = host(tmp)
    before = snapshot(root, skip=())
    out = ptlua_emu(BIND + ["--dry-run"], root).stdout.splitlines()
    eq(out[:5], [
        f"0000:01:00.0: journal {root}/run/libpt/0000:01:00.0 (vm 100, driver nouveau, override none, binding)",
        f"0000:01:00.0: write 'vfio-pci' to {root}/sys/bus/pci/devices/0000:01:00.0/driver_override",
        f"0000:01:00.0: write '0000:01:00.0' to {root}/sys/bus/pci/drivers/nouveau/unbind",
        f"0000:01:00.0: write '0000:01:00.0' to {root}/sys/bus/pci/drivers_probe",
        f"0000:01:00.0: wait until {root}/sys/bus/pci/devices/0000:01:00.0/driver is vfio-pci",
    ], "plan")
    eq(len(out), 12, "two devices, six steps each")
    assert not tree_diff(before, snapshot(root, skip=())), "a dry run wrote something"
    ptlua_emu(BIND, root)
    out = ptlua_emu(RESTORE + ["--dry-run"], root).stdout.splitlines()
    eq(out[0], f"0000:01:00.0: write '\\n' to {root}/sys/bus/pci/devices/0000:01:00.0/driver_override",
       "restore plan")
    eq(driver(root, "0000:01:00.0"), "vfio-pci", "restore dry run changed nothing")


FAULTS = [  # (fault, step named in the error, whether the rollback itself meets the fault)
    ("override@0000:01:00.0=EIO", "0000:01:00.0: set driver_override (write 'vfio-pci'", True),
    ("unbind@0000:01:00.0=EBUSY", "0000:01:00.0: unbind nouveau (write '0000:01:00.0' to", False),
    ("probe@0000:01:00.0=EIO", "0000:01:00.0: probe (write '0000:01:00.0' to", True),
    ("probe@0000:01:00.0=nobind", "0000:01:00.0: vfio-pci did not bind within 300 ms", True),
    ("override@0000:01:00.1=EIO", "0000:01:00.1: set driver_override", True),
    ("unbind@0000:01:00.1=EBUSY", "0000:01:00.1: unbind snd_hda_intel", False),
    ("probe@0000:01:00.1=nobind", "0000:01:00.1: vfio-pci did not bind within 300 ms", True),
    ("probe@0000:01:00.1=vanish", "0000:01:00.1: the device vanished", False),
]


@test(timeout=120)
def bind_fault_at_every_step(tmp):
    """A fault at each step: the error names it, and the tree is as before, at once when the
    rollback can give everything back, else after the restore the error asks for."""
    for i, (fault, message, sticky) in enumerate(FAULTS):
        root = host(os.path.join(tmp, str(i)))
        before = snapshot(root)
        p = ptlua_emu(BIND, root, check=1, faults=fault)
        contains(p.stderr, message, fault)
        if "vanish" in fault:
            # the device is gone: what remains is given back, nothing held
            eq(driver(root, "0000:01:00.0"), "nouveau", "the other function restored")
            eq(sorted(os.listdir(os.path.join(root, "run/libpt"))), ["lock"], "no journal left")
            continue
        if sticky:
            contains(p.stderr, "(its journal stays: run restore)", fault)
            ptlua_emu(RESTORE, root)
        else:
            eq(sorted(os.listdir(os.path.join(root, "run/libpt"))), ["lock"], f"{fault}: no journal left")
        same_tree(root, before, f"after {fault}")


@test(timeout=120)
def restore_fault_at_every_step(tmp):
    for i, fault in enumerate(["override@0000:01:00.0=EIO", "unbind@0000:01:00.0=EBUSY",
                               "probe@0000:01:00.0=nobind", "unbind@0000:01:00.1=EBUSY"]):
        root = host(os.path.join(tmp, str(i)))
        before = snapshot(root)
        ptlua_emu(BIND, root)
        p = ptlua_emu(RESTORE, root, check=1, faults=fault)
        step = fault.split("@")[0].replace("override", "restore driver_override").replace(
            "probe", "nouveau did not bind")
        contains(p.stderr, step.split("=")[0], fault)
        assert os.listdir(os.path.join(root, "run/libpt")) != ["lock"], "journal kept for a retry"
        ptlua_emu(RESTORE, root)  # the fault is gone: the retry finishes
        same_tree(root, before, f"after {fault} and a retry")


@test(timeout=180)
def bind_crash_after_every_step(tmp):
    """kill -9 after each write of the bind; the next restore brings the tree back."""
    for n in range(1, 7):
        root = host(os.path.join(tmp, str(n)))
        before = snapshot(root)
        p = ptlua_emu(BIND, root, check=None, kill_after=n)
        assert p.returncode == -9, (n, p.returncode, p.stderr)
        ptlua_emu(RESTORE, root)
        same_tree(root, before, f"crash after write {n}")
    # a crashed bind is also undone by the next bind of the device, whoever asks
    root = host(os.path.join(tmp, "rebind"))
    ptlua_emu(BIND, root, check=None, kill_after=2)
    out = ptlua_emu(["scripts/bind.lua", "--device", "01:00.0", "--vm", "101"], root).stdout
    contains(out, "vm 101 holds", "stale claim undone, then bound")


@test()
def bind_claims(tmp):
    root = host(tmp)
    ptlua_emu(BIND, root)
    p = ptlua_emu(["scripts/bind.lua", "--device", "01:00.1", "--vm", "101"], root, check=1)
    contains(p.stderr, "0000:01:00.0: held by VM 100 (bound by process", "another VM refused")
    eq(ptlua_emu(["scripts/restore.lua", "--vm", "101"], root).stdout, "vm 101 holds no device\n", "other vm")
    eq(driver(root, "0000:01:00.0"), "vfio-pci", "untouched")
    # Proxmox's reservations: a live one refuses, an expired one does not
    os.makedirs(os.path.join(root, "run/qemu-server"))
    with open(os.path.join(root, "run/qemu-server/pci-id-reservations"), "w") as f:
        f.write(f"0000:02:00.0 105 pid:{os.getpid()}\n0000:03:01.0 106 time:1\n")
    p = ptlua_emu(["scripts/bind.lua", "--device", "02:00.0", "--vm", "100"], root, check=1)
    contains(p.stderr, "0000:02:00.0: reserved by Proxmox for VM 105 (pid:", "live reservation")
    ptlua_emu(["scripts/bind.lua", "--device", "03:01.0", "--vm", "100", "--force"], root)
    eq(driver(root, "0000:03:01.0"), "vfio-pci", "expired reservation ignored")


@test(timeout=180)
def bind_twenty_processes_race(tmp):
    root = host(tmp, HOST.replace("0000:03:00.0 1b21:0612 010601 group=6 parent=0000:00:1d.0",
                                  "0000:03:00.0 1b21:0612 010601 group=6 driver=ahci parent=0000:00:1d.0"))
    targets = ["01:00.0", "01:00.1", "02:00.0", "03:00.0", "03:01.0"]
    env = kemu_env(root)
    procs = [subprocess.Popen([PTLUA, "--root", root, "scripts/bind.lua", "--device", targets[i % 5],
                               "--vm", str(100 + i)], cwd=TOP, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(20)]
    results = [(p.wait(), p.stdout.read(), p.stderr.read()) for p in procs]
    winners = {}
    for i, (rc, out, err) in enumerate(results):
        if rc == 0:
            for a in out.split("holds ")[1].split():
                assert a not in winners, f"{a} won twice: vm {winners.get(a)} and vm {100 + i}"
                winners[a] = 100 + i
        else:
            assert "held by VM" in err or "being bound" in err, err
    eq(sorted(winners), ["0000:01:00.0", "0000:01:00.1", "0000:02:00.0", "0000:03:00.0", "0000:03:01.0"],
       "every device won once")
    for a, vm in winners.items():
        with open(os.path.join(root, "run/libpt", a)) as f:
            j = dict(line.split("=", 1) for line in f.read().splitlines())
        eq((j["vm"], j["state"], j["device"]), (str(vm), "bound", a), f"journal of {a}")
        eq(driver(root, a), "vfio-pci", a)


@test()
def bind_refusals(tmp):
    root = host(tmp)
    p = ptlua_emu(["scripts/bind.lua", "--device", "00:02.0", "--vm", "100", "--dry-run"], root, check=1)
    contains(p.stderr, "0000:00:02.0: refused: boot VGA device (boot_vga = 1); force to take it anyway", "guard")
    p = ptlua_emu(["scripts/bind.lua", "--device", "00:02.0", "--vm", "100", "--dry-run", "--force"], root)
    contains(p.stdout, "write 'vfio-pci'", "forced dry run plans")
    p = ptlua_emu(["scripts/bind.lua", "--device", "00:01.0", "--vm", "100"], root, check=1)
    contains(p.stderr, "0000:00:01.0: a bridge stays with the host", "bridge")
    p = ptlua_emu(["scripts/bind.lua", "--device", "01:00.0", "--vm", "99"], root, check=2)
    contains(p.stderr, "--vm '99' is not a VM id", "vm id")
    # hot swap: the device changed between the scan and the bind
    script = os.path.join(tmp, "swap.lua")
    with open(script, "w") as f:
        f.write('local pt = require "pt"\nlocal inv = pt.scan()\nlocal dev = inv:device("01:00.1")\n'
                f'local f = io.open("{root}/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.1/device", "w")\n'
                'f:write("0x10f1\\n") f:close()\n'
                'local txn = assert(pt.bind(dev, {vm = 100}))\nprint(txn:commit())\n')
    out = ptlua_emu(["--trusted", script], root).stdout
    contains(out, "nil\t0000:01:00.1: now 10de:10f1, was 10de:10f0 at scan time", "hot swap")
    eq(driver(root, "0000:01:00.0"), "nouveau", "nothing taken")
    # vfio-pci missing and blacklisted
    root2 = host(os.path.join(tmp, "2"), HOST.replace("driver vfio-pci\n", ""))
    os.makedirs(os.path.join(root2, "etc/modprobe.d"))
    with open(os.path.join(root2, "etc/modprobe.d/no-vfio.conf"), "w") as f:
        f.write("blacklist vfio-pci\n")
    p = ptlua_emu(BIND, root2, check=1)
    contains(p.stderr, f"vfio-pci is not loaded and {root2}/etc/modprobe.d/no-vfio.conf:1 blacklists it", "blacklist")
    # a journal directory others can write to is not trusted
    os.makedirs(os.path.join(root, "run/libpt"), mode=0o755, exist_ok=True)
    os.chmod(os.path.join(root, "run/libpt"), 0o755)
    p = ptlua_emu(BIND, root, check=1)
    contains(p.stderr, "run/libpt: mode 755", "journal dir mode checked")


NATIVE = {0x10de: "nouveau", 0x1002: "amdgpu", 0x8086: "i915", 0x1a03: "ast"}


@test(timeout=300)
def bind_round_trip_every_listing(tmp):
    """Every isolated GPU of every real listing (with its companions) goes to a VM and back."""
    from harness import listings
    done = 0
    for name in listings():
        devices = listing_devices(name)
        for d in devices:  # the drivers a host would have bound
            if d["cls"] >> 8 == 0x0300:
                d["driver"] = NATIVE.get(d["vendor"], "vesafb")
            elif d["cls"] >> 8 == 0x0403:
                d["driver"] = "snd_hda_intel"
        root = os.path.join(tmp, name)
        mkfixture.build(devices, root, host=[["driver", "vfio-pci"]])
        report = json.loads(ptlua(["scripts/report.lua", "--json", "--class", "gpu"], root=root).stdout)
        before = snapshot(root)
        for gpu in report["devices"]:
            if gpu["verdict"] not in ("isolated", "with-companions"):
                continue
            vm = ["--vm", "100", "--force"]  # the boot VGA too: this is a fixture
            out = ptlua_emu(["scripts/bind.lua", "--device", gpu["address"], *vm], root).stdout
            eq(out.split("holds ")[1].split(), gpu["passthrough_set"], f"{name}: {gpu['address']} set")
            for a in gpu["passthrough_set"]:
                eq(driver(root, a), "vfio-pci", f"{name}: {a} bound")
            ptlua_emu(["scripts/restore.lua", "--vm", "100"], root)
            same_tree(root, before, f"{name}: {gpu['address']} restored")
            done += 1
    assert done >= 15, done
