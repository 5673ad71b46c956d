"""Model output made safe to render as Markdown/HTML: no forms or form controls.

Gradio's Chatbot sanitizes a reply's HTML but keeps forms: a reply holding ``<form action="http://…/steal"
method=post><input type=password …><button>go</button></form>`` rendered a working form, and typing and clicking
posted the password to the other server (issue 15); ``<button formaction=…>`` survived as well. Every place that
renders a reply as HTML (the chat, the Markdown export) passes it through ``without_form_controls`` first: the
tags are removed (their text stays), and ``action``/``formaction`` attributes are dropped from any other tag.
Code is left as written: inside fenced blocks and inline code spans Markdown shows markup as text, never as HTML.
The stored reply is never changed (the JSON export and the API return it exactly).
"""

from __future__ import annotations

import re

FORM_TAG = re.compile(
    r"</?\s*(?:form|input|button|textarea|select|option|optgroup|datalist|fieldset|legend|output|keygen|isindex)"
    r"(?=[\s/>])[^>]*>?",
    re.IGNORECASE,
)
FORM_ATTRIBUTE = re.compile(r"""\s(?:form)?action\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]*)""", re.IGNORECASE)
ANY_TAG = re.compile(r"<[a-zA-Z][^>]*>")
# Fenced code blocks (``` or ~~~, to the closing fence or the end) and inline code spans are kept as written.
CODE = re.compile(r"(^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*\2[ \t]*$|\Z)|(`+)[^`]*?\3)", re.MULTILINE | re.DOTALL)


def without_form_controls(text: str) -> str:
    """``text`` with every form and form control tag removed outside code, and no ``action``/``formaction``."""
    if "<" not in text:
        return text
    parts: list[str] = []
    last = 0
    for code in CODE.finditer(text):
        parts.append(_clean(text[last : code.start()]))
        parts.append(code.group(0))
        last = code.end()
    parts.append(_clean(text[last:]))
    return "".join(parts)


def _clean(html: str) -> str:
    html = FORM_TAG.sub("", html)
    if "action" not in html.lower():  # no (form)action attribute can be left: skip the pass over every tag
        return html
    return ANY_TAG.sub(lambda tag: FORM_ATTRIBUTE.sub("", tag.group(0)), html)
