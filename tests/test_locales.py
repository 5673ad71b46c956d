"""Languages: the catalogue (``locales``) is complete in every language, the page uses only keys it has, Chromium
shows each language with no key left untranslated, the share page and error sentences follow ``Accept-Language``,
and right-to-left messages read right to left.
"""

from __future__ import annotations

import ast
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

import errors
import locales
import storage.writer
from benchmarks.seed_analytics import seed_store
from tests.support.apps import RunningApp, launched_app
from tests.support.browser import finished, open_accordion, open_chat, send
from tests.support.config import make_settings
from tests.support.fake_tgi import Behaviour, FakeTgi
from ui.i18n import t
from web.share import share_page

EN = locales.LANGUAGES["en"]
OTHERS = [code for code in locales.LANGUAGES if code != locales.SOURCE]
KEY_PATTERN = re.compile(r"\b(?:" + "|".join(sorted({key.split("_")[0] for key in EN})) + r")_[a-z_]+\b")


def fields(sentence: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(sentence) if name}


@pytest.mark.parametrize("code", OTHERS)
def test_every_language_has_exactly_the_english_keys(code: str) -> None:
    table = locales.LANGUAGES[code]
    assert sorted(set(EN) - set(table)) == [], f"missing in locales/{code}.py"
    assert sorted(set(table) - set(EN)) == [], f"in locales/{code}.py but not in English"
    assert [k for k in EN if fields(table[k]) != fields(EN[k])] == [], "placeholders differ"
    assert [k for k, v in table.items() if not v.strip()] == [], "empty sentences"


def test_a_missing_or_extra_key_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The completeness test above can fail: a language with one key fewer and one more."""
    broken = {k: v for k, v in locales.LANGUAGES["de"].items() if k != "chat_send"} | {"chat_sned": "Senden"}
    monkeypatch.setitem(locales.LANGUAGES, "de", broken)
    with pytest.raises(AssertionError, match="missing"):
        test_every_language_has_exactly_the_english_keys("de")
    monkeypatch.setitem(locales.LANGUAGES, "de", {**locales.LANGUAGES["fr"], "chat_sned": "x"})
    with pytest.raises(AssertionError, match="not in English"):
        test_every_language_has_exactly_the_english_keys("de")


def test_every_standard_error_sentence_is_catalogued_as_the_error_says_it() -> None:
    """Each error class that has a sentence of its own (``default_message``) is in the catalogue, word for word;
    errors that always carry a sentence written for the occasion (rate limits, refused imports) stay as written."""
    own = {
        cls.default_message
        for cls in [errors.ChatLensError, *all_subclasses(errors.ChatLensError)]
        if "default_message" in vars(cls)
    }
    assert storage.writer.ReplyNotSaved.default_message in own  # imported with the rest of the app
    catalogued = [text for key, text in EN.items() if key.startswith("error_")]
    assert sorted(catalogued) == sorted(own)


def all_subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in [direct, *all_subclasses(direct)]]


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"),
        ("en;q=0.1, fr;q=0.5", "fr"),  # by weight, not by position
        ("ja, de;q=0.2", "de"),  # the first one we speak
        ("ja, zh", "en"),
        ("de;q=0, fr;q=0.3", "fr"),  # q=0: not acceptable
        ("", "en"),
        (None, "en"),
        ("de;q=abc, ;;, fr", "fr"),  # garbled ranges are skipped
    ],
)
def test_the_language_follows_accept_language(header: str | None, language: str) -> None:
    assert locales.negotiate(header) == language


def test_a_standard_error_is_translated_and_a_written_one_is_kept() -> None:
    overloaded = errors.Overloaded()
    assert locales.error_sentence(overloaded.user_message, "de") == locales.LANGUAGES["de"]["error_overloaded"]
    assert locales.error_sentence(overloaded.user_message, "en") == overloaded.user_message
    written = "There is no reply to retry yet."
    assert locales.error_sentence(written, "fr") == written


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(KeyError):
        t("chat_sned")


def test_every_key_the_page_sends_is_in_the_catalogue(app: RunningApp) -> None:
    config = httpx.get(f"{app.url}/config", timeout=10).text
    used = {json.loads(m)["key"] for m in re.findall(r"__i18n__(\{[^}]*\})", config.replace('\\"', '"'))}
    used |= {m for m in re.findall(r'"key":\s*"([a-z_]+)"', config) if "_" in m}
    assert {"chat_send", "composer_placeholder", "history_label", "model_temperature", "theme_scheme"} <= used
    assert sorted(used - set(EN)) == []
    assert set(json.loads(config)["i18n_translations"]) == set(locales.LANGUAGES)


def test_the_share_page_speaks_the_language_it_is_given() -> None:
    snapshot = {"title": "", "shared_at": "2026-12-03T10:00", "messages": [{"role": "user", "content": "Hallo"}]}
    german = share_page(snapshot, language="de")
    assert '<html lang="de" dir="ltr">' in german and "Geteilte Unterhaltung" in german and ">Nutzer<" in german
    assert "geteilt aus ChatLens am 2026-12-03 10:00 UTC" in german
    assert '<div class="md" dir="auto">' in german
    assert "Shared conversation" in share_page(snapshot)


# -- No sentence in ui/ bypasses the catalogue ---------------------------------------------------------------------

UI = Path(__file__).resolve().parent.parent / "ui"
# Keyword arguments that Gradio shows (a label, a button's text, a heading, a toast, a progress bar's words).
SHOWN = frozenset(
    {"label", "value", "info", "placeholder", "title", "x_title", "y_title", "color_title", "desc", "unit", "message",
     "choices"}
)  # fmt: skip
# Words that are the same in every language: the product, a query language's name, units.
SAME_EVERYWHERE = frozenset({"ChatLens", "SQL", "UTC", "ms", "tokens/s", "csv", "parquet"})
# Sentences for API clients (no page shows them): they stay in English, like the API's parameter names.
API_ONLY = frozenset({
    ("api.py", "files must be uploaded with the request (gradio_client's handle_file)."),
    ("api.py", "conversation_id must be an id returned by /new_conversation."),
    ("account_panel.py", "Tokens are managed from the page, not with a token."),
})  # fmt: skip
REFUSALS = frozenset({"MessageRejected", "ChatLensError"})
# A chooser's value is one of its choices' values, never shown (its choice's label is).
CHOOSERS = frozenset({"gr.Dropdown", "gr.Radio", "gr.CheckboxGroup"})


def _is_words(text: str) -> bool:
    return bool(re.search(r"[A-Za-z]", text)) and text.strip() not in SAME_EVERYWHERE


def _literals(node: ast.expr) -> Iterator[str]:
    """The text a value would show as it is: a string, an f-string's own words (unless it holds a ``t(...)``: its
    words are then glue around a catalogued sentence), the strings of a list of choices."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        if not any(isinstance(n, ast.Call) and ast.unparse(n.func) == "t" for n in ast.walk(node)):
            yield "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        yield from _literals(node.left)
        yield from _literals(node.right)
    elif isinstance(node, ast.List | ast.Tuple):
        for element in node.elts:
            # a (shown, value) choice: only the shown half
            yield from _literals(element.elts[0] if isinstance(element, ast.Tuple) and element.elts else element)


def untranslated(source: str, name: str) -> list[str]:
    """Each sentence in ``source`` (a ui/ module called ``name``) that reaches the page without the catalogue: a
    string given to a Gradio component or toast (``gr.*``) as its text, label, title or choices, to a progress bar,
    or as a refusal's sentence."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        called = ast.unparse(node.func)
        gradio = called.startswith("gr.")
        shown: list[ast.expr] = [
            k.value
            for k in node.keywords
            if k.arg in SHOWN and (gradio or k.arg == "desc") and not (k.arg == "value" and called in CHOOSERS)
        ]
        if (gradio or called in REFUSALS) and node.args:
            shown.append(node.args[0])
        for value in shown:
            for text in _literals(value):
                if _is_words(text) and (name, text) not in API_ONLY:
                    found.append(f"ui/{name}:{node.lineno}: {called}(… {text!r} …)")
    return found


def test_no_sentence_in_ui_bypasses_the_catalogue() -> None:
    """Every string a ui/ module shows goes through ``t()`` (or ``say()``, ``choice()``): a new label, button or
    toast written as a literal fails here, in every language at once."""
    found = [line for path in sorted(UI.glob("*.py")) for line in untranslated(path.read_text(), path.name)]
    assert found == [], "shown without the catalogue (ui/i18n.py: t, say, choice):\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'gr.Button("Run")',
        'gr.Accordion("Speed A/B", open=False)',
        'gr.Checkbox(False, label=f"Auto-refresh ({n} s)")',
        'gr.Dropdown(["Last hour", "Custom"], value="Last hour")',
        'gr.Textbox(value="Hello there")',
        'gr.Radio([("Light", "light")])',
        'gr.Info("Token revoked.")',
        'gr.Warning(f"Imported {n} chats")',
        'gr.Markdown("#### Failed " + suffix)',
        'gr.LinePlot(x="time", y="ttft_ms", x_title="prompt tokens")',
        'progress(0, desc="Reading the file…")',
        'MessageRejected("Open a conversation first.")',
    ],
)
def test_the_scan_finds_a_sentence_written_as_it_is(source: str) -> None:
    assert untranslated(source, "example.py") != []


@pytest.mark.parametrize(
    "source",
    [
        'gr.Button(t("chat_send"), size="sm", elem_id="cl-send", variant="stop")',
        "gr.Checkbox(False, label=f\"{t('analytics_auto_refresh')} ({n} s)\")",
        'gr.Dropdown([choice("analytics_range_day", "Last 24 hours")], value="Last 24 hours")',
        'gr.HTML("", elem_id="cl-kpis")',
        'gr.Textbox(buttons=["copy"], label=t("portability_link"))',
        'gr.Blocks(title="ChatLens")',
        'gr.Info(say("toast_token_revoked"))',
        'gr.LinePlot(x="time", y="ttft_ms", x_title="UTC", y_title="ms")',
        'gr.Button(value="↶")',
    ],
)
def test_the_scan_lets_catalogued_and_wordless_strings_pass(source: str) -> None:
    assert untranslated(source, "example.py") == []


# -- In Chromium -------------------------------------------------------------------------------------------------


@pytest.fixture
def localized(browser: Browser) -> Iterator[object]:
    contexts = []

    def open_in(locale: str) -> Page:
        context = browser.new_context(viewport={"width": 1100, "height": 800}, locale=locale)
        contexts.append(context)
        return context.new_page()

    yield open_in
    for context in contexts:
        context.close()


def visible_text(page: Page) -> str:
    return page.locator("body").inner_text()


@pytest.mark.parametrize(("locale", "code"), [("en-US", "en"), ("de-DE", "de"), ("fr-FR", "fr")])
def test_each_language_renders_with_no_missing_key(localized: object, app: RunningApp, locale: str, code: str) -> None:
    page = localized(locale)  # type: ignore[operator]
    say = locales.LANGUAGES[code]
    open_chat(page, app.url)
    expect(page.locator("#cl-send")).to_have_text(say["chat_send"])
    expect(page.locator("#cl-new")).to_have_text(say["chat_new"])
    expect(page.locator("#cl-input textarea")).to_have_attribute("placeholder", say["composer_placeholder"])
    expect(page.locator("#cl-history > .toggle-button")).to_have_attribute("aria-label", say["page_chats"])
    expect(page.locator("#cl-chat")).to_contain_text(say["chat_placeholder_ready"].split("**")[1])
    page.locator("#cl-panels > .toggle-button").click()
    expect(page.locator("#cl-panels")).to_contain_text(say["model_temperature"])
    page.locator("#cl-panels").get_by_role("tab", name=say["chat_tab_theme"]).click()
    expect(page.locator("#cl-theme-scheme")).to_contain_text(say["theme_scheme"])
    text = visible_text(page)
    assert "__i18n__" not in text
    assert KEY_PATTERN.findall(text) == []  # a key shown as itself is a key the browser could not find


def test_errors_and_the_share_page_follow_the_browser_language(
    localized: object, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    page = localized("de-DE")  # type: ignore[operator]
    open_chat(page, app.url)
    send(page, "Hallo")
    finished(page, 1)
    expect(page.locator("#cl-chat .cl-metrics").first).to_contain_text(re.compile(r"\d,\d\d s bis zum ersten Token"))
    fake_tgi.next(Behaviour(http_status=429))
    send(page, "Noch einmal")
    german = locales.LANGUAGES["de"]["error_overloaded"]
    expect(page.get_by_text(german).first).to_be_visible(timeout=10_000)
    assert locales.LANGUAGES["en"]["error_overloaded"] not in visible_text(page)

    open_accordion(page, "cl-portability", locales.LANGUAGES["de"]["portability_label"])
    page.locator("#cl-share").click()
    link = page.locator("#cl-link textarea, #cl-link input").first
    expect(link).to_have_value(re.compile(r"/share/[A-Za-z0-9_-]{43}$"))
    page.goto(link.input_value())
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("footer")).to_contain_text("Ein schreibgeschützter Stand, geteilt aus ChatLens am")
    expect(page.locator(".user .who").first).to_have_text("Nutzer")
    expect(page.locator(".cl-metrics").first).to_contain_text("Tokens/s")


ARABIC = "مرحبا، هذه رسالة باللغة العربية"
HEBREW = "שלום, זו תשובה בעברית."


def test_right_to_left_messages_read_right_to_left(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(
        Behaviour(reply=HEBREW, finish_reason="stop"), Behaviour(reply="Plain English.", finish_reason="stop")
    )
    open_chat(page, app.url)
    send(page, ARABIC)
    finished(page, 1)
    send(page, "And now in English")
    finished(page, 2)
    direction = "e => getComputedStyle(e).direction"
    chat = page.locator("#cl-chat")
    expect(chat.get_by_text(ARABIC)).to_be_visible()
    assert chat.get_by_text(ARABIC).evaluate(direction) == "rtl"
    assert chat.get_by_text(HEBREW).evaluate(direction) == "rtl"
    assert chat.get_by_text(ARABIC).evaluate("e => getComputedStyle(e).textAlign") in ("start", "right")
    assert chat.get_by_text("And now in English").evaluate(direction) == "ltr"
    assert chat.get_by_text("Plain English.").evaluate(direction) == "ltr"
    box = page.locator("#cl-input textarea")
    box.fill(ARABIC)
    assert box.evaluate(direction) == "rtl"


DE = locales.LANGUAGES["de"]


def shown_keys(text: str) -> list[str]:
    """Catalogue keys the page shows as themselves: each a key the browser found no sentence for."""
    return sorted({word for word in re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", text) if word in EN})


def test_versions_undo_temporary_imports_and_revoke_speak_german(
    localized: object, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(reply="Apfel.", finish_reason="stop"), Behaviour(reply="Birne.", finish_reason="stop"))
    page = localized("de-DE")  # type: ignore[operator]
    open_chat(page, app.url)
    expect(page.locator("#cl-temporary")).to_contain_text(DE["chat_temporary"])
    send(page, "Nenne eine Frucht")
    finished(page, 1)
    expect(page.locator("#cl-header")).to_contain_text("Tokens insgesamt")  # the model server's limits
    expect(page.locator("#cl-context")).to_contain_text("Kontext")
    page.locator("#cl-retry").click()
    switcher = page.locator("#cl-chat .cl-versions")
    expect(switcher).to_have_count(1, timeout=10_000)
    expect(switcher).to_have_attribute("title", "Version 2 von 2")
    expect(switcher.get_by_role("button", name=DE["versions_next"])).to_be_disabled()
    expect(switcher.get_by_role("button", name=DE["versions_previous"])).to_be_enabled()

    open_accordion(page, "cl-portability", DE["portability_label"])
    expect(page.locator("#cl-import")).to_have_text(DE["portability_import"])
    page.locator("#cl-share").click()
    expect(page.locator("#cl-link textarea, #cl-link input").first).to_have_value(re.compile(r"/share/"))
    page.locator("#cl-revoke").click()
    expect(page.locator("#cl-revoke-confirm")).to_have_text(DE["revoke_confirm"])
    expect(page.locator("#cl-revoke-cancel")).to_have_text(DE["revoke_cancel"])
    page.locator("#cl-revoke-confirm").click()
    expect(page.locator(".toast-body")).to_contain_text("1 Link widerrufen")

    page.locator("#cl-delete").click()
    expect(page.locator("#cl-undo")).to_have_text(DE["trash_undo"])
    expect(page.locator("#cl-trash")).to_contain_text(DE["trash_label"])
    open_accordion(page, "cl-trash", DE["trash_label"])
    expect(page.locator("#cl-restore")).to_have_text(DE["trash_restore"])
    text = visible_text(page)
    assert "__i18n__" not in text
    assert shown_keys(text) == []
    for english in ("Undo delete", "Recently deleted", "Revoke every link", "Temporary", "Restore"):
        assert english not in text

    page.locator("#cl-new").click()
    page.locator("#cl-retry").click()  # nothing to retry: the refusal is the server's, in German too
    expect(page.locator(".toast-body").last).to_contain_text(DE["refusal_no_reply_yet"])


@pytest.fixture(scope="module")
def seeded_admin_app(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    root = tmp_path_factory.mktemp("analytics-de")
    seed_store(root / "chatlens.duckdb", generations=600, days=3, users=5, seed=6, messages=True)
    with launched_app(make_settings(root, tgi_url=fake_tgi_server.url, analytics_open=True)) as running:
        yield running


def test_the_analytics_tab_speaks_german(localized: object, seeded_admin_app: RunningApp) -> None:
    page = localized("de-DE")  # type: ignore[operator]
    page.set_viewport_size({"width": 1400, "height": 1000})
    open_chat(page, seeded_admin_app.url)
    page.get_by_role("tab", name=DE["analytics_tab"]).click()
    expect(page.locator("#cl-kpis [data-kpi=replies] .cl-kpi-name")).to_have_text(DE["kpi_replies"], timeout=20_000)
    expect(page.locator("#cl-kpis [data-kpi=replies] .cl-kpi-change")).to_contain_text("Vorzeitraum")
    expect(page.locator("#cl-analytics-summary")).to_contain_text("Antworten · ein Punkt je")
    expect(page.locator("#cl-thinking")).to_contain_text(DE["thinking_answer_p50"])
    expect(page.locator("#cl-range input")).to_have_value(DE["analytics_range_day"])
    expect(page.locator("#cl-filter-model input")).to_have_value(DE["analytics_all_models"])
    expect(page.locator("#cl-filter-source input")).to_have_value(DE["analytics_all_sources"])
    expect(page.locator("#cl-filter-deleted")).to_contain_text(DE["analytics_with_deleted"])
    expect(page.locator("#cl-chart-ttft")).to_contain_text(DE["chart_ttft"])
    expect(page.locator("#cl-chart-requests")).to_contain_text(DE["axis_replies"])  # an axis, written by the refresh
    expect(page.locator("#cl-tab-analytics")).to_contain_text(DE["dist_by_model"])
    expect(page.locator("#cl-tab-analytics")).to_contain_text(DE["analytics_failed_heading"].removeprefix("#### "))

    open_accordion(page, "cl-console", DE["console_label"])
    expect(page.locator("#cl-console")).to_contain_text("Keine Schreibzugriffe")
    expect(page.locator("#cl-console-run")).to_have_text(DE["console_run"])
    open_accordion(page, "cl-data-export", DE["export_label"])
    expect(page.locator("#cl-data-export")).to_contain_text(DE["export_generations"])

    open_accordion(page, "cl-ab", DE["speed_label"])
    expect(page.locator("#cl-ab-run")).to_have_text(DE["speed_run"])
    expect(page.locator("#cl-ab")).to_contain_text(f"A: {DE['speed_model']}")
    page.locator("#cl-ab-prompt textarea").fill("Wettlauf!")
    page.locator("#cl-ab-run").click()
    for side in ("A", "B"):
        expect(page.locator(f"#cl-ab-stats-{side}")).to_contain_text("Tokens/s", timeout=15_000)
        expect(page.locator(f"#cl-ab-stats-{side}")).to_contain_text("complete", timeout=15_000)

    text = page.locator("#cl-tab-analytics").inner_text()
    assert "__i18n__" not in text
    assert shown_keys(text) == []
    for english in ("Time range", "Include deleted chats", "Slowest replies", "vs previous period", "Run A and B"):
        assert english not in text
