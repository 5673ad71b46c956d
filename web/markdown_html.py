"""Markdown as safe HTML for pages that run no script (share links), and where inline math begins and ends.

Raw HTML in the text is escaped, never passed through (markdown-it with ``html=False``); links keep only the
schemes markdown-it allows (no ``javascript:``, ``vbscript:``, ``file:``, nor ``data:`` outside images) and open
without a referrer. Math is shown as written, in a code-like span: the page has no script to typeset it.

``math_spans`` follows pandoc's rule for inline ``$…$``, so prices stay prices: the opening ``$`` has a non-space
right after it, the closing ``$`` a non-space right before it and no digit right after it ("$5 and $10" is text).
Code (fenced blocks, backtick spans) is never math.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from markdown_it import MarkdownIt

# $$…$$ (display), then pandoc's inline $…$.
_MATH = re.compile(r"\$\$(?P<display>.+?)\$\$|(?<![\\$\w])\$(?P<inline>[^\s$](?:[^$\n]*?[^\s$\\])?)\$(?![\d$])", re.S)
_CODE = re.compile(r"^(?P<fence>```|~~~).*?(?:^(?P=fence)[^\n]*$|\Z)|(?P<ticks>`+)[^`].*?(?P=ticks)", re.S | re.M)
_HOLE = "\ue000{}\ue001"  # a private-use mark where a math span sits while the rest is rendered
_HOLES = re.compile("\ue000(\\d+)\ue001")


def _prose(text: str) -> Iterator[tuple[bool, str]]:
    """``text`` cut into (is prose, piece): code pieces are left alone."""
    at = 0
    for code in _CODE.finditer(text):
        yield True, text[at : code.start()]
        yield False, code.group(0)
        at = code.end()
    yield True, text[at:]


def math_spans(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, display) of each math span outside code, ``$`` signs included."""
    spans: list[tuple[int, int, bool]] = []
    offset = 0
    for prose, piece in _prose(text):
        if prose:
            found = _MATH.finditer(piece)
            spans += [(offset + m.start(), offset + m.end(), m.group("display") is not None) for m in found]
        offset += len(piece)
    return spans


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])

    def link_open(renderer, tokens, idx, options, env):  # type: ignore[no-untyped-def]
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


_MD = _renderer()


def markdown_html(text: str) -> str:
    """``text`` (Markdown with math) as HTML safe to show on a page without scripts."""
    maths: list[str] = []
    pieces: list[str] = []
    at = 0
    for start, end, display in math_spans(text):
        pieces.append(text[at:start])
        cls = "math display" if display else "math"
        maths.append(f'<span class="{cls}">{html.escape(text[start:end])}</span>')
        pieces.append(_HOLE.format(len(maths) - 1))
        at = end
    pieces.append(text[at:])
    rendered = _MD.render("".join(pieces))
    return _HOLES.sub(lambda hole: maths[int(hole.group(1))], rendered)
