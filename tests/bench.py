#!/usr/bin/env python3
"""make bench: whole-process figures on generated hosts, as one table.

For each size (BENCH_SIZES, default "256 4096 16384" functions: tests/mkfixture.py --generate)
and each command: the median wall time of BENCH_ROUNDS (7) rounds in which every command runs
once in turn (so a slow moment of the machine falls on all of them alike), instructions
(valgrind --tool=callgrind: repeatable whatever else the machine does), system calls a device
(strace -f -c, all calls over the functions), peak RSS (GNU time), and the wall-time ratios to
`lspci -nnk` and to the floor (list the devices, read vendor, device, class, subsystem ids, the
driver and iommu_group links) measured in the same rounds. A benchmark, not a test: it never
fails on a slow machine."""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkfixture  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "256 4096 16384").split()]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
PTLUA = os.path.join(TOP, "lua", "ptlua")


def once(cmd, tmp):
    """Wall seconds and peak RSS (KiB) of one run; GNU time forks from a small process."""
    report = os.path.join(tmp, "time.out")
    start = time.monotonic()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report, *cmd],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    took = time.monotonic() - start
    with open(report) as f:
        return took, int(f.read().split()[-1])


def instructions(cmd, tmp):
    out = os.path.join(tmp, "callgrind.out")
    p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    return int(m.group(1)) if m else 0


def syscalls(cmd, tmp):
    out = os.path.join(tmp, "strace.out")
    subprocess.run(["strace", "-f", "-c", "-o", out, *cmd], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    with open(out) as f:
        total = [l for l in f.read().splitlines() if l.rstrip().endswith("total")]
    return int(total[-1].split()[3]) if total else 0


def commands(root, floor, gpu, p1):
    report = [PTLUA, "--root", root, os.path.join(TOP, "scripts", "report.lua")]
    return [
        ("report --json", report + ["--json"]),
        ("report (text)", report),
        ("doctor", [PTLUA, "--root", root, os.path.join(TOP, "scripts", "doctor.lua")]),
        ("lint, a VM config of 10^5 keys", [PTLUA, "--root", root, os.path.join(TOP, "scripts", "lint.lua"),
                                            "--vm", "100"]),
        ("pre-start dry run (one GPU)", [PTLUA, "--root", root, os.path.join(TOP, "scripts", "gpu-audio.lua"),
                                         "--gpu", gpu, "--vm", "100", "--dry-run"]),
        ("lspci -nnk", ["lspci", "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", "-nnk"]),
        ("floor", [floor, root]),
        ("ptlua print(1)", [PTLUA, "--trusted", p1]),
        ("lua5.4 print(1)", ["lua5.4", p1]),
    ]


def main():
    rows = []
    with tempfile.TemporaryDirectory(prefix="libpt-bench-") as tmp:
        floor = os.path.join(tmp, "bench-floor")
        subprocess.run(["cc", "-O2", "-o", floor, os.path.join(TOP, "tests", "bench-floor.c")], check=True)
        p1 = os.path.join(tmp, "p1.lua")
        with open(p1, "w") as f:
            f.write("print(1)\n")
        for n in SIZES:
            root = os.path.join(tmp, f"host{n}")
            mkfixture.build(mkfixture.generate(n), root)
            # vfio-pci loaded: the dry run decides as the commit does, and goes all the way
            os.makedirs(os.path.join(root, "sys/bus/pci/drivers/vfio-pci"), exist_ok=True)
            # a VM config as large as pmxcfs holds: 10^5 keys, and one hostpci line
            os.makedirs(os.path.join(root, "etc/pve/qemu-server"))
            with open(os.path.join(root, "etc/pve/qemu-server/100.conf"), "w") as f:
                f.write("".join(f"u{i}: x\n" for i in range(100000)) + "hostpci0: 01:00,pcie=1\nmachine: q35\n")
            cmds = commands(root, floor, "0000:01:00.0", p1)
            walls = {name: [] for name, _ in cmds}
            rss = {name: 0 for name, _ in cmds}
            # the new tree written out, and one round not counted: the kernel's writeback of the
            # fresh files and a cold dentry cache would be measured, not the commands
            os.sync()
            for name, cmd in cmds:
                once(cmd, tmp)
            for _ in range(ROUNDS):
                for name, cmd in cmds:
                    t, m = once(cmd, tmp)
                    walls[name].append(t)
                    rss[name] = max(rss[name], m)
            med = {name: statistics.median(v) for name, v in walls.items()}
            for name, cmd in cmds:
                start_up = "print(1)" in name
                rows.append((n, name, med[name] * 1000, instructions(cmd, tmp),
                             None if start_up else syscalls(cmd, tmp) / n, rss[name] / 1024,
                             None if start_up else med[name] / med["lspci -nnk"],
                             None if start_up else med[name] / med["floor"],
                             med[name] / med["lua5.4 print(1)"] if start_up else None))
            import shutil
            shutil.rmtree(root)
    print("| functions | command | wall (median) | instructions | syscalls a device | peak RSS | / lspci | / floor | / lua5.4 |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    f2 = lambda v: "" if v is None else f"{v:.2f}"
    for n, name, ms, ins, sc, mb, rl, rf, rs in rows:
        print(f"| {n} | {name} | {ms:.1f} ms | {ins / 1e6:.1f} M | {'' if sc is None else f'{sc:.1f}'} | "
              f"{mb:.1f} MiB | {f2(rl)} | {f2(rf)} | {f2(rs)} |")


if __name__ == "__main__":
    main()
