"""A griffe extension for the API reference: docstring conventions to mkdocstrings' Markdown.

The docstrings are written to read well in ``help()`` and to run as doctests:
they use a little reStructuredText (cross-reference roles such as
``:func:`fit```, simple tables framed by ``===`` rules), an ``Example:``
section of doctest lines, and Args or Attributes entries that share one
description (``weights, mask: as in fit``). Before mkdocstrings parses a
docstring, this extension turns the roles into code spans, the tables into
preformatted blocks, ``Example:`` into the Google-style ``Examples:`` section
(rendered as code), each shared entry into one entry per name, and a Raises
section written as prose into an "Errors" note.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|obj|exc|const):`(~?)([^`]+)`")
_RULE = re.compile(r"^\s*=+(?:\s+=+)+\s*$")
_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.M)
_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Params|Other Parameters|Attributes):\s*$")
_RAISES = re.compile(r"^(\s*)(Raises|Exceptions|Warns|Warnings):\s*$", re.I)
_ENTRY = re.compile(r"^\s+[\w.]+(?:\s*,\s*[\w.]+)*\s*:(?:\s|$)")
_OPEN_LIST = re.compile(r"^\s+\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*\s*,\s*$")
_SHARED = re.compile(r"^(\s+)(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)+)\s*:(.*)$")


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _tables(lines: list[str]) -> list[str]:
    """Wrap each simple table (three rules: top, under the header, bottom) in a text block."""
    out, i = [], 0
    while i < len(lines):
        if _RULE.match(lines[i]):
            rules = [j for j in range(i, len(lines)) if _RULE.match(lines[j])][:3]
            if len(rules) == 3:
                pad = " " * _indent(lines[i])
                out += ["", f"{pad}```text", *lines[i : rules[2] + 1], f"{pad}```", ""]
                i = rules[2] + 1
                continue
        out.append(lines[i])
        i += 1
    return out


def _shared_args(lines: list[str]) -> list[str]:
    """``a, b: text`` inside an Args section becomes ``a: text`` and ``b: text``."""
    out, i, section = [], 0, None
    item = None  # the indentation of the entries of the current Args section
    while i < len(lines):
        line = lines[i]
        head = _SECTION.match(line)
        if head:
            section, item = len(head.group(1)), None
        elif line.strip() and section is not None:
            if _indent(line) <= section:
                section = None
            elif item is None:
                item = _indent(line)
        if section is not None and _indent(line) != item:
            out.append(line)
            i += 1
            continue
        if section is not None and _OPEN_LIST.match(line) and i + 1 < len(lines):
            # a list of names broken over lines: "a, b,\n    c: text" -> "a, b, c: text"
            nxt = lines[i + 1]
            if _indent(nxt) == _indent(line) and ":" in nxt:
                line = f"{line.rstrip()} {nxt.strip()}"
                lines = [*lines[:i], line, *lines[i + 2 :]]
        shared = _SHARED.match(line) if section is not None else None
        if shared:
            pad, names, text = shared.groups()
            body = [text]
            i += 1
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(pad)):
                if not lines[i].strip() and not (
                    i + 1 < len(lines) and _indent(lines[i + 1]) > len(pad)
                ):
                    break
                body.append(lines[i])
                i += 1
            for name in re.split(r"\s*,\s*", names):
                out += [f"{pad}{name}:{body[0]}", *body[1:]]
            continue
        out.append(line)
        i += 1
    return out


def _prose_raises(lines: list[str]) -> list[str]:
    """A Raises (or Warns) section written as prose, not as ``Error: text`` entries,
    becomes an admonition titled "Errors" (or "Warnings")."""
    out = list(lines)
    for i, line in enumerate(lines):
        head = _RAISES.match(line)
        if not head:
            continue
        first = next((x for x in lines[i + 1 :] if x.strip()), "")
        if _indent(first) > len(head.group(1)) and not _ENTRY.match(first):
            title = "Errors" if head.group(2).lower() in ("raises", "exceptions") else "Notes"
            out[i] = f"{head.group(1)}{title}:"
    return out


def convert(text: str) -> str:
    """The Markdown form of one docstring."""
    text = _EXAMPLE.sub(r"\1Examples:", _ROLE.sub(_role, text))
    return "\n".join(_prose_raises(_shared_args(_tables(text.splitlines()))))


class RstMarkup(griffe.Extension):
    """Apply :func:`convert` to every docstring."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
