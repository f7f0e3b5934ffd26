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
structs that carry their size grow at their end), and those structs are compared member by
member as well: each member of the baseline at its offset with its type.
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


def value_structs(suppressions):
    """The structs SUPPRESSIONS lets grow at their end: the value structs."""
    if not suppressions:
        return []
    with open(suppressions) as f:
        text = f.read()
    return [m.group(1) for m in re.finditer(r"^\s*name\s*=\s*(\w+)\s*\n\s*has_data_member_inserted_at\s*=\s*end",
                                            text, re.M)]


def layouts(xml, names):
    """Each named struct's members in an abidw corpus: [(offset in bits, name, type)], and its size."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(xml)
    types = {e.get("id"): e for e in root.iter() if e.get("id")}

    def spell(tid, depth=0):
        e = types.get(tid)
        if e is None or depth > 16:
            return tid or "?"
        tag, name = e.tag, e.get("name")
        if tag == "pointer-type-def":
            return spell(e.get("type-id"), depth + 1) + "*"
        if tag == "qualified-type-def":
            return ("const " if e.get("const") == "yes" else "") + spell(e.get("type-id"), depth + 1)
        if tag == "array-type-def":
            return f"{spell(e.get('type-id'), depth + 1)}[{e.get('size-in-bits')}]"
        if tag == "class-decl":
            return f"struct {name}"
        if tag == "enum-decl":
            return f"enum {name}"
        return name  # a base type or a typedef

    out = {}
    for e in root.iter("class-decl"):
        n = e.get("name")
        if n in names and n not in out and e.get("is-declaration-only") != "yes":
            members = [(int(dm.get("layout-offset-in-bits")), v.get("name"), spell(v.get("type-id")))
                       for dm in e.findall("data-member") for v in dm.findall("var-decl")]
            out[n] = (members, int(e.get("size-in-bits") or 0))
    return out


def value_struct_changes(lib, baseline, headers, suppressions):
    """A value struct may only grow at its end: each member the baseline has stays, at its offset
    and of its type. (abidiff misses a member's type changed when it first meets the struct in a
    private one and filters the report there.)"""
    names = value_structs(suppressions)
    if not names:
        return []
    now = subprocess.run(["abidw", "--headers-dir", headers, lib], capture_output=True, text=True, check=True).stdout
    with open(baseline) as f:
        base = layouts(f.read(), names)
    cur = layouts(now, names)
    bad = []
    for n, (members, size) in sorted(base.items()):
        if n not in cur:
            bad.append(f"value struct {n} is gone")
            continue
        now_members, now_size = cur[n]
        for m in members:
            if m not in now_members:
                bad.append(f"value struct {n}: member {m[1]} ({m[2]} at bit {m[0]}) changed or moved")
        known = {m[1] for m in members}
        late = [m for m in now_members if m[1] not in known and m[0] < size]
        for m in late:
            bad.append(f"value struct {n}: member {m[1]} added inside it (bit {m[0]}), not at its end")
        if now_size < size:
            bad.append(f"value struct {n} shrank from {size} to {now_size} bits")
    return bad


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
    failed += value_struct_changes(lib, baseline, headers, suppressions)
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
