"""What the tests share: declaration, paths, fixture trees, running ptlua."""
import json
import os
import subprocess

import mkfixture

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PTLUA = os.path.join(TOP, "lua", "ptlua")
LISTINGS = os.path.normpath(os.path.join(TOP, "..", "shared", "fixtures", "iommu-listings"))
VALGRIND = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible", "--errors-for-leak-kinds=definite,indirect,possible"]

TESTS = []


class Skip(Exception):
    pass


class Test:
    def __init__(self, name, func, timeout):
        self.name, self.func, self.timeout = name, func, timeout


def test(name=None, timeout=60):
    def wrap(func):
        TESTS.append(Test(name or func.__name__.replace("_", "-"), func, timeout))
        return func
    return wrap


def listings():
    if not os.path.isdir(LISTINGS):
        raise AssertionError(f"{LISTINGS}: the shared listings are missing")
    return sorted(f for f in os.listdir(LISTINGS) if f.endswith(".txt"))


def listing_devices(name):
    with open(os.path.join(LISTINGS, name)) as f:
        return mkfixture.parse_listing(f.read(), name)


def build_listing(name, root):
    mkfixture.build(listing_devices(name), root)
    return root


def build_spec(text, root):
    devices, iommu, host = mkfixture.parse_spec(text)
    mkfixture.build(devices, root, iommu, host)
    return root


def run(cmd, valgrind=False, check=None, env=None, **kw):
    if valgrind:
        cmd = VALGRIND + cmd
    kw.setdefault("text", True)
    p = subprocess.run(cmd, capture_output=True, env=env, **kw)
    if check is not None and p.returncode != check:
        raise AssertionError(f"{' '.join(cmd)}: exit {p.returncode}, expected {check}\n"
                             f"stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}")
    return p


def ptlua(args, root=None, check=0, valgrind=False):
    cmd = [PTLUA] + (["--root", root] if root else []) + args
    return run(cmd, valgrind=valgrind, check=check, cwd=TOP)


def report_json(root, *args):
    p = ptlua(["scripts/report.lua", "--json", *args], root=root)
    return json.loads(p.stdout)


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}:\n  got  {got!r}\n  want {want!r}")


def contains(text, part, what):
    if part not in text:
        raise AssertionError(f"{what}: {part!r} not in:\n{text}")
