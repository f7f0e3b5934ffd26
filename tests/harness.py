"""What the tests share: declaration, paths, fixture trees, running ptlua."""
import json
import os
import subprocess

import mkfixture

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PTLUA = os.path.join(TOP, "lua", "ptlua")
LISTINGS = os.path.join(TOP, "tests", "fixtures", "listings")
VALGRIND = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--show-leak-kinds=definite,indirect,possible", "--errors-for-leak-kinds=definite,indirect,possible"]

TESTS = []


def library_version():
    """The library's version, from the header's PT_VERSION_* (as the Makefile takes it)."""
    import re
    with open(os.path.join(TOP, "include", "libpt.h")) as f:
        parts = dict(re.findall(r"^#define PT_VERSION_(MAJOR|MINOR|MICRO) (\d+)$", f.read(), re.M))
    return f"{parts['MAJOR']}.{parts['MINOR']}.{parts['MICRO']}"


def soname():
    """The shared library's soname: its major moves only with a deliberate break (NEWS)."""
    return f"libpt.so.{library_version().split('.')[0]}"


class Skip(Exception):
    pass


class Test:
    def __init__(self, name, func, timeout, last, alone, tier):
        self.name, self.func, self.timeout, self.last, self.alone = name, func, timeout, last, alone
        self.tier = tier


TIERS = ("host", "kernel")


def test(name=None, timeout=60, last=False, alone=False, tier="host"):
    """Declares a test; `last` ones run after all others (the clean-clone check), `alone` ones
    with no other test beside them (run.py -j): they install packages or time a peer. Its tier:
    "host" runs on this machine (fixture trees, the kernel emulator, umockdev, a QEMU for QMP),
    "kernel" boots Debian's kernel under QEMU (tests/realkernel.py): `run.py --tier kernel` and
    `make check-kernel` run those alone, make check runs both."""
    assert tier in TIERS, tier
    def wrap(func):
        TESTS.append(Test(name or func.__name__.replace("_", "-"), func, timeout, last, alone, tier))
        return func
    return wrap


def listings():
    if not os.path.isdir(LISTINGS):
        raise AssertionError(f"{LISTINGS}: the listings are missing")
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


# make check SANITIZE=1: the build carries ASan and UBSan, which valgrind cannot run under.
SANITIZE = os.environ.get("PT_SANITIZE") == "1"
# What a C program built against the library needs then (its objects carry the sanitizers).
CC_SAN = ["-fsanitize=address,undefined"] if SANITIZE else []


def run(cmd, valgrind=False, check=None, env=None, **kw):
    if valgrind and not SANITIZE:
        cmd = VALGRIND + cmd
    if valgrind or SANITIZE:
        # ptlua frees its Lua state at exit only when asked (lua/ptlua.c): the leak checkers
        # then see every object of the library freed
        env = dict(os.environ if env is None else env, PTLUA_CLOSE_STATE="1")
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
    """The JSON report; each device given its "passthrough_set" from its group, as a reader
    of the report finds it (the report lists a set once, with the group)."""
    p = ptlua(["scripts/report.lua", "--json", *args], root=root)
    r = json.loads(p.stdout)
    # the library's document: a host's names its root, a listing's says what it cannot show
    keys = list(r)
    want = ["listing", "cannot_show"] if "--listing" in args else ["root"]
    if keys[:len(want)] != want or keys[len(want):len(want) + 4] != ["iommu", "devices", "groups", "warnings"]:
        raise AssertionError(f"the report's keys: {keys}")
    sets = {g["number"]: g["passthrough_set"] for g in r.get("groups", [])}
    for d in r.get("devices", []):
        if "passthrough_set" in d:
            raise AssertionError(f"{d['address']}: a device object repeats its group's set")
        passes = d["verdict"] in ("isolated", "with-companions", "shared")
        d["passthrough_set"] = sets[d["iommu_group"]] if passes else []
    return r


def eq(got, want, what):
    if got != want:
        raise AssertionError(f"{what}:\n  got  {got!r}\n  want {want!r}")


def contains(text, part, what):
    if part not in text:
        raise AssertionError(f"{what}: {part!r} not in:\n{text}")


def snapshot(root, skip=("run/libpt",)):
    """The whole tree: every path with its kind, link target or content."""
    tree = {}
    for d, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(d, root)
        if any(rel_dir == s or rel_dir.startswith(s + "/") for s in skip):
            dirs[:] = []
            continue
        for name in dirs + files:
            full = os.path.join(d, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if any(rel == s for s in skip):
                continue
            if os.path.islink(full):
                tree[rel] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                tree[rel] = ("dir",)
            else:
                with open(full, "rb") as f:
                    tree[rel] = ("file", f.read())
        dirs[:] = [x for x in dirs if not os.path.islink(os.path.join(d, x))]
    return tree


def tree_diff(before, after):
    keys = sorted(set(before) | set(after))
    return [f"{k}: {before.get(k)!r} -> {after.get(k)!r}" for k in keys if before.get(k) != after.get(k)]


KEMU = os.path.join(TOP, "build", "kemu.so")


def kemu_lib():
    """The kernel emulator (tests/kemu.c), built when it is older than its source."""
    src = os.path.join(TOP, "tests", "kemu.c")
    if not os.path.exists(KEMU) or os.path.getmtime(KEMU) < os.path.getmtime(src):
        tmp = KEMU + f".{os.getpid()}"
        run(["cc", "-shared", "-fPIC", "-O1", "-o", tmp, src, "-ldl"], check=0)
        os.replace(tmp, KEMU)
    return KEMU


def kemu_env(root, faults="", kill_after=None):
    """The environment that preloads the kernel emulator over root (see tests/kemu.c)."""
    kemu_lib()
    root = os.path.realpath(root)
    native = os.path.join(os.path.dirname(root), os.path.basename(root) + ".native")
    if not os.path.exists(native):
        with open(native, "w") as f:
            devs = os.path.join(root, "sys/bus/pci/devices")
            for a in sorted(os.listdir(devs)):
                link = os.path.join(devs, a, "driver")
                if os.path.islink(link):
                    f.write(f"{a} {os.path.basename(os.readlink(link))}\n")
    env = dict(os.environ, LD_PRELOAD=KEMU, KEMU_ROOT=root, KEMU_NATIVE=native, KEMU_FAULTS=faults)
    if kill_after is not None:
        env["KEMU_KILL_AFTER"] = str(kill_after)
    return env


def ptlua_emu(args, root, check=0, **emu):
    return run([PTLUA, "--root", root] + args, check=check, cwd=TOP, env=kemu_env(root, **emu))


def ptlua_at(args, root, cwd):
    """ptlua run from another directory (relative script paths, hookscript snippets)."""
    return run([PTLUA, "--root", root] + args, cwd=cwd)
