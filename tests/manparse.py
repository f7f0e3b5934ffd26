"""The reading half of tests/mkman.py: include/libpt.h as the compiler reads it (header_text),
its items (comments, and declarations: functions, types with their members' comments, macros),
and the pages they make (build_pages: paragraphs, each subgroup a comment and what follows it,
with the few exceptions by topic below). declarations() gives the functions by name.
"""
import os
import re
import sys

# A function here goes on another page than where the header declares it: the page that holds
# the key function (the one it belongs with by topic). Its own comment goes with it.
MOVE = {
    "pt_ctx_set_log_priority": "pt_ctx_new",
    "pt_ctx_get_log_priority": "pt_ctx_new",
    "pt_device_get_enum": "pt_enum_scan",
    "pt_enum_get_context": "pt_enum_scan",
    "pt_romfile_name_valid": "pt_rom_parse",
    "pt_ctx_read_romfile": "pt_rom_parse",
    "pt_ctx_write_romfile": "pt_rom_parse",
    "pt_device_get_reset_bug": "pt_device_reset",
    "pt_clean_text": "pt_shell_quote",
    "pt_json_quote": "pt_shell_quote",
    "pt_vmid_parse": "pt_vmid_is_valid",
    "pt_usb_reset": "pt_usb_check_host",
}
# A paragraph that starts with this function goes on the page before it, though a comment leads it.
CONTINUES_PAGE = {"pt_device_explain"}
# A page named after another of its functions than the first.
PAGE_NAME = {"pt_device_to_json_explained": "pt_device_explain"}


# ---------------------------------------------------------------------------------------------
# Reading the header


class Comment:
    def __init__(self, text, block):
        self.text, self.block = text, block  # text: paragraphs joined by "\n\n"


class Decl:
    """A declaration: a function, a type (typedef, struct, enum) or a macro."""

    def __init__(self, kind, text, trailing=None):
        self.kind, self.text, self.trailing = kind, text, trailing
        self.name = None       # function: its name; type: the name it declares (may be None)
        self.members = []      # (names, comment) of a struct or enum with commented members
        self.macro_doc = None  # a macro's trailing comment


def comment_text(raw):
    """The text of a C comment: paragraphs (split at empty " *" lines) of joined lines."""
    body = raw.strip()
    assert body.startswith("/*") and body.endswith("*/"), raw
    body = body[2:-2]
    paras, cur = [], []
    for line in body.split("\n"):
        line = line.strip()
        if line.startswith("*"):
            line = line[1:].strip()
        if line:
            cur.append(line)
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    return "\n\n".join(paras)


def split_trailing(line):
    """code, comment of a line that ends in a comment (the comment may be unfinished)."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote and line[i - 1] != "\\":
                quote = None
        elif c in "\"'":
            quote = c
        elif line.startswith("/*", i):
            return line[:i].rstrip(), line[i:]
    return line, None


def read_items(text):
    """The header's items between extern "C" { and its end: "blank", Comment or Decl."""
    lines = text.split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith('extern "C"')) + 2
    end = max(i for i, l in enumerate(lines) if l.startswith("#ifdef __cplusplus"))
    items, i = [], start
    while i < end:
        line = lines[i]
        if not line.strip():
            items.append("blank")
            i += 1
        elif line.lstrip().startswith("/*"):
            buf = [line]
            while "*/" not in buf[-1]:
                i += 1
                buf.append(lines[i])
            items.append(Comment(comment_text("\n".join(buf)), line.strip() == "/*"))
            i += 1
        elif line.startswith("#"):
            buf = [line]
            while buf[-1].endswith("\\"):
                i += 1
                buf.append(lines[i])
            code, trailing = split_trailing(buf[-1])
            d = Decl("macro", "\n".join(buf[:-1] + [code]))
            d.name = re.match(r"#\s*define\s+(\w+)", d.text).group(1)
            if trailing:
                d.macro_doc = comment_text(trailing)
            items.append(d)
            i += 1
        else:
            buf = [line]
            depth = line.count("{") - line.count("}")
            while not (depth == 0 and re.search(r";\s*(/\*.*)?$", buf[-1])):
                i += 1
                buf.append(lines[i])
                depth += lines[i].count("{") - lines[i].count("}")
            code, trailing = split_trailing(buf[-1])
            while trailing and "*/" not in trailing:  # a comment after it, on more lines
                i += 1
                trailing += "\n" + lines[i]
            items.append(make_decl(buf[:-1] + [code], trailing))
            i += 1
    return items


def make_decl(lines, trailing):
    text = "\n".join(lines)
    flat = " ".join(l.strip() for l in lines)
    doc = comment_text(trailing) if trailing else None
    m = re.match(r"(?!typedef\b)([^(){}]*?)\b(pt_\w+)\s*\((.*)\)\s*;$", flat)
    if m and "{" not in text:
        d = Decl("func", text, doc)
        d.name = m.group(2)
        d.ret, d.args = m.group(1).strip(), m.group(3).strip()
        return d
    d = Decl("type", text, doc)
    if flat.startswith("typedef") and "(*" in flat:   # a function pointer type
        d.name = re.search(r"\(\*\s*(\w+)\)", flat).group(1)
    elif flat.startswith("typedef"):                  # the name after its body or its type
        d.name = re.search(r"(\w+)\s*;$", flat).group(1)
    else:                                             # "struct NAME {...};", an anonymous enum
        m = re.match(r"(struct|enum)\s+(\w+)", flat)
        d.name = m and f"{m.group(1)} {m.group(2)}"
    if "{" in text and len(lines) > 1:
        d.members = read_members(lines[1:-1])
    return d


def read_members(lines):
    """(names, comment) for each commented member of a struct or enum body; a comment on lines
    of its own goes with the member after it."""
    out, pending, i = [], None, 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("/*"):
            buf = [line]
            while "*/" not in buf[-1]:
                i += 1
                buf.append(lines[i].strip())
            pending = comment_text("\n".join(buf))
            i += 1
            continue
        code, trailing = split_trailing(lines[i])
        if trailing:
            buf = [trailing]
            while "*/" not in buf[-1]:
                i += 1
                buf.append(lines[i].strip())
            trailing = comment_text("\n".join(buf))
        code = code.strip()
        names = member_names(code)
        doc = " ".join(t for t in (pending, trailing) if t)
        if names and doc:
            out.append((names, doc))
        pending = None
        i += 1
    return out


def member_names(code):
    code = code.rstrip(";,").strip()
    if not code:
        return []
    if re.fullmatch(r"[A-Z_0-9]+(\s*=.*)?", code):  # an enum value
        return [code.split("=")[0].strip()]
    code = re.sub(r"\[[^\]]*\]", "", code)
    first, *rest = code.split(",")
    names = [re.findall(r"\w+", first)[-1]] + [re.findall(r"\w+", r)[-1] for r in rest]
    return names


# ---------------------------------------------------------------------------------------------
# Pages: paragraphs of the header, each subgroup a comment and what follows it


class Group:
    def __init__(self, comment=None):
        self.comment = comment  # Comment or None
        self.decls = []
        self.conventions = False  # _ref and _unref, which the header's conventions describe

    def funcs(self):
        return [d for d in self.decls if d.kind == "func"]


class Page:
    def __init__(self):
        self.groups = []

    def funcs(self):
        return [f for g in self.groups for f in g.funcs()]

    @property
    def name(self):
        names = [f.name for f in self.funcs()]
        plain = [n for n in names if not re.search(r"_(ref|unref|free)$", n)]
        first = (plain or names)[0]
        return PAGE_NAME.get(first, first)


def paragraphs(items):
    """Lists of items apart by blank lines; a block comment starts one too."""
    out, cur = [], []
    for it in items:
        if it == "blank" or (isinstance(it, Comment) and it.block):
            if cur:
                out.append(cur)
            cur = [] if it == "blank" else [it]
        else:
            cur.append(it)
    if cur:
        out.append(cur)
    return out


def build_pages(items):
    pages = []
    for para in paragraphs(items):
        led = isinstance(para[0], Comment)
        first = next((it.name for it in para if isinstance(it, Decl) and it.kind == "func"), None)
        if not pages or (led and pages[-1].funcs() and first not in CONTINUES_PAGE):
            pages.append(Page())
        page = pages[-1]
        group = Group()
        page.groups.append(group)
        for it in para:
            if isinstance(it, Comment):
                if group.decls or group.comment:
                    group = Group()
                    page.groups.append(group)
                group.comment = it
            else:
                group.decls.append(it)
    for i in range(len(pages) - 2, -1, -1):  # a page of types only: they go with the next
        if not pages[i].funcs():
            pages[i + 1].groups[:0] = pages.pop(i).groups
    merge_flags(pages)
    split_conventions(pages)
    move(pages)
    return pages


def merge_flags(pages):
    """A comment over macros only (flags) and the comment after them say one thing: the
    function's that follows."""
    for page in pages:
        out = []
        for g in page.groups:
            prev = out[-1] if out else None
            if prev and prev.comment and not prev.comment.block and g.comment and not g.comment.block \
                    and all(d.kind == "macro" for d in prev.decls):
                merged = Group(Comment(prev.comment.text + "\n\n" + g.comment.text, False))
                merged.decls = prev.decls + g.decls
                out[-1] = merged
            else:
                out.append(g)
        page.groups = out


def split_conventions(pages):
    """_ref and _unref go in a group of their own (the header's conventions describe them), but
    where their group's comment names them."""
    for page in pages:
        out = []
        for g in page.groups:
            text = g.comment.text if g.comment else ""
            refs = [d for d in g.decls if d.kind == "func" and re.search(r"_(un)?ref$", d.name)
                    and d.name not in text]
            if not refs:
                out.append(g)
                continue
            rest = Group(g.comment)
            rest.decls = [d for d in g.decls if d not in refs]
            ref = Group()
            ref.decls = refs
            ref.conventions = True
            # the refs' place: before what follows them in the header
            first = g.decls.index(refs[0])
            before = Group(g.comment)
            before.decls = rest.decls[:first]
            after = Group(None)
            after.decls = rest.decls[first:]
            for part in (before, ref, after):
                if part.decls or (part is before and part.comment):
                    out.append(part)
        page.groups = out


def move(pages):
    byname = {p.name: p for p in pages}
    for page in list(pages):
        for g in list(page.groups):
            moving = [d for d in g.funcs() if d.name in MOVE and MOVE[d.name] != page.name]
            if not moving:
                continue
            targets = {MOVE[d.name] for d in moving}
            for target in sorted(targets):
                if target not in byname:
                    sys.exit(f"mkman.py: MOVE names no page {target}")
                ds = [d for d in moving if MOVE[d.name] == target]
                whole = len(ds) == len(g.funcs())
                ng = Group(g.comment if whole and g.comment and not g.comment.block else None)
                ng.decls = [d for d in g.decls if d in ds or (whole and d.kind != "func")]
                byname[target].groups.append(ng)
                g.decls = [d for d in g.decls if d not in ng.decls]
                if whole and ng.comment:
                    g.comment = None
            if not g.decls and not (g.comment and g.comment.block):
                page.groups.remove(g)
        if not page.funcs():
            pages.remove(page)



# ---------------------------------------------------------------------------------------------
# The header as the compiler reads it


def header_text(header):
    """The header as the compiler reads it: each `#include <libpt/X.h>` replaced by that part's
    declarations (between its guard's opening lines and its closing #endif)."""
    with open(header) as f:
        text = f.read()

    def part(m):
        with open(os.path.join(os.path.dirname(header), "libpt", m.group(1) + ".h")) as f:
            body = f.read()
        body = body.split('#error "include <libpt.h>', 1)[1].split("#endif\n", 1)[1]
        return body.rstrip().rsplit("#endif", 1)[0].strip("\n") + "\n"
    text = re.sub(r"^#(define|undef) LIBPT_H_INSIDE\n", "", text, flags=re.M)
    return re.sub(r"^#include <libpt/(\w+)\.h>\n", part, text, flags=re.M)


def declarations(header):
    """The header's functions' declarations, by name."""
    return {f.name: f for p in build_pages(read_items(header_text(header))) for f in p.funcs()}
