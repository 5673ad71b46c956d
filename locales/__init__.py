"""Every sentence ChatLens shows, in every language it speaks: one catalogue, keyed by short names.

``LANGUAGES`` maps a language code to its texts (one module per language: ``en`` is the source, the others have
exactly its keys, checked by ``tests/test_locales.py``). The Gradio page translates in the browser from the
browser's language (``ui/i18n.py`` hands the catalogue to ``gr.I18n``); what the server writes itself — the share
page, error sentences — is chosen here from the request's ``Accept-Language`` (``negotiate``). Imports nothing of
ours, so every room may use it. How to add a language: ``docs/languages.md``.
"""

from __future__ import annotations

import re

from locales import de, en, fr

SOURCE = "en"
LANGUAGES: dict[str, dict[str, str]] = {"en": en.TEXT, "de": de.TEXT, "fr": fr.TEXT}
# Written right to left: the share page's <html dir> follows (none of today's languages).
RIGHT_TO_LEFT: frozenset[str] = frozenset({"ar", "fa", "he", "ur"})

_RANGE = re.compile(r"\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*")


def negotiate(accept_language: str | None) -> str:
    """The language to answer in: the first of the header's ranges, by weight, that we speak (``de-CH`` → ``de``);
    English when none is (or the header is missing or garbled)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:500].split(",")):
        found = _RANGE.fullmatch(part)
        if found is None:
            continue
        try:
            weight = float(found.group(2)) if found.group(2) else 1.0
        except ValueError:
            continue
        if weight > 0:
            ranked.append((-weight, position, found.group(1).lower()))
    for _, _, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return SOURCE


def text(key: str, language: str = SOURCE, **values: object) -> str:
    """The sentence ``key`` in ``language`` (English where that language lacks it), ``{name}`` filled from
    ``values``. An unknown key is a bug: ``KeyError``."""
    sentence = LANGUAGES.get(language, LANGUAGES[SOURCE]).get(key) or LANGUAGES[SOURCE][key]
    return sentence.format(**values) if values else sentence


def number(value: float, language: str = SOURCE, digits: int = 0) -> str:
    """``value`` as ``language`` writes it: its digit grouping (``number_thousands``) and decimal mark."""
    grouping, decimal = text("number_thousands", language)[1], text("number_decimal", language)
    return f"{value:,.{digits}f}".translate({ord(","): grouping, ord("."): decimal})


def counted(noun: str, count: int, language: str = SOURCE) -> str:
    """``3 conversations``: the ``count_<noun>`` key, or ``count_<noun>s`` for any count but one."""
    return text(f"count_{noun}" if count == 1 else f"count_{noun}s", language, count=number(count, language))


_ERROR_KEYS = {sentence: key for key, sentence in LANGUAGES[SOURCE].items() if key.startswith("error_")}


def error_sentence(sentence: str, language: str) -> str:
    """An error's sentence in ``language`` when it is a standard one (an error class's ``default_message``, which
    an ``error_*`` key repeats in English); a sentence written for the occasion stays as it was written."""
    key = _ERROR_KEYS.get(sentence)
    return text(key, language) if key is not None and language != SOURCE else sentence
