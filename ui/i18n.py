"""The page's strings through Gradio's ``gr.I18n``: the browser translates them from its own language.

``t("chat_send")`` stands for a key of the catalogue (``locales``); Gradio sends the key and the browser shows the
text in the browser's language (English where it is none we speak). Where a component takes only ``str`` (the
Chatbot's and the composer's placeholders), ``str(t(key))`` is Gradio's marker string, translated the same way.
``catalogue()`` is what ``launch(i18n=...)`` gets. Strings the page script draws (``ui/assets.py``) come from
``page_text_head()``. How to add a language or a key: ``docs/languages.md``.
"""

from __future__ import annotations

import json

import gradio as gr
from gradio.i18n import I18nData

from locales import LANGUAGES, SOURCE

PAGE_KEYS = ("page_chats", "page_settings", "page_composer_short")


def t(key: str) -> I18nData:
    """The catalogue's ``key`` for Gradio to translate in the browser; a key the catalogue lacks is a bug."""
    if key not in LANGUAGES[SOURCE]:
        raise KeyError(f"no {key!r} in locales/{SOURCE}.py")
    return I18nData(key)


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
