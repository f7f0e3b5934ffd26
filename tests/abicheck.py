#!/usr/bin/env python3
"""make abi-check: the built library against the ABI baseline of its soname
(libpt/abi/SONAME.abi, written by `make abi-baseline` when that soname's first release was
made). It fails when abidiff finds an incompatible change (a symbol removed, a type changed
under a caller), and when a symbol joins a version node the baseline already has: a released
node is closed, new symbols go in a node of their own (LIBPT_1.1 { ... } LIBPT_1.0;).

  abicheck.py LIBRARY BASELINE HEADERS-DIR [SUPPRESSIONS]

abidiff sorts changes into incompatible ones (a symbol removed: exit bit 8) and others (bit 4)
that may still break callers (a public struct's layout, a parameter); every function or variable
removed or changed fails, additions pass. What may change is said in SUPPRESSIONS (the option
structs that carry their size grow at their end).
"""
import re
import subprocess
import sys

ABIDIFF_ERROR, ABIDIFF_USAGE, ABIDIFF_INCOMPATIBLE = 1, 2, 8


def exported(lib):
    """(name, version node) of each symbol the library defines."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", lib], capture_output=True, text=True, check=True).stdout
    syms = set()
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[6] != "UND" and "@" in f[7]:
            name, _, node = f[7].partition("@")
            syms.add((name, node.lstrip("@")))
    return syms


SUMMARY = re.compile(r"^(Functions|Variables) changes summary: (\d+) Removed, (\d+) Changed", re.M)


def main(lib, baseline, headers, suppressions=None):
    cmd = ["abidiff", "--headers-dir1", headers, "--headers-dir2", headers]
    if suppressions:
        cmd += ["--suppressions", suppressions]
    p = subprocess.run(cmd + [baseline, lib], capture_output=True, text=True)
    failed = []
    changed = any(int(removed) or int(changed) for _, removed, changed in SUMMARY.findall(p.stdout))
    if p.returncode & (ABIDIFF_ERROR | ABIDIFF_USAGE | ABIDIFF_INCOMPATIBLE) or changed:
        failed.append(f"abidiff {baseline} {lib}: exit {p.returncode} (an incompatible change):\n"
                      f"{p.stdout}{p.stderr}")
    with open(baseline) as f:
        base = set(re.findall(r"<elf-symbol name='([^']+)' version='([^']+)'", f.read()))
    closed = {node for _, node in base}
    late = sorted(f"{name}@{node}" for name, node in exported(lib) if node in closed and (name, node) not in base)
    if late:
        failed.append("symbols added to a released version node (give them a new node in libpt/libpt.sym): "
                      + ", ".join(late))
    for f in failed:
        print(f"abi-check: {f}")
    if not failed:
        added = p.stdout.count("[A] ")
        print(f"abi-check: {lib} keeps the ABI of {baseline} ({added} functions added)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
