"""The man pages of the C API (libpt/man): made from include/libpt.h by tests/mkman.py and
committed; every exported function has one (or a link page to the page it shares), each renders
without a warning, and libpt(3) names them."""
import os
import re

import mkman
from harness import TOP, eq, run, soname, test

MAN_DIR = os.path.join(TOP, "libpt", "man")
# man as a reader runs it, on 80 columns, every warning of groff's asked for
MAN_ENV = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
MAN = ["man", "--warnings", "-E", "UTF-8", "-Tutf8"]


def committed():
    return {n: open(os.path.join(MAN_DIR, n)).read() for n in sorted(os.listdir(MAN_DIR))}


def exported():
    """The library's symbols: the built library's (when built) and the version script's."""
    names = set()
    so = os.path.join(TOP, soname())
    if os.path.exists(so):
        p = run(["nm", "-D", "--defined-only", so], check=0)
        names |= {l.split()[-1].split("@")[0] for l in p.stdout.splitlines() if l.split()[1:2] != ["A"]}
    with open(os.path.join(TOP, "libpt", "libpt.sym")) as f:
        sym = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    names |= set(re.findall(r"^\s*(pt_\w+);", sym, re.M))
    return sorted(names)


def pages_of(files):
    return sorted(n for n, t in files.items() if not t.startswith(".so "))


@test()
def man_pages_are_the_headers(tmp):
    """libpt/man is what tests/mkman.py makes of include/libpt.h, byte for byte: no page stale,
    none missing."""
    out = os.path.join(tmp, "man")
    run(["python3", os.path.join(TOP, "tests", "mkman.py"), "--out", out], check=0)
    made = {n: open(os.path.join(out, n)).read() for n in sorted(os.listdir(out))}
    have = committed()
    hint = " (run tests/mkman.py and commit libpt/man)"
    eq(sorted(set(have) - set(made)), [], "pages in libpt/man the header no longer makes" + hint)
    eq(sorted(set(made) - set(have)), [], "pages the header makes that libpt/man lacks" + hint)
    eq(sorted(n for n in made if made[n] != have[n]), [], "pages that differ from the header's" + hint)
    # and again: the same bytes (no date, no order of a set in them)
    run(["python3", os.path.join(TOP, "tests", "mkman.py"), "--out", out], check=0)
    eq(sorted(n for n in os.listdir(out) if open(os.path.join(out, n)).read() != made[n]), [],
       "pages that change from one run to the next")


@test()
def man_page_for_every_export(tmp):
    names = exported()
    files = committed()
    missing = [n for n in names if n + ".3" not in files]
    print(f"{len(names)} exported symbols, {len(names) - len(missing)} with a man page")
    eq(missing, [], "exported symbols without a man page")
    # a link page is one line, to a page that is there
    for n, t in files.items():
        if not t.startswith(".so "):
            continue
        m = re.fullmatch(r"\.so man3/(pt_\w+\.3)\n", t)
        assert m and not files.get(m.group(1), ".so").startswith(".so"), f"{n}: {t!r} is no link to a page"
        # the page's NAME line names the function
        name_line = files[m.group(1)].split(".SH NAME\n", 1)[1].split("\n", 1)[0]
        assert re.search(rf"(^|, ){n[:-2]}(,| \\-)", name_line), f"{m.group(1)}: its NAME lacks {n[:-2]}"


@test(timeout=120)
def man_pages_render_without_warnings(tmp):
    files = committed()
    pages = pages_of(files)
    paths = [os.path.join(MAN_DIR, n) for n in pages]
    p = run(MAN + ["-l"] + paths, env=MAN_ENV, check=0, cwd=tmp)
    if p.stderr:  # name the pages
        warned = []
        for path in paths:
            q = run(MAN + ["-l", path], env=MAN_ENV, check=0, cwd=tmp)
            if q.stderr:
                warned.append(f"{os.path.basename(path)}: {q.stderr.strip()}")
        eq(warned, [], "pages that man warns about")
    for path in paths:
        q = run(["groff", "-man", "-ww", "-z", path], check=0)
        eq(q.stderr, "", f"{os.path.basename(path)}: groff's warnings")
    # as `man NAME` finds them once installed: every function's name, the link pages followed
    tree = os.path.join(tmp, "share", "man")
    os.makedirs(tree)
    os.symlink(MAN_DIR, os.path.join(tree, "man3"))
    names = [n[:-2] for n in sorted(files)]
    p = run(MAN + ["-M", tree] + names, env=MAN_ENV, check=0, cwd=tmp)
    eq(p.stderr, "", "man NAME for every function")
    p = run(["man", "-M", tree, "-w"] + names, env=MAN_ENV, check=0, cwd=tmp)
    eq(len(p.stdout.split()), len(names), "pages man finds")
    # what a reader sees first: the page's title, its functions and the header
    out = run(["man", "-M", tree, "pt_ctx_unref"], env=MAN_ENV, check=0, cwd=tmp).stdout
    for part in ("PT_CTX_NEW(3)", "pt_ctx_unref", "#include <libpt.h>", "pt_ctx *pt_ctx_unref(pt_ctx *ctx);"):
        assert part in out, f"man pt_ctx_unref: no {part!r} in:\n{out}"


@test()
def man_libpt_names_every_page(tmp):
    """libpt(3)'s SEE ALSO ends with the list of the pages, as tests/mkman.py writes it."""
    pages = pages_of(committed())
    with open(os.path.join(TOP, "libpt", "libpt.3")) as f:
        text = f.read()
    see_also = text.split(".SH SEE ALSO\n", 1)[-1]
    listed = re.findall(r"^\.BR (pt_\w+) \(3\)", see_also, re.M)
    eq(sorted(listed), [n[:-2] for n in pages], "the pages libpt(3)'s SEE ALSO names (run tests/mkman.py)")
    assert "\n".join(mkman.libpt3_list(pages)) + "\n" in see_also, "libpt(3): the list is not mkman.py's"
    # its synopsis is the header's prototypes, and every name it cites is the header's
    header = os.path.join(TOP, "include", "libpt.h")
    assert "\n".join(mkman.libpt3_synopsis(mkman.declarations(header))) + "\n" in text, \
        "libpt(3): the synopsis is not the header's (run tests/mkman.py)"
    declared = set(re.findall(r"\b(pt_\w+|PT_\w+)\b", mkman.header_text(header)))
    cited = set(re.findall(r"(?<![a-z0-9_])(pt_\w+|PT_\w+)", text))  # after roff's \fB too
    eq(sorted(cited - declared), [], "names libpt(3) cites that libpt.h lacks")
