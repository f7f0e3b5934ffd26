"""What the build delivers: the ABI surface, and install/uninstall as mirror images."""
import glob
import os
import re
import subprocess

from harness import CC_SAN, TOP, build_listing, contains, eq, library_version, run, soname, test


@test()
def build_exports_only_the_api(tmp):
    p = run(["nm", "-D", "--defined-only", f"{TOP}/{soname()}"], check=0)
    names = [line.split()[-1] for line in p.stdout.splitlines() if not line.split()[-1].startswith("LIBPT_")]
    bad = [n for n in names if not n.startswith("pt_")]
    eq(bad, [], "exported symbols outside pt_")
    assert all("@@LIBPT_" in n for n in names), names
    import mkman
    header = mkman.header_text(f"{TOP}/include/libpt.h")
    for n in names:
        contains(header, n.split("@")[0] + "(", "exported symbol declared in libpt.h")
    p = run(["readelf", "-d", f"{TOP}/{soname()}"], check=0)
    contains(p.stdout, f"Library soname: [{soname()}]", "soname")
    # The installed archives: every global a C program linking them sees is pt_* or luaopen_*.
    for archive in ("libpt.a", "libpt-lua.a"):
        p = run(["nm", "-g", "--defined-only", f"{TOP}/{archive}"], check=0)
        names = {l.split()[2] for l in p.stdout.splitlines() if len(l.split()) == 3 and l.split()[1] in "TDBR"}
        eq(sorted(n for n in names if not n.startswith(("pt_", "luaopen_", "__odr_asan."))), [],
           f"{archive}: unprefixed globals")  # ASan adds __odr_asan.NAME under SANITIZE=1


LAYERS = ("core", "inventory", "analysis", ("actions", "emit"))


def object_edges(objects):
    """file -> the files whose functions it calls, from the objects' symbols."""
    defined, wanted = {}, {}
    for o in objects:
        lines = [l.split() for l in run(["nm", o], check=0).stdout.splitlines()]
        defined[o] = {l[2] for l in lines if len(l) == 3 and l[1] in "TDBR"}
        wanted[o] = {l[1] for l in lines if len(l) == 2 and l[0] == "U"}
    owner = {name: o for o, names in defined.items() for name in names}
    return {o: {owner[n] for n in wanted[o] if n in owner and owner[n] != o} for o in objects}


@test()
def build_readme_names_every_file_of_each_layer(tmp):
    # README's table of the library's files, by layer, is the tree's
    with open(f"{TOP}/README.md") as f:
        rows = re.findall(r"^\| `(libpt/\w+/)` \|[^|]*\| `([^`]*)` \|$", f.read(), re.M)
    eq(len(rows), 5, "README's rows for libpt/'s layers")
    for folder, files in rows:
        eq(sorted(files.split()), sorted(f for f in os.listdir(f"{TOP}/{folder}") if f.endswith(".c")),
           f"README's files of {folder}")


@test()
def build_layers_depend_downward(tmp):
    """No file of libpt/ or lua/ depends on a file that depends on it back, and libpt's layers
    (core, inventory, analysis, then actions and emit) call only the layers below them."""
    objects = sorted(glob.glob(f"{TOP}/build/*/*.o")) + sorted(glob.glob(f"{TOP}/build/lua-*.o"))
    assert len(objects) > 30, objects
    edges = object_edges(objects)
    def reaches(a, b, seen):
        return any(n == b or (n not in seen and not seen.add(n) and reaches(n, b, seen)) for n in edges[a])
    circles = sorted({tuple(sorted((os.path.relpath(a, TOP), os.path.relpath(b, TOP))))
                      for a in objects for b in edges[a] if reaches(b, a, set())})
    eq(circles, [], "files that depend on each other")
    rank = {name: i for i, layer in enumerate(LAYERS) for name in ((layer,) if isinstance(layer, str) else layer)}
    upward = sorted(f"{os.path.relpath(a, TOP)} -> {os.path.relpath(b, TOP)}" for a in objects for b in edges[a]
                    if "/lua-" not in a + b and rank[a.split("/")[-2]] <= rank[b.split("/")[-2]]
                    and a.split("/")[-2] != b.split("/")[-2])
    eq(upward, [], "calls into the same or a higher layer")


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


@test(timeout=180, alone=True)  # make install with another PREFIX rebuilds ptlua
def build_install_uninstall(tmp):
    prefix = os.path.join(tmp, "usr")
    fixture = build_listing("01-intel-z370-coffeelake-gt1030.txt", os.path.join(tmp, "root"))
    run(["make", "-s", "-C", TOP, "install", f"PREFIX={prefix}"], check=0)
    installed = files_under(prefix)
    for f in ("bin/ptlua", "include/libpt.h", "include/pt-lua.h", "lib/libpt-lua.a", f"lib/libpt.so.{library_version()}", f"lib/{soname()}", "lib/libpt.so",
              "lib/libpt.a", "lib/pkgconfig/libpt.pc", "lib/lua/5.4/pt.so",
              "share/libpt/lua/pt/recipe.lua", "share/libpt/scripts/report.lua",
              *(f"share/man/man3/{m}" for m in os.listdir(f"{TOP}/libpt/man")),
              *(f"include/libpt/{h}" for h in os.listdir(f"{TOP}/include/libpt"))):
        assert f in installed, f"{f} not installed: {installed}"
    # The installed ptlua finds its modules and scripts beside itself.
    p = run([f"{prefix}/bin/ptlua", "--root", fixture, f"{prefix}/share/libpt/scripts/report.lua",
             "--device", "01:00.0"], check=0, cwd=tmp)
    contains(p.stdout, "with companions: passes with 0000:01:00.1", "installed ptlua")
    # A C program builds with pkg-config and runs against the installed library.
    env = dict(os.environ, PKG_CONFIG_PATH=f"{prefix}/lib/pkgconfig")
    flags = run(["pkg-config", "--cflags", "--libs", "libpt"], env=env, check=0).stdout.split()
    src = os.path.join(tmp, "count.c")
    with open(src, "w") as f:
        f.write('#include <libpt.h>\n#include <stdio.h>\nint main(int c, char **v) {\n'
                '  pt_opts o = { .size = sizeof(o), .root = v[1] }; pt_ctx *ctx; pt_enum *e;\n'
                '  if (pt_ctx_new(&ctx, &o) < 0 || pt_enum_scan(ctx, 0, &e) < 0) return 1;\n'
                '  printf("%zu\\n", pt_enum_get_device_count(e));\n'
                '  pt_enum_unref(e); pt_ctx_unref(ctx); return 0; }\n')
    run(["cc", *CC_SAN, "-o", f"{tmp}/count", src, *flags], check=0)
    env_run = dict(os.environ, LD_LIBRARY_PATH=f"{prefix}/lib")
    eq(run([f"{tmp}/count", fixture], env=env_run, check=0).stdout, "21\n", "C program via pkg-config")
    # Every C program of README builds against the installed library and runs on the fixture.
    with open(f"{TOP}/README.md") as f:
        blocks = [b for b in re.findall(r"```c\n(.*?)```", f.read(), re.S) if "int main(" in b]
    eq(len(blocks), 2, "README's C programs")
    want = {"verdict": "0000:01:00.0: with-companions\n  with 0000:01:00.0\n  with 0000:01:00.1\n",
            "hostpci": "hostpci0: 01:00,pcie=1\n"}
    for block in blocks:
        name = re.match(r"/\* (\w+)\.c:", block).group(1)
        src = os.path.join(tmp, name + ".c")
        with open(src, "w") as f:
            f.write(block)
        run(["cc", *CC_SAN, "-std=gnu11", "-Wall", "-Werror", "-o", f"{tmp}/{name}", src, *flags], env=env, check=0)
        out = run([f"{tmp}/{name}", fixture, "0000:01:00.0"], env=env_run, check=0).stdout
        eq(out, want[name], f"README's {name}.c")
    # The module loads in the system's Lua 5.4.
    p = run(["lua5.4", "-e", f'package.cpath = "{prefix}/lib/lua/5.4/?.so"; '
             f'local pt = require "pt"; print(pt.scan{{ root = "{fixture}" }}:count())'],
            env=env_run, check=0)
    eq(p.stdout, "21\n", "require 'pt' from lua5.4")
    # A C program embeds the interpreter set-up of ptlua and runs a bundled recipe.
    embed = os.path.join(tmp, "embed.c")
    with open(embed, "w") as f:
        f.write('#include <lauxlib.h>\n#include <pt-lua.h>\nint main(int c, char **v) {\n'
                '  lua_State *L = luaL_newstate(); pt_lua_setup(L, v[1]);\n'
                '  lua_getglobal(L, "require"); lua_pushstring(L, "pt.recipe"); lua_call(L, 1, 1);\n'
                '  lua_getfield(L, -1, "ptlua"); lua_newtable(L); lua_newtable(L);\n'
                '  lua_pushstring(L, v[2]); lua_rawseti(L, -2, 1); lua_pushstring(L, "--json"); lua_rawseti(L, -2, 2);\n'
                '  lua_setfield(L, -2, "words"); lua_pushstring(L, "run"); lua_setfield(L, -2, "mode");\n'
                '  if (lua_pcall(L, 1, 1, 0)) { fprintf(stderr, "%s\\n", lua_tostring(L, -1)); return 1; }\n'
                '  lua_close(L); return 0; }\n')
    lua = run(["pkg-config", "--cflags", "--libs", "lua5.4"], check=0).stdout.split()
    run(["cc", *CC_SAN, "-include", "stdio.h", "-o", f"{tmp}/embed", embed, f"-I{prefix}/include", f"-L{prefix}/lib",
         "-lpt-lua", *flags, *lua, "-lm"], env=env, check=0)
    out = run([f"{tmp}/embed", fixture, f"{prefix}/share/libpt/scripts/report.lua"], env=env_run, check=0).stdout
    contains(out, '"address": "0000:01:00.0"', "an embedding program runs the report")
    run(["make", "-s", "-C", TOP, "uninstall", f"PREFIX={prefix}"], check=0)
    eq(files_under(prefix), [], "files left after uninstall")


@test(timeout=120, alone=True)
def build_install_destdir(tmp):
    dest = os.path.join(tmp, "dest")
    run(["make", "-s", "-C", TOP, "install", f"DESTDIR={dest}", "PREFIX=/usr"], check=0)
    assert os.path.exists(f"{dest}/usr/bin/ptlua")
    with open(f"{dest}/usr/lib/pkgconfig/libpt.pc") as f:
        contains(f.read(), "prefix=/usr\n", "pc file names the final prefix")
    run(["make", "-s", "-C", TOP, "uninstall", f"DESTDIR={dest}", "PREFIX=/usr"], check=0)
    eq(files_under(dest), [], "files left after uninstall")


@test(timeout=120)
def build_abi_kept(tmp):
    # the library keeps the ABI of its soname's baseline
    p = run(["make", "-s", "--no-print-directory", "abi-check"], check=0, cwd=TOP)
    contains(p.stdout, f"keeps the ABI of libpt/abi/{soname()}.abi", "make abi-check")
    # the check itself, on a small library: the baseline, then each kind of change
    # (a_priv: an opaque object whose struct holds the value struct, met first by abidiff)
    base_h = ("struct opts { long size; const char *root; };\nint x_new(const struct opts *o);\nint x_get(int i);\n"
              "struct priv;\nint a_priv(struct priv *p);\n")
    base_c = ("int x_new(const struct opts *o) { return o ? 0 : -1; }\nint x_get(int i) { return i; }\n"
              "struct priv { struct opts o; int n; };\nint a_priv(struct priv *p) { return p->n; }\n")
    base_sym = "X_1 {\nglobal:\n\ta_priv;\n\tx_new;\n\tx_get;\nlocal: *;\n};\n"

    def build(name, header, source, sym):
        d = os.path.join(tmp, name)
        os.makedirs(os.path.join(d, "include"))
        with open(os.path.join(d, "include", "x.h"), "w") as f:
            f.write(header)
        with open(os.path.join(d, "x.c"), "w") as f:
            f.write('#include "x.h"\n' + source)
        with open(os.path.join(d, "x.sym"), "w") as f:
            f.write(sym)
        lib = os.path.join(d, "libx.so.1")
        # relative paths, as the Makefile compiles: the headers are known by their path in the tree
        run(["cc", "-g", "-shared", "-fPIC", "-Iinclude", "-Wl,-soname,libx.so.1",
             "-Wl,--version-script,x.sym", "-o", lib, "x.c"], check=0, cwd=d)
        return lib, os.path.join(d, "include")

    lib, inc = build("base", base_h, base_c, base_sym)
    baseline = os.path.join(tmp, "libx.so.1.abi")
    run(["abidw", "--headers-dir", inc, "--out-file", baseline, lib], check=0)
    check = [os.path.join(TOP, "tests", "abicheck.py")]
    ignore = os.path.join(tmp, "x.abignore")
    with open(ignore, "w") as f:
        f.write("[suppress_type]\n  name = opts\n  has_data_member_inserted_at = end\n")
    cases = {
        "same": (base_h, base_c, base_sym, 0, "keeps the ABI"),
        "added in a new node": (base_h + "int x_more(void);\n", base_c + "int x_more(void) { return 1; }\n",
                                base_sym + "X_2 {\nglobal:\n\tx_more;\n} X_1;\n", 0, "1 functions added"),
        "added to a released node": (base_h + "int x_more(void);\n", base_c + "int x_more(void) { return 1; }\n",
                                     base_sym.replace("\tx_get;", "\tx_get;\n\tx_more;"), 1,
                                     "symbols added to a released version node (give them a new node in "
                                     "libpt/libpt.sym): x_more@X_1"),
        "removed": (base_h, base_c, base_sym.replace("\tx_get;\n", ""), 1, "an incompatible change"),
        "a field inserted": (base_h.replace("long size;", "long size; int flags;"), base_c, base_sym, 1,
                             "an incompatible change"),
        "a field at the end of a struct with its size": (base_h.replace("const char *root;", "const char *root; int flags;"),
                                                         base_c, base_sym, 0, "keeps the ABI"),
        "a value struct's member of another type": (base_h.replace("const char *root;", "long root;"), base_c,
                                                     base_sym, 1, "value struct opts: member root (const char* at "
                                                     "bit 64) changed or moved"),
        "a parameter added": (base_h.replace("int x_get(int i);", "int x_get(int i, int j);"),
                              base_c.replace("int x_get(int i)", "int x_get(int i, int j)"), base_sym, 1,
                              "an incompatible change"),
    }
    for i, (what, (h, c, sym, want, said)) in enumerate(cases.items()):
        changed, changed_inc = build(f"case{i}", h, c, sym)
        p = run(["python3", *check, changed, baseline, changed_inc, ignore])
        eq(p.returncode, want, f"{what}: {p.stdout}")
        contains(p.stdout, said, what)


@test()
def build_cites_no_file_a_clone_lacks(tmp):
    # the project's files name no file outside it (the founders' notes beside the checkout, which
    # a user's clone does not have); the names are put together here, so this file names none
    outside = ["DESIGN" + ".md", "STYLE" + ".md", os.path.join("..", "sha" + "red")]
    files = run(["git", "ls-files"], check=0, cwd=TOP).stdout.split()
    cited = []
    for f in files:
        if f.startswith("tests/fixtures/") or f.endswith(".abi"):
            continue
        with open(os.path.join(TOP, f), errors="replace") as fh:
            text = fh.read()
        for word in outside:
            if word in text:
                cited.append(f"{f}: {word}")
    eq(cited, [], "files citing what a clone does not have")
