#!/usr/bin/env python3
"""Writes the section-3 man pages of libpt's functions from include/libpt.h.

  mkman.py [--header FILE] [--out DIR]     (defaults: include/libpt.h, libpt/man)
  mkman.py --list                          the pages (not the link pages)

The header is the one source. It is read as paragraphs (apart by blank lines, or by a block
comment: "/*" alone on its line), each of comments and the declarations after them. A paragraph
that a comment leads starts a page, one that a declaration leads goes on the page before it
(MOVE, CONTINUES_PAGE, PAGE_NAME of manparse.py are the few exceptions, by topic). A page is
named after its first function that is not a _ref, _unref or _free, and every other function of
it gets a link page FUNCTION.3, ".so man3/PAGE.3". NAME lists the page's functions, with the
first clause of its first comment; SYNOPSIS the declarations as the header has them (comments
left out, long lines broken after commas); DESCRIPTION the comments, each under the names it
describes, and the comments of a struct's members, an enum's values and a macro's line as a
list; RETURN VALUE the header's convention for fallible calls and the clauses of the comments
that say what comes back ("NULL when ...", "-ENOENT ...", "1 or 0"); SEE ALSO the pages the text
cites and those of the same layer (the libpt/LAYER/ whose sources define the page's functions).
The date is NEWS's for the header's version: the same header gives the same bytes. Files of DIR
that are not made are removed; with DIR libpt/man, libpt.3's list of the pages is written too.

The header is read into pages by tests/manparse.py and each page written by tests/manroff.py;
this file makes the files (the pages, their links, libpt.3's blocks) and is what the tests
import: their names are all here too (mkman.header_text, mkman.declarations, ...).
"""
import argparse
import os
import re
import sys

# The reading and the writing, and their names for those that import this file.
from manparse import (  # noqa: F401
    CONTINUES_PAGE, MOVE, PAGE_NAME, Comment, Decl, Group, Page, build_pages, comment_text,
    declarations, header_text, make_decl, member_names, merge_flags, move, paragraphs,
    read_items, read_members, split_conventions, split_trailing)
from manroff import (  # noqa: F401
    CONTINUES, PROPER, RETURNS, SUMMARY, WIDTH, Roff, block_returns, clauses, error_tail,
    is_return, line_start, merge_alternating, page_layer, params, quote, render, roff_code,
    sep_ok, split_returns, split_top, summary, synopsis_func, synopsis_type, tag, wrap_c)

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("core", "inventory", "analysis", "actions", "emit")


# ---------------------------------------------------------------------------------------------
# The files: the pages' date, the functions' layers, the header's conventions


def th_date_version(header_text):
    v = dict(re.findall(r"^#define PT_VERSION_(MAJOR|MINOR|MICRO) (\d+)$", header_text, re.M))
    version = f"{v['MAJOR']}.{v['MINOR']}.{v['MICRO']}"
    date = "2026-12-06"
    try:
        with open(os.path.join(TOP, "NEWS")) as f:
            news = f.read()
        m = re.search(rf"^{re.escape(version)} \((\d{{4}}-\d\d-\d\d)\)", news, re.M) \
            or re.search(r"^\d+\.\d+\.\d+ \((\d{4}-\d\d-\d\d)\)", news, re.M)
        if m:
            date = m.group(1)
    except OSError:
        pass
    return date, version


def layer_of():
    """function -> the layer whose sources define it."""
    out = {}
    for layer in LAYERS:
        d = os.path.join(TOP, "libpt", layer)
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if not f.endswith(".c"):
                continue
            with open(os.path.join(d, f), errors="replace") as fh:
                for m in re.finditer(r"^(?!static\b)[A-Za-z_][\w \*]*?\b(pt_\w+)\(", fh.read(), re.M):
                    out.setdefault(m.group(1), layer)
    return out



def conventions_of(header_text):
    """The header's leading comment's conventions, as sentences for the pages."""
    top = re.match(r"(?:/\*.*?\*/\s*)?(/\*.*?\*/)", header_text, re.S).group(1)
    bullets = re.split(r"\n \*  - ", top)
    out = {}
    for b in bullets:
        b = " ".join(l.strip().lstrip("*").strip() for l in b.split("\n")).rstrip("*/ ;")
        if b.lower().startswith("objects are"):
            out["ref"] = b[0].upper() + b[1:] + "."
        if b.lower().startswith("fallible calls"):
            out["errno"] = b[0].upper() + b[1:] + "."
    return out



def generate(header):
    text = header_text(header)
    pages = build_pages(read_items(text))
    date, version = th_date_version(text)
    names = {f.name for p in pages for f in p.funcs()}
    macros = set(re.findall(r"^#define (\w+)", text, re.M))
    roff = Roff(names, macros)
    page_of = {f.name: p.name for p in pages for f in p.funcs()}
    layers = layer_of()
    conventions = conventions_of(text)
    names = [p.name for p in pages]
    funcs = [f.name for p in pages for f in p.funcs()]
    for what, v in (("page", names), ("function", funcs)):
        twice = sorted({n for n in v if v.count(n) > 1})
        if twice:
            sys.exit(f"mkman.py: {what}s made twice: {' '.join(twice)}")
    files = {}
    for p in pages:
        files[p.name + ".3"] = render(p, pages, page_of, layers, roff, date, version, conventions)
        for f in p.funcs():
            if f.name != p.name:
                files[f.name + ".3"] = f".so man3/{p.name}.3\n"
    return files


# libpt(3)'s SYNOPSIS: the calls of the library's main path, their prototypes the header's.
SYNOPSIS_FUNCS = [
    "pt_ctx_new", "pt_ctx_last_error", "pt_enum_scan", "pt_enum_scan_devices", "pt_enum_find_device",
    "pt_device_get_verdict", "pt_device_get_set_member", "pt_device_explain", "pt_device_check_take",
    "pt_doctor_run", "pt_assignment_new", "pt_assignment_add", "pt_assignment_add_device",
    "pt_assignment_new_vm", "pt_assignment_check", "pt_emit_proxmox", "pt_emit_libvirt", "pt_emit_qemu",
    "pt_emission_get_line", "pt_host_plan_new", "pt_host_plan_apply", "pt_txn_new_bind",
    "pt_txn_new_restore", "pt_txn_commit", "pt_lint_run", "pt_usb_resolve", "pt_usb_attach",
    "pt_rom_parse", "pt_enum_unref",
]
SYN_BEGIN = ".\\\" The synopsis, from include/libpt.h: tests/mkman.py writes it."
SYN_END = ".\\\" End of the synopsis tests/mkman.py writes."
LIST_BEGIN = ".\\\" The functions' pages, from include/libpt.h: tests/mkman.py writes this list."
LIST_END = ".\\\" End of the list tests/mkman.py writes."


def libpt3_list(pages):
    """The lines libpt.3's SEE ALSO ends with: every page (not the link pages)."""
    lines = [LIST_BEGIN, ".PP", ".na", ".nh",
             "Each function has its page (\\fBman pt_ctx_new\\fR), made from the comments of",
             ".IR libpt.h ;",
             "each page holds a function and those that go with it:"]
    lines += [f".BR {n[:-2]} (3)" + ("," if i < len(pages) - 1 else ".") for i, n in enumerate(pages)]
    return lines + [LIST_END]


def libpt3_synopsis(decls):
    """libpt(3)'s SYNOPSIS lines: the prototypes of SYNOPSIS_FUNCS, as the header declares them."""
    lines = [SYN_BEGIN, ".nf", ".B #include <libpt.h>", ".PP"]
    for n in SYNOPSIS_FUNCS:
        lines += synopsis_func(decls[n])
    return lines + [".fi", SYN_END]


def replace_block(text, begin, end, block, where):
    """text with the lines from begin to end replaced by block (where: "SYNOPSIS" or "end")."""
    if begin in text:
        a = text.index(begin)
        b = text.index(end, a) + len(end) + 1
        return text[:a] + block + text[b:]
    if where == "end":
        return text + block
    a = text.index(".SH SYNOPSIS\n") + len(".SH SYNOPSIS\n")
    b = text.index(".PP\nLink with", a)
    return text[:a] + block + text[b:]


def update_libpt3(path, pages, decls):
    """libpt.3 with its synopsis and the list of pages as its end (in place of the ones there)."""
    with open(path) as f:
        text = f.read()
    new = replace_block(text, SYN_BEGIN, SYN_END, "\n".join(libpt3_synopsis(decls)) + "\n", "SYNOPSIS")
    new = replace_block(new, LIST_BEGIN, LIST_END, "\n".join(libpt3_list(pages)) + "\n", "end")
    if new != text:
        with open(path, "w") as f:
            f.write(new)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--header", default=os.path.join(TOP, "include", "libpt.h"))
    ap.add_argument("--out", default=os.path.join(TOP, "libpt", "man"),
                    help="where the pages go (libpt/man: libpt.3's list of them is written too)")
    ap.add_argument("--list", action="store_true", help="print the pages (not the link pages)")
    a = ap.parse_args()
    files = generate(a.header)
    pages = sorted(n for n, t in files.items() if not t.startswith(".so "))
    if a.list:
        print("\n".join(pages))
        return
    os.makedirs(a.out, exist_ok=True)
    for n in sorted(os.listdir(a.out)):
        if n.endswith(".3") and n not in files:
            os.remove(os.path.join(a.out, n))
    for n, t in sorted(files.items()):
        path = os.path.join(a.out, n)
        try:
            with open(path) as f:
                if f.read() == t:
                    continue
        except OSError:
            pass
        with open(path, "w") as f:
            f.write(t)
    if os.path.realpath(a.out) == os.path.realpath(os.path.join(TOP, "libpt", "man")):
        update_libpt3(os.path.join(TOP, "libpt", "libpt.3"), pages, declarations(a.header))
    print(f"{a.out}: {len(pages)} pages, {len(files) - len(pages)} link pages")


if __name__ == "__main__":
    main()
