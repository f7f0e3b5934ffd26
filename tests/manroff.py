"""The writing half of tests/mkman.py: the text of the header's comments as a page's
(sentences, clauses, what is returned, the NAME line's summary), roff (prose, prototypes as .BI
lines, types and macros wrapped to WIDTH) and the page itself (render).
"""
import re
import sys

from manparse import split_trailing

WIDTH = 72  # what SYNOPSIS lines are wrapped to: man indents them by 7, on 80 columns

# The NAME line's summary where the page's first comment does not give one.
SUMMARY = {"pt_version": "the library's version at run time, and the header's"}


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

