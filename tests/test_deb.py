"""The Debian packages (debian/, make deb): they build outside the build tree, lintian finds
nothing, they install, work where Debian's tools look for them, and purge without a trace."""
import glob
import os
import re
import shutil
import subprocess

from harness import SANITIZE, TOP, Skip, contains, eq, library_version, run, soname, test

UPSTREAM = library_version()
VERSION = UPSTREAM + "-1"
LIBPKG = "libpt" + UPSTREAM.split(".")[0]  # the library package is named by its soname
PACKAGES = (LIBPKG, "libpt-dev", "lua-pt", "ptlua")
DEB_DIR = os.path.join(TOP, "build", "deb")
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
# The trees the packages write to (/lib is /usr/lib on a merged /usr), and the state that
# systemd's helpers keep; /usr/local is not the packages' and is left out (a `make install`
# there is not touched).
WATCHED = ["/usr", "/etc", "/lib", "/var/lib/systemd"]
OURS = re.compile(r"/(libpt(\d|-|[./]|$)|ptlua|lua-pt|pt-lua\.h)|/lua/5\.4/pt(/|\.so|$)")


def multiarch():
    return run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], check=0).stdout.strip()


def system_paths():
    cmd = ["find", *[d for d in WATCHED if not os.path.islink(d)], "-xdev",
           "(", "-path", "/usr/local", "-o", "-path", "/var/lib/dpkg", "-o", "-path", "/var/cache", ")",
           "-prune", "-o", "-print"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return set(p.stdout.splitlines())


def installed(pkg):
    p = run(["dpkg-query", "-W", "-f", "${db:Status-Status}", pkg])
    return p.returncode == 0 and p.stdout.strip() not in ("", "not-installed")


def purge(pkgs):
    left = [p for p in pkgs if installed(p)]
    if left:
        run(APT + ["purge", *left], env=APT_ENV, check=0)


def version_script():
    """libpt/libpt.sym as the symbols file names them: NAME@NODE."""
    with open(os.path.join(TOP, "libpt", "libpt.sym")) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    names = set()
    for node, body in re.findall(r"(\w[\w.]*)\s*\{(.*?)\}", text, re.S):
        names |= {f"{n}@{node}" for n in re.findall(r"^\s*(\w+)\s*;", body, re.M)}
    return names


def skip_reason():
    if SANITIZE:
        return "SANITIZE=1: the packages are built without the sanitizers; plain make check tests them"
    if os.geteuid() != 0:
        return "installing the packages needs root"
    missing = [t for t in ("dpkg-buildpackage", "dh", "lintian", "apt-get", "git") if not shutil.which(t)]
    if missing or not os.path.isdir("/usr/share/perl5/Debian/Debhelper"):
        return f"Debian's packaging tools are missing ({' '.join(missing) or 'debhelper'}): make deps-deb installs them"
    if not os.path.isdir(os.path.join(TOP, ".git")):
        return "make deb copies the files git tracks: no git checkout here"
    return None


@test(timeout=600, alone=True)
def deb_build_lint_install_purge(tmp):
    why = skip_reason()
    if why:
        raise Skip(why)
    ma = multiarch()
    # A run killed by its timeout leaves them installed: take them away first.
    if any(installed(p) for p in PACKAGES):
        print("purging packages left by an earlier run:", [p for p in PACKAGES if installed(p)])
        purge(PACKAGES)

    # The symbols file lists what the version script exports (the build checks the library
    # against it, at level 4; this says what to change before a build does).
    with open(os.path.join(TOP, "debian", f"{LIBPKG}.symbols")) as f:
        in_file = {l.split()[0] for l in f if l.startswith(" ") and not re.match(r" (LIBPT[\w.]*)@\1 ", l)}
    exported = version_script()
    eq([f" {n} {UPSTREAM}" for n in sorted(exported - in_file)], [], f"lines debian/{LIBPKG}.symbols lacks")
    with open(os.path.join(TOP, "debian", "changelog")) as f:
        eq(f.readline().split()[1], f"({VERSION})", "debian/changelog's newest entry is the header's version")
    eq(sorted(in_file - exported), [], f"debian/{LIBPKG}.symbols names symbols libpt.sym no longer exports")

    # make deb on its own, not as a sub-make of make check (its flags and job server).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    run(["make", "-s", "-C", TOP, "deb"], check=0, env=env)
    debs = [os.path.join(DEB_DIR, f"{p}_{VERSION}_{_arch()}.deb") for p in PACKAGES]
    eq([d for d in debs if not os.path.isfile(d)], [], "packages make deb did not build")
    changes = glob.glob(os.path.join(DEB_DIR, f"libpt_{VERSION}_*.changes"))
    eq(len(changes), 1, "the .changes file")

    # lintian at its default level: no error, no warning (overrides carry their reason).
    p = run(["lintian", changes[0]])
    flagged = [l for l in p.stdout.splitlines() + p.stderr.splitlines() if re.match(r"[EW]: ", l)]
    eq(flagged, [], "lintian's errors and warnings")

    # What each package holds, before anything is installed.
    contents = {}
    for pkg, deb in zip(PACKAGES, debs):
        listing = run(["dpkg-deb", "-c", deb], check=0).stdout.splitlines()
        contents[pkg] = {l.split(None, 5)[5].split(" -> ")[0].lstrip(".").rstrip("/") for l in listing}
    lib = f"/usr/lib/{ma}"
    want = {
        LIBPKG: [f"{lib}/{soname()}", f"{lib}/libpt.so.{UPSTREAM}"],
        "libpt-dev": ["/usr/include/libpt.h", "/usr/include/pt-lua.h", f"{lib}/libpt.so", f"{lib}/libpt.a",
                      f"{lib}/libpt-lua.a", f"{lib}/pkgconfig/libpt.pc", "/usr/share/man/man3/libpt.3.gz",
                      *(f"/usr/share/man/man3/{m}.gz" for m in os.listdir(os.path.join(TOP, "libpt", "man"))),
                      *(f"/usr/include/libpt/{h}" for h in os.listdir(os.path.join(TOP, "include", "libpt")))],
        "lua-pt": [f"{lib}/lua/5.4/pt.so", "/usr/share/lua/5.4/pt/proxmox.lua", "/usr/share/lua/5.4/pt/recipe.lua",
                   "/usr/share/lua/5.4/pt/recipe.luac"],
        "ptlua": ["/usr/bin/ptlua", "/usr/share/libpt/scripts/report.lua", "/usr/share/man/man1/ptlua.1.gz",
                  "/lib/systemd/system/libpt-publish.timer", "/lib/systemd/system/libpt-sriov@.service"],
    }
    for pkg, files in want.items():
        eq([f for f in files if f not in contents[pkg]], [], f"{pkg}: files missing")
    eq(sorted(f for f in contents[LIBPKG] if "/libpt.so" in f and not f.startswith(f"{lib}/{soname()}")), [],
       f"{LIBPKG} holds the shared library only")

    before = system_paths()
    try:
        run(APT + ["install", *debs], env=APT_ENV, check=0)
        for pkg in PACKAGES:
            assert installed(pkg), f"{pkg} not installed"
        listed = {}
        for pkg in PACKAGES:
            listed[pkg] = run(["dpkg", "-L", pkg], check=0).stdout.splitlines()
            for f in want[pkg]:
                assert f in listed[pkg] or f.replace("/lib/", "/usr/lib/", 1) in listed[pkg], \
                    f"dpkg -L {pkg}: no {f}"

        # ptlua, at its absolute path (PATH may name /usr/local/bin first).
        p = run(["/usr/bin/ptlua", "--list"], check=0, cwd=tmp)
        contains(p.stdout, "report", "ptlua --list")
        run(["/usr/bin/ptlua", "/usr/share/libpt/scripts/report.lua"], check=0, cwd=tmp)
        # A recipe runs by its shebang; every recipe is executable, its shebang the package's ptlua.
        run(["/usr/share/libpt/scripts/report.lua", "--json"], check=0, cwd=tmp)
        recipes = sorted(glob.glob("/usr/share/libpt/scripts/*.lua"))
        assert len(recipes) >= 10, recipes
        for r in recipes:
            assert os.stat(r).st_mode & 0o111 == 0o111, f"{r}: not executable"
            with open(r) as f:
                eq(f.readline(), "#!/usr/bin/ptlua\n", f"{r}: shebang")
        for u in glob.glob("/lib/systemd/system/libpt-*"):
            with open(u) as f:
                text = f.read()
            assert "@BINDIR@" not in text and "@SCRIPTDIR@" not in text, f"{u}: unsubstituted"
        # The units are installed, not enabled: no link in /etc/systemd (deb-systemd-helper's
        # state under /var/lib/systemd only records what enabling would make, for the purge).
        enabled = [p for p in system_paths() - before if p.startswith("/etc/")]
        eq(enabled, [], "units enabled or started by the install")

        # The system's Lua 5.4 finds the module and the Lua modules (the Debian directories
        # only: a copy under /usr/local would be found first otherwise).
        paths = run(["lua5.4", "-e", "print(package.path) print(package.cpath)"], check=0).stdout.split()
        lua_env = dict(os.environ, **{k: ";".join(e for e in v.split(";") if e.startswith("/usr/") and not e.startswith("/usr/local/"))
                                      for k, v in zip(("LUA_PATH_5_4", "LUA_CPATH_5_4"), paths)})
        p = run(["lua5.4", "-e", 'local pt = require "pt"; require "pt.proxmox"; require "pt.json"; '
                 'print(package.searchpath("pt", package.cpath), package.searchpath("pt.proxmox", package.path))'],
                env=lua_env, check=0, cwd=tmp)
        eq(p.stdout.split(), [f"{lib}/lua/5.4/pt.so", "/usr/share/lua/5.4/pt/proxmox.lua"], "lua5.4 finds the module")

        # A C program built with pkg-config against libpt-dev, run against the library package.
        src = os.path.join(tmp, "count.c")
        with open(src, "w") as f:
            f.write('#include <libpt.h>\n#include <stdio.h>\nint main(void) {\n'
                    '  pt_opts o = { .size = sizeof(o) }; pt_ctx *ctx; pt_enum *e;\n'
                    '  if (pt_ctx_new(&ctx, &o) < 0 || pt_enum_scan(ctx, 0, &e) < 0) return 1;\n'
                    '  printf("%zu devices\\n", pt_enum_get_device_count(e));\n'
                    '  pt_enum_unref(e); pt_ctx_unref(ctx); return 0; }\n')
        pc_env = dict(os.environ, PKG_CONFIG_LIBDIR=f"{lib}/pkgconfig:/usr/lib/pkgconfig:/usr/share/pkgconfig")
        pc_env.pop("PKG_CONFIG_PATH", None)
        flags = run(["pkg-config", "--cflags", "--libs", "libpt"], env=pc_env, check=0).stdout.split()
        run(["cc", "-Wall", "-Werror", "-o", f"{tmp}/count", src, *flags], env=pc_env, check=0)
        linked = run(["ldd", f"{tmp}/count"], env=dict(os.environ, LD_LIBRARY_PATH=lib), check=0).stdout
        contains(linked, f"{soname()} => {lib}/{soname()}", "the program links the package's library")
        p = run([f"{tmp}/count"], env=dict(os.environ, LD_LIBRARY_PATH=lib), check=0)
        assert re.fullmatch(r"\d+ devices\n", p.stdout), p.stdout
        print("the C program:", p.stdout.strip(), "on this host")

        ours = set().union(*listed.values())
        run(APT + ["purge", *PACKAGES], env=APT_ENV, check=0)
    finally:
        purge(PACKAGES)  # whatever failed above: nothing of the packages stays installed
    for pkg in PACKAGES:
        assert not installed(pkg), f"{pkg} still installed after the purge"
    new = system_paths() - before
    left = sorted(p for p in new if p in ours or OURS.search(p))
    eq(left, [], "files left after the purge")
    others = sorted(new)
    if others:
        print("paths new since the install, not the packages' (another process):", others[:20])


def _arch():
    return run(["dpkg", "--print-architecture"], check=0).stdout.strip()
