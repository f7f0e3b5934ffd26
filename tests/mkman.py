#!/usr/bin/env python3
"""Writes the section-3 man pages of libpt's functions from include/libpt.h.

  mkman.py [--header FILE] [--out DIR]     (defaults: include/libpt.h, libpt/man)
  mkman.py --list                          the pages (not the link pages)

The header is the one source. It is read as paragraphs (apart by blank lines, or by a block
comment: "/*" alone on its line), each of comments and the declarations after them. A paragraph
that a comment leads starts a page, one that a declaration leads goes on the page before it
(MOVE, CONTINUES_PAGE, PAGE_NAME below are the few exceptions, by topic). A page is named after
its first function that is not a _ref, _unref or _free, and every other function of it gets a
link page FUNCTION.3, ".so man3/PAGE.3". NAME lists the page's functions, with the first clause
of its first comment; SYNOPSIS the declarations as the header has them (comments left out,
long lines broken after commas); DESCRIPTION the comments, each under the names it describes,
and the comments of a struct's members, an enum's values and a macro's line as a list; RETURN
VALUE the header's convention for fallible calls and the clauses of the comments that say what
comes back ("NULL when ...", "-ENOENT ...", "1 or 0"); SEE ALSO the pages the text cites and
those of the same layer (the libpt/LAYER/ whose sources define the page's functions). The date
is NEWS's for the header's version: the same header gives the same bytes. Files of DIR that
are not made are removed; with DIR libpt/man, libpt.3's list of the pages is written too.
"""
import argparse
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS = ("core", "inventory", "analysis", "actions", "emit")
WIDTH = 72  # what SYNOPSIS lines are wrapped to: man indents them by 7, on 80 columns

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
# The NAME line's summary where the page's first comment does not give one.
SUMMARY = {"pt_version": "the library's version at run time, and the header's"}


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
# Text: sentences, clauses, what is returned


def split_top(text, sep):
    """text split at sep where it is outside quotes and parentheses."""
    parts, depth, quote, start, i = [], 0, False, 0, 0
    while i < len(text):
        c = text[i]
        if c == '"' and text[i - 1:i] != "'":
            quote = not quote
        elif not quote and c in "([{":
            depth += 1
        elif not quote and c in ")]}":
            depth = max(0, depth - 1)
        elif not quote and depth == 0 and text.startswith(sep, i) and sep_ok(text, i, sep):
            parts.append(text[start:i + len(sep.rstrip())].strip())
            start = i + len(sep)
            i = start
            continue
        i += 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def sep_ok(text, i, sep):
    if sep != ". ":
        return True
    nxt = text[i + 2:i + 3]
    return bool(nxt) and (not nxt.islower() or text.startswith("pt_", i + 2))


RETURNS = re.compile(r"^([Rr]eturns?\b|NULL\b|-E[A-Z0-9]+\b|-errno\b|-1\b|0\b|1\b|PT_[A-Z_]+ when\b)")


def is_return(clause):
    return bool(RETURNS.match(clause))


def clauses(sentence):
    """A sentence's clauses: apart at "; ", and at ": " where what follows says what is returned."""
    out = []
    for c in split_top(sentence.rstrip("."), "; "):
        parts = [x.rstrip(":") for x in split_top(c, ": ")]
        head = parts[0]
        for j, part in enumerate(parts[1:], 1):
            if is_return(part):
                out.append(head)
                head = ": ".join(parts[j:])
                break
            head += ": " + part
        out.append(head)
    return out


def error_tail(sentence):
    """Where a sentence names an error in passing (outside parentheses and quotes): from the
    clause that does ("..., refused with -EBUSY ..."), or None."""
    depth, quote, start = 0, False, 0
    for i, c in enumerate(sentence):
        if c == '"' and sentence[i - 1:i] != "'":
            quote = not quote
        elif quote:
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth = max(0, depth - 1)
        elif depth == 0 and c in ",;:" and sentence[i + 1:i + 2] == " " \
                and not re.match(r" (or|and)\b", sentence[i + 1:]):
            start = i + 2
        elif depth == 0 and re.match(r"-E[A-Z]{2,}|returns?\b", sentence[i:]) \
                and (i == 0 or not sentence[i - 1].isalnum()):
            return sentence[start:]
    return None


CONTINUES = re.compile(r"^(otherwise|else|or|and)\b")


def split_returns(text):
    """(description, returns) of a function's comment: the clauses that start by saying what
    comes back (and those that go on from them: "otherwise ...") go to the second; a sentence
    that names an error in passing stays, and gives the second its clauses from that one on."""
    desc_paras, rets = [], []
    for para in text.split("\n\n"):
        kept = []
        for sentence in split_top(para, ". "):
            keep, ret = [], []
            for c in clauses(sentence):
                (ret if is_return(c) or (ret and CONTINUES.match(c)) else keep).append(c)
            if keep and not ret:
                tail = error_tail(sentence.rstrip("."))
                if tail:
                    ret = [tail]
            if ret:
                r = "; ".join(x.rstrip(";:") for x in ret).rstrip(".") + "."
                rets.append(r[0].upper() + r[1:] if re.match(r"[a-z]+\b(?!_)", r) else r)
            if keep:
                k = "; ".join(x.rstrip(";:") for x in keep)
                kept.append(k if k.endswith(".") else k + ".")
        if kept:
            desc_paras.append(" ".join(kept))
    return "\n\n".join(desc_paras), " ".join(rets)


def block_returns(text, funcs, first):
    """A page's block comment as (description, returns), the returns (functions or None, text)
    each. A sentence that starts with a function's name ("pt_hold_mdev: ...") gives that function
    the clauses that say what it returns; a sentence that starts by saying it goes to the function
    its paragraph names, or to the block's first one (first), and leaves the description; another
    that says it in a clause is kept and given whole."""
    desc, out = [], []
    for para in text.split("\n\n"):
        who, kept = None, []  # the function the paragraph's sentences are about
        for sentence in split_top(para, ". "):
            m = re.match(r"(pt_\w+)(\(\))?[: ]", sentence)
            if m and m.group(1) in funcs:
                who = m.group(1)
            cs = clauses(sentence)
            whole = sentence if sentence.endswith(".") else sentence + "."
            if is_return(cs[0]) and (who or first):
                out.append(([who or first], whole))
                continue
            kept.append(sentence)
            if who:
                ret = [c for c in cs[1:] if is_return(c)]
                if ret:
                    out.append(([who], "; ".join(ret) + "."))
            elif any(is_return(c) for c in cs):
                out.append((None, whole))
        if kept:
            desc.append(" ".join(kept))
    return "\n\n".join(desc), out


def summary(page):
    """The NAME line's summary, from the page's first comment: its first sentence, or less of it
    (its head before a colon, without parentheses, up to a comma) to stay short."""
    if page.name in SUMMARY:
        return SUMMARY[page.name]
    for g in page.groups:
        if g.comment and g.comment.text:
            text = g.comment.text.split("\n\n")[0]
            break
    else:
        sys.exit(f"mkman.py: {page.name}: no comment for its NAME line")
    s = split_top(split_top(text, ". ")[0], "; ")[0].rstrip(".")
    parts = split_top(s, ": ")
    if len(s) > 50 and len(parts) > 1:
        head, tail = parts[0], s[len(parts[0]) + 2:]
        s = head if len(head.split()) > 1 else split_top(tail, ", ")[0]
    if len(s) > 50:
        s = re.sub(r" \([^()]*\)", "", s)
    if len(s) > 60:
        s = split_top(s, ", ")[0]
    s = s.rstrip(".:;,")
    if not s.startswith(PROPER) and not s[1:2].isupper():
        s = s[0].lower() + s[1:]
    return s


PROPER = ("Proxmox", "Linux", "NVIDIA", "AMD", "Intel", "QEMU", "GRUB")


# ---------------------------------------------------------------------------------------------
# roff


class Roff:
    def __init__(self, names, macros):
        self.names, self.macros = names, macros

    def esc(self, s):
        s = s.replace("\\", "\\e").replace("-", "\\-")
        return s

    def text(self, s):
        """Prose: escaped, functions and macros of the header in bold, `code` in bold."""
        out, pos = [], 0
        for m in re.finditer(r"`([^`]+)`|\b(pt_\w+|PT_\w+)(\(\))?", s):
            out.append(self.esc(s[pos:m.start()]))
            if m.group(1):
                out.append(r"\fB" + self.esc(m.group(1)) + r"\fP")
            elif m.group(2) in self.names or m.group(2) in self.macros or m.group(2).startswith("PT_"):
                out.append(r"\fB" + self.esc(m.group(2)) + r"\fP" + (m.group(3) or ""))
            else:
                out.append(self.esc(m.group(0)))
            pos = m.end()
        out.append(self.esc(s[pos:]))
        return line_start("".join(out))

    def paras(self, text, first=".PP", sep=".PP"):
        """Paragraphs: the first after `first` (none: it goes on), the others after sep (.IP
        within a tagged paragraph keeps its indent)."""
        lines = []
        for i, p in enumerate(text.split("\n\n")):
            if i or first:
                lines.append(sep if i else first)
            lines.append(self.text(p))
        return lines


def line_start(s):
    return "\\&" + s if s[:1] in (".", "'") else s


def tag(funcs):
    return ", ".join(r"\fB" + f + r"\fP()" for f in funcs)


def params(args):
    """A prototype's parameters: (type part, name, rest) each."""
    out, depth, cur = [], 0, ""
    for c in args:
        if c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        depth += c in "(["
        depth -= c in ")]"
        cur += c
    out.append(cur.strip())
    res = []
    for p in out:
        m = re.fullmatch(r"(.*?)(\w+)((?:\[[^\]]*\])?)", p)
        if p in ("void", "...") or not m or not m.group(1).strip():
            res.append((p, "", ""))
        else:
            res.append((m.group(1), m.group(2), m.group(3)))
    return res


def synopsis_func(d):
    """A prototype as .BI lines, parameters in italics, wrapped at commas to WIDTH."""
    head = f"{d.ret}{'' if d.ret.endswith('*') else ' '}{d.name}("
    ps = params(d.args)
    pieces = []  # each: list of (bold, italic) pairs, a parameter with its comma
    for i, (typ, name, rest) in enumerate(ps):
        end = ", " if i < len(ps) - 1 else ");"
        pieces.append([(typ, name), (rest + end, "")])
    lines, cur, width = [], [(head, "")], len(head)
    indent = " " * len(head) if len(head) < 40 else " " * 8
    for piece in pieces:
        plen = sum(len(b) + len(it) for b, it in piece)
        if width + plen - (1 if piece[-1][0].endswith(" ") else 0) > WIDTH and len(cur) > 1:
            last = cur[-1]
            cur[-1] = (last[0].rstrip(), last[1])
            lines.append(cur)
            cur, width = [(indent, "")], len(indent)
        cur += piece
        width += plen
    lines.append(cur)
    return [".BI " + " ".join(quote(w) for w in merge_alternating(segs)) for segs in lines]


def merge_alternating(segs):
    """bold, italic, bold, ... words from (bold, italic) pairs (empty ones merged away)."""
    words = [""]
    for b, it in segs:
        if len(words) % 2 == 1:
            words[-1] += b
        else:
            words.append(b)
        if it:
            words.append(it)
    while words and words[-1] == "":
        words.pop()
    return words


def quote(w):
    """A word of a .BI line."""
    assert '"' not in w, w
    w = w.replace("\\", "\\e").replace("-", "\\-")
    return '"' + w + '"' if (" " in w or not w) else w


def wrap_c(line, indent):
    """A long line of C broken after commas, the next lines indented."""
    if len(line) <= WIDTH:
        return [line]
    out, cur = [], ""
    tokens = re.split(r"(?<=, )", line)
    for t in tokens:
        if cur and len(cur) + len(t.rstrip()) > WIDTH:
            out.append(cur.rstrip())
            cur = indent + t
        else:
            cur += t
    out.append(cur.rstrip())
    return out


def synopsis_type(d):
    """A type or macro as plain lines: comments left out (they are in DESCRIPTION)."""
    if d.kind == "macro":
        parts = [l.rstrip("\\").rstrip() for l in d.text.split("\n")]
        line = parts[0] + (" " + " ".join(p.strip() for p in parts[1:]) if len(parts) > 1 else "")
        if len(line) <= WIDTH:
            return [line]
        head = re.match(r"#define \w+(\([^)]*\))?", line).group(0)
        rest = line[len(head):].strip()
        out, cur = [head + " \\"], "    "
        for w in rest.split(" "):
            if len(cur) + len(w) + 3 > WIDTH and cur.strip():
                out.append(cur.rstrip() + " \\")
                cur = "    "
            cur += w + " "
        out.append(cur.rstrip())
        return out
    lines = d.text.split("\n")
    if "{" not in d.text:
        flat = " ".join(l.strip() for l in lines)
        paren = flat.find("(", flat.find(")") + 1) if "(*" in flat else flat.find("(")
        return wrap_c(flat, " " * (paren + 1 if 0 < paren < 40 else 8))
    if len(lines) == 1:
        flat = lines[0]
        if len(flat) > WIDTH and "{" in flat:
            a, b = flat.index("{"), flat.rindex("}")
            body = [x.strip() for x in flat[a + 1:b].split(",")]
            return [flat[:a + 1]] + ["    " + x + "," for x in body[:-1]] + ["    " + body[-1]] + [flat[b:]]
        return wrap_c(flat, "    ")
    out = [lines[0].rstrip()]
    skipping = False
    for l in lines[1:-1]:
        s = l.strip()
        if skipping:
            skipping = "*/" not in s
            continue
        if s.startswith("/*"):
            skipping = "*/" not in s
            continue
        code, trailing = split_trailing(l)
        if trailing and "*/" not in trailing:
            skipping = True
        code = code.strip()
        if code:
            out += wrap_c("    " + code, "        ")
    out.append(lines[-1].strip())
    return out


def roff_code(line):
    return line_start(line.replace("\\", "\\e").replace("-", "\\-"))


# ---------------------------------------------------------------------------------------------
# The page


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


def render(page, pages, page_of, layers, roff, date, version, conventions):
    funcs = [f.name for f in page.funcs()]
    L = [".\\\" Generated by tests/mkman.py from include/libpt.h: edit the header, not this file.",
         f'.TH {page.name.upper()} 3 {date} "libpt {version}" "Library Functions"',
         ".ad l", ".nh",
         ".SH NAME",
         ", ".join(funcs) + " \\- " + roff.text(summary(page)),
         ".SH SYNOPSIS", ".nf", ".B #include <libpt.h>"]
    prev = None
    for g in page.groups:
        for d in g.decls:
            kind = "func" if d.kind == "func" else "other"
            if prev is None or kind != prev or (kind == "other" and "\n" in d.text):
                L.append(".sp")
            prev = kind if not (kind == "other" and "\n" in d.text) else "block"
            if d.kind == "func":
                L += synopsis_func(d)
            else:
                L += [roff_code(x) for x in synopsis_type(d)]
    L.append(".fi")

    L.append(".SH DESCRIPTION")
    rets, started = [], False
    for g in page.groups:
        fs = [d.name for d in g.funcs()]
        types = [d.name for d in g.decls if d.kind == "type" and d.name]
        if g.conventions:
            L += [".TP", tag(fs), roff.text(conventions["ref"])]
            continue
        text, ret = (g.comment.text, "") if g.comment else ("", "")
        headed = False  # the group's own heading names its types: their members go under it
        if g.comment and g.comment.block:
            desc, ret = block_returns(text, [f.name for f in page.funcs()], fs[0] if fs else None)
            L += roff.paras(desc, ".PP" if started else "")
            rets += ret
        elif text:
            desc, ret = split_returns(text) if fs else (text, "")
            if desc:
                names = [r"\fB" + roff.esc(d.name) + r"\fP" for d in g.decls
                         if (d.kind == "type" and d.name) or (d.kind == "macro" and not d.macro_doc and not fs)]
                L += [".TP", ", ".join(names + ([tag(fs)] if fs else []))] + roff.paras(desc, "", ".IP")
                headed = True
            if ret:
                rets.append((fs, ret))
        started = True
        for d in g.decls:
            if d.kind == "func" and d.trailing:
                desc, ret = split_returns(d.trailing)
                if desc:
                    L += [".TP", tag([d.name])] + roff.paras(desc, "", ".IP")
                if ret:
                    rets.append(([d.name], ret))
            if d.kind == "macro" and d.macro_doc:
                L += [".TP", r"\fB" + roff.esc(d.name) + r"\fP"] + roff.paras(d.macro_doc, "", ".IP")
            if d.kind == "type" and d.members:
                what = r"\fB" + roff.esc(d.name or "enum") + r"\fP"
                what += " values:" if "enum" in d.text.split("{")[0] else " members:"
                L += [".RS"] if headed and d.name else [".TP", what, ".RS"]
                for names, doc in d.members:
                    L += [".TP", ", ".join(r"\fI" + roff.esc(n) + r"\fP" if not n.isupper()
                                           else r"\fB" + roff.esc(n) + r"\fP" for n in names)]
                    L += roff.paras(doc, "", ".IP")
                L.append(".RE")
    if rets or any(f.ret == "int" for f in page.funcs()):
        L.append(".SH RETURN VALUE")
        if any(f.ret == "int" for f in page.funcs()):
            L.append(roff.text(conventions["errno"]))
        for fs, r in rets:
            if fs:
                L += [".TP", tag(fs), roff.text(r)]
            else:
                L += [".PP", roff.text(r)]
    # SEE ALSO: the pages the text cites, then the pages of the same layer
    text = " ".join((g.comment.text or "") for g in page.groups if g.comment) + " " + \
           " ".join(d.trailing or "" for g in page.groups for d in g.decls)
    cited = [page_of[n] for n in re.findall(r"\bpt_\w+", text) if n in page_of]
    layer = page_layer(page, layers)
    same = [p.name for p in pages if layer and page_layer(p, layers) == layer]
    see = []
    for n in cited + same:
        if n != page.name and n not in see:
            see.append(n)
    L.append(".SH SEE ALSO")
    entries = [("libpt", "3")] + [(n, "3") for n in see]
    for i, (n, s) in enumerate(entries):
        L.append(f".BR {n} ({s})" + ("," if i < len(entries) - 1 else ""))
    return "\n".join(L) + "\n"


def page_layer(p, layers):
    mine = [layers.get(f.name) for f in p.funcs() if layers.get(f.name)]
    return max(sorted(set(mine)), key=mine.count) if mine else None


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
