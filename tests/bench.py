#!/usr/bin/env python3
"""make bench: whole-process figures for the scan and report of a generated host.

For each command: the median wall time of 7 runs, peak RSS, and the instruction count under
valgrind --tool=callgrind (repeatable whatever else the machine does)."""
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
FUNCTIONS = int(os.environ.get("BENCH_FUNCTIONS", "4096"))


def wall(cmd, tmp):
    """Median wall time; peak RSS from GNU time, which forks from a small process (a fork of
    Python would count Python's own pages)."""
    times, rss = [], 0
    report = os.path.join(tmp, "time.out")
    for _ in range(7):
        start = time.monotonic()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report, *cmd],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.monotonic() - start)
        with open(report) as f:
            rss = max(rss, int(f.read().split()[-1]))
    return statistics.median(times), rss


def instructions(cmd, tmp):
    out = os.path.join(tmp, "callgrind.out")
    p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    m = re.search(r"Collected : (\d+)", p.stderr)
    return int(m.group(1))


def main():
    with tempfile.TemporaryDirectory(prefix="libpt-bench-") as tmp:
        root = os.path.join(tmp, "host")
        mkfixture.build(mkfixture.generate(FUNCTIONS), root)
        floor = os.path.join(tmp, "bench-floor")
        subprocess.run(["cc", "-O2", "-o", floor, os.path.join(TOP, "tests", "bench-floor.c")], check=True)
        ptlua = [os.path.join(TOP, "lua", "ptlua"), "--root", root, os.path.join(TOP, "scripts", "report.lua")]
        commands = [
            ("ptlua report.lua --json", ptlua + ["--json"]),
            ("ptlua report.lua (text)", ptlua),
            ("lspci -nnk", ["lspci", "-A", "linux-sysfs", "-O", f"sysfs.path={root}/sys/bus/pci", "-nnk"]),
            ("floor: read the same files", [floor, root]),
        ]
        print(f"Generated host: {FUNCTIONS} PCI functions (tests/mkfixture.py --generate)")
        print(f"{'command':32} {'wall (median of 7)':>20} {'peak RSS':>10} {'instructions':>15}")
        for name, cmd in commands:
            seconds, rss = wall(cmd, tmp)
            print(f"{name:32} {seconds * 1000:17.1f} ms {rss / 1024:7.1f} MB {instructions(cmd, tmp):15,}")


if __name__ == "__main__":
    main()
