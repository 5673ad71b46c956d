"""The page's strings through Gradio's ``gr.I18n``: the browser translates them from its own language.

``t("chat_send")`` stands for a key of the catalogue (``locales``); Gradio sends the key and the browser shows the
text in the browser's language (English where it is none we speak). Where a component takes only ``str`` (the
Chatbot's and the composer's placeholders), ``str(t(key))`` is Gradio's marker string, translated the same way.
``say(key)`` is the sentence in the request's language, for what a handler writes (toasts, refusals, HTML, table
headers, axis titles: Gradio translates none of them); ``choice(key, value)`` a dropdown's or radio's choice.
``catalogue()`` is what ``launch(i18n=...)`` gets. Strings the page script draws (``ui/assets.py``) come from
``page_text_head()``. How to add a language or a key: ``docs/languages.md``.
"""

from __future__ import annotations

import json

import gradio as gr
from gradio.i18n import I18nData

import locales
from locales import LANGUAGES, SOURCE
from ui.errors import request_language

PAGE_KEYS = ("page_chats", "page_settings", "page_composer_short")


def t(key: str) -> I18nData:
    """The catalogue's ``key`` for Gradio to translate in the browser; a key the catalogue lacks is a bug."""
    if key not in LANGUAGES[SOURCE]:
        raise KeyError(f"no {key!r} in locales/{SOURCE}.py")
    return I18nData(key)


def say(key: str, **values: object) -> str:
    """The sentence ``key`` in the language of the request being served (English outside one): for what a handler
    writes itself (toasts, refusals, HTML, a table's headers, a chart's axes), which ``gr.I18n`` does not translate."""
    return locales.text(key, request_language(), **values)


def choice(key: str, value: str) -> tuple[str, str]:
    """A dropdown's or radio's choice: shown as ``key`` in the browser's language, ``value`` whatever the language."""
    return str(t(key)), value


def catalogue() -> gr.I18n:
    return gr.I18n(**LANGUAGES)


def page_text_head() -> str:
    """``window.chatlensText``: the page script's own strings in the browser's language, chosen as Gradio chooses
    (the language's primary subtag, else English)."""
    texts = {code: {key: table[key] for key in PAGE_KEYS} for code, table in LANGUAGES.items()}
    return (
        "<script>(() => { const texts = " + json.dumps(texts, ensure_ascii=False).replace("</", "<\\/") + ";"
        " const lang = (navigator.language || '').toLowerCase().split('-')[0];"
        f" window.chatlensText = texts[lang] || texts[{json.dumps(SOURCE)}]; }})();</script>"
    )
