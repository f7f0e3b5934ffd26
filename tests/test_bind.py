"""Binding transactions against the kernel emulator: round trips, dry runs, a fault at every
step, a crash after every step, 20 racing processes, claims, reservations, hot swap."""
import json
import os
import subprocess

from harness import (CC_SAN, TOP, build_listing, build_spec, contains, eq, listing_devices, ptlua, ptlua_emu, report_json,
                     run, snapshot, test, tree_diff, kemu_env, PTLUA)
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


def interleave(tmp):
    exe = os.path.join(tmp, "interleave")
    if not os.path.exists(exe):
        run(["cc", *CC_SAN, "-std=gnu11", "-Wall", "-Werror", "-I", f"{TOP}/include", "-o", exe,
             f"{TOP}/tests/interleave.c", "-L", TOP, "-lpt", f"-Wl,-rpath,{TOP}"], check=0)
    return exe


def journal(root, address):
    with open(os.path.join(root, "run/libpt", address)) as f:
        return dict(line.split("=", 1) for line in f.read().splitlines())


@test()
def bind_decided_under_the_lock(tmp):
    """VM 102's pre-start scans while VM 101 holds the GPU; VM 101's post-stop gives it back
    before VM 102 commits. The commit takes what is true then: the host's driver is journalled
    as the one to give back, and VM 102's restore leaves the host as it was."""
    root = host(tmp)
    before = snapshot(root)
    ptlua_emu(["scripts/bind.lua", "--device", "01:00.0", "--vm", "101"], root)
    restore101 = f"{PTLUA} --root {root} {TOP}/scripts/restore.lua --vm 101 >/dev/null"
    p = run([interleave(tmp), root, "bind", "01:00.0", "102", restore101], env=kemu_env(root), check=0)
    eq(p.stdout, "0000:01:00.0 0000:01:00.1\n", "VM 102 holds the set")
    eq((journal(root, "0000:01:00.0")["driver"], journal(root, "0000:01:00.0")["override"],
        journal(root, "0000:01:00.0")["vm"]), ("nouveau", "", "102"), "the host's driver to give back, not vfio-pci")
    ptlua_emu(["scripts/restore.lua", "--vm", "102"], root)
    same_tree(root, before, "after VM 102's restore")
    # The other way round: VM 102 planned while the GPU was free, VM 101 took it first.
    bind101 = f"{PTLUA} --root {root} {TOP}/scripts/bind.lua --device 01:00.0 --vm 101 >/dev/null"
    p = run([interleave(tmp), root, "bind", "01:00.0", "102", bind101], env=kemu_env(root), check=1)
    contains(p.stderr, "0000:01:00.0: held by VM 101", "refused at commit")
    eq(journal(root, "0000:01:00.0")["vm"], "101", "VM 101 keeps it")


@test()
def restore_decided_under_the_lock(tmp):
    """VM 100's restore is planned while it holds the GPU; before it commits, the GPU is given
    back and VM 101 takes it. The commit gives back only what VM 100 still holds: nothing."""
    root = host(tmp)
    ptlua_emu(BIND, root)
    between = (f"{PTLUA} --root {root} {TOP}/scripts/restore.lua --vm 100 >/dev/null && "
               f"{PTLUA} --root {root} {TOP}/scripts/bind.lua --device 01:00.0 --vm 101 >/dev/null")
    p = run([interleave(tmp), root, "restore", "100", between], env=kemu_env(root), check=0)
    eq(p.stdout, "\n", "nothing of VM 100's left to give back")
    eq((journal(root, "0000:01:00.0")["vm"], driver(root, "0000:01:00.0"), driver(root, "0000:01:00.1")),
       ("101", "vfio-pci", "vfio-pci"), "VM 101 keeps the GPU")


@test()
def restore_skips_a_damaged_journal(tmp):
    root = host(tmp)
    ptlua_emu(BIND, root)
    ptlua_emu(["scripts/bind.lua", "--device", "02:00.0", "--vm", "100"], root)
    with open(os.path.join(root, "run/libpt/0000:01:00.1"), "w") as f:
        f.write("garbage\n")
    p = ptlua_emu(RESTORE, root)
    contains(p.stderr, "0000:01:00.1: journal", "the damaged file named")
    contains(p.stderr, "is damaged", "why")
    contains(p.stdout, "0000:01:00.0", "the rest given back")
    contains(p.stdout, "0000:02:00.0", "the rest given back")
    eq((driver(root, "0000:01:00.0"), driver(root, "0000:02:00.0")), ("nouveau", "igb"), "host drivers")


@test()
def journal_values_validated(tmp):
    """A journal whose driver line carries another key is damaged, not obeyed; a driver link
    whose name is no driver name is refused before anything is written."""
    root = host(tmp)
    ptlua_emu(BIND, root)
    path = os.path.join(root, "run/libpt/0000:01:00.0")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("driver=nouveau", "driver=nouveau\nvm=999"))
    p = ptlua_emu(["scripts/bind.lua", "--device", "01:00.0", "--vm", "999"], root, check=1)
    contains(p.stderr, "is damaged", "a second vm= line")
    evil = host(os.path.join(tmp, "evil"), HOST.replace("driver=igb parent=0000:00:1c.0",
                                                          "driver=igb$(reboot) parent=0000:00:1c.0"))
    before = snapshot(evil)
    p = ptlua_emu(["scripts/bind.lua", "--device", "02:00.0", "--vm", "100"], evil, check=1)
    contains(p.stderr, "is not a driver name", "refused")
    same_tree(evil, before, "nothing written")


@test()
def bind_lock_wait_is_bounded(tmp):
    """A holder that never lets go: the wait says whom it waits for and ends."""
    import fcntl
    root = host(tmp)
    os.makedirs(os.path.join(root, "run/libpt"), mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(root, "run/libpt/lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b"4242\n")
    p = ptlua_emu(["scripts/bind.lua", "--device", "01:00.0", "--vm", "100", "--lock-timeout-ms", "300"],
                  root, check=1)
    contains(p.stderr, "waiting for process 4242", "says whom it waits for")
    contains(p.stderr, "held by process 4242 for over 300 ms", "gives up, naming the holder")
    os.close(fd)


@test(timeout=300)
def bind_and_restore_mixed_race(tmp):
    """Rounds of binds and restores of overlapping sets by three VMs, all at once: afterwards
    every device is either on its host driver with no journal, or on vfio-pci with a bound
    journal naming its host driver; no group is split between VMs; restoring every VM gives
    back the tree as it was."""
    import random
    spec = HOST.replace("0000:03:00.0 1b21:0612 010601 group=6 parent=0000:00:1d.0",
                        "0000:03:00.0 1b21:0612 010601 group=6 driver=ahci parent=0000:00:1d.0")
    root = host(tmp, spec)
    before = snapshot(root)
    original = {a: driver(root, a) for a in os.listdir(os.path.join(root, "sys/bus/pci/devices"))}
    groups = {}
    for a in original:
        g = os.path.basename(os.readlink(os.path.join(root, "sys/bus/pci/devices", a, "iommu_group")))
        groups.setdefault(g, []).append(a)
    env = kemu_env(root)
    rng = random.Random(1)
    targets = ["01:00.0", "01:00.1", "02:00.0", "03:00.0", "03:01.0"]
    for round_ in range(8):
        cmds = []
        for _ in range(24):
            vm = str(rng.choice((100, 101, 102)))
            if rng.random() < 0.6:
                cmds.append(["scripts/bind.lua", "--device", rng.choice(targets), "--vm", vm, "--timeout-ms", "2000"])
            else:
                cmds.append(["scripts/restore.lua", "--vm", vm, "--timeout-ms", "2000"])
        procs = [subprocess.Popen([PTLUA, "--root", root] + c, cwd=TOP, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for c in cmds]
        for p, c in zip(procs, cmds):
            rc, err = p.wait(), p.stderr.read()
            assert rc == 0 or "held by VM" in err or "being bound" in err, f"{c}: {err}"
        held = {}
        for a, host_driver in original.items():
            jpath = os.path.join(root, "run/libpt", a)
            where = f"round {round_}: {a}"
            if os.path.exists(jpath):
                j = journal(root, a)
                eq((j["state"], j["driver"], driver(root, a)), ("bound", host_driver or "", "vfio-pci"), where)
                held[a] = j["vm"]
            else:
                eq(driver(root, a), host_driver, where + " (no journal)")
        for g, members in groups.items():
            vms = {held[m] for m in members if m in held}
            assert len(vms) <= 1, f"round {round_}: group {g} split between VMs {vms}"
    for vm in ("100", "101", "102"):
        ptlua_emu(["scripts/restore.lua", "--vm", vm], root)
    same_tree(root, before, "after every VM's restore")


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
        report = report_json(root, "--class", "gpu")
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
