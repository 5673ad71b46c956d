"""The Theme panel and the page's mobile and keyboard behaviour, in a real headless Chromium (as test_browser.py).

Every page these tests open is watched: no request may leave 127.0.0.1 (no web fonts, no CDN) and no dialog may
open. Screenshots go to tests/output/ (CI artifacts, not committed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from tests.support.apps import RunningApp
from tests.support.browser import open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi
from ui.theme_panel import ACCENTS, CHOICES, CODE_PALETTES, DEFAULTS, STORAGE_KEY

OUTPUT = Path(__file__).resolve().parent / "output"
CODE_REPLY = "Here is some code:\n\n```python\ndef add(a, b):\n    return a + b  # sum\n```\n\nThat is all."
DARK = re.compile(r"(^|\s)dark(\s|$)")

OpenPage = Callable[..., Page]
Scheme = Literal["light", "dark"]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """Pages in fresh browser contexts (empty storage); afterwards, every request must have stayed local."""
    contexts: list[BrowserContext] = []
    urls: list[str] = []
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def make(width: int = 1100, height: int = 800, color_scheme: Scheme = "light") -> Page:
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=color_scheme)
        contexts.append(context)
        page = context.new_page()
        page.on("request", lambda request: urls.append(request.url))
        page.on("websocket", lambda socket: urls.append(socket.url))
        page.on("dialog", on_dialog)
        return page

    yield make
    for context in contexts:
        context.close()
    remote = [url for url in urls if url.startswith(("http", "ws")) and urlsplit(url).hostname != "127.0.0.1"]
    assert urls, "no request was seen: the network check would prove nothing"
    assert remote == [], f"requests left the machine: {remote}"
    assert dialogs == [], f"a dialog fired: {dialogs}"


def open_theme_tab(page: Page) -> None:
    page.locator("#cl-panels .toggle-button").click()
    page.locator("#cl-tab-theme-button").click()
    expect(page.locator("#cl-theme-scheme")).to_be_visible()


def choose(page: Page, key: str, label: str) -> None:
    option = page.locator(f"#cl-theme-{key}").get_by_label(label, exact=True)
    option.check()
    expect(option.locator("xpath=..")).to_have_class(re.compile(r"(^|\s)selected(\s|$)"))  # the control shows it


def expect_checked(page: Page, choices: dict[str, str]) -> None:
    for key, label in choices.items():
        expect(page.locator(f"#cl-theme-{key}").get_by_label(label, exact=True)).to_be_checked()


def expect_classes(page: Page, prefs: dict[str, str]) -> None:
    html = page.locator("html")
    for key, value in prefs.items():
        expect(html).to_have_class(re.compile(rf"(^|\s)cl-{key}-{value}(\s|$)"))


def chat_with_code(page: Page, fake_tgi: FakeTgi, url: str) -> None:
    fake_tgi.next(Behaviour(reply=CODE_REPLY, finish_reason="stop"))
    open_chat(page, url)
    send(page, "Show me some code")
    expect(page.locator("#cl-chat .cl-metrics.cl-complete")).to_be_visible(timeout=10_000)
    expect(page.locator("#cl-send")).to_be_visible()


def assert_fits(page: Page, name: str) -> None:
    """Screenshot, then no horizontal overflow: nothing wider than the viewport."""
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), animations="disabled")
    width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= viewport, f"{name}: page is {width}px wide in a {viewport}px viewport"


CHOSEN = {
    "scheme": "Dark",
    "accent": "Teal",
    "size": "Extra large",
    "font": "Serif",
    "code": "GitHub",
    "density": "Compact",
    "layout": "Panel",
}
CHOSEN_VALUES = {
    "scheme": "dark",
    "accent": "teal",
    "size": "xlarge",
    "font": "serif",
    "code": "github",
    "density": "compact",
    "layout": "panel",
}
DEFAULT_LABELS = {
    "scheme": "Follow system",
    "accent": "Indigo",
    "size": "Normal",
    "font": "Theme",
    "code": "Gradio",
    "density": "Comfortable",
    "layout": "Bubbles",
}


def test_defaults_are_valid_choices() -> None:
    assert set(DEFAULTS) == set(CHOICES) == set(CHOSEN_VALUES)
    assert all(DEFAULTS[key] in CHOICES[key] and CHOSEN_VALUES[key] in CHOICES[key] for key in DEFAULTS)
    assert all(DEFAULTS[key] != CHOSEN_VALUES[key] for key in DEFAULTS), "each test choice must change something"


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_helper_matches_known_ratios() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_code_palettes_and_accents_reach_wcag_aa() -> None:
    """Every code colour on its block, light and dark, and white text on every accent: at least 4.5:1."""
    low = [
        (name, group, scheme, round(contrast(colours[i], palette.background[i]), 2))
        for name, palette in CODE_PALETTES.items()
        if palette
        for group, colours in [*palette.tokens.items(), ("text", palette.text)]
        for i, scheme in enumerate(("light", "dark"))
        if contrast(colours[i], palette.background[i]) < 4.5
    ]
    assert low == []
    for name, accent in ACCENTS.items():
        shades = dict(zip((50, *range(100, 1000, 100), 950), accent.palette.expand(), strict=True))
        assert contrast("#ffffff", shades[accent.strong]) >= 4.5, name


def test_every_choice_applies_at_once_and_survives_a_reload(
    open_page: OpenPage, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    page = open_page()
    chat_with_code(page, fake_tgi, app.url)
    page.evaluate("window.clSameDocument = true")  # gone if anything reloads the page
    open_theme_tab(page)
    expect_classes(page, DEFAULTS)
    body, send_button = page.locator("body"), page.locator("#cl-send")
    box, keyword = page.locator("#cl-input textarea"), page.locator("#cl-chat .token.keyword").first
    user_row, user_bubble = page.locator("#cl-chat .message-row.user-row").first, page.locator("#cl-chat .user").first
    expect(body).not_to_have_class(DARK)
    expect(send_button).to_have_css("background-color", "rgb(79, 70, 229)")  # indigo-600: 500 is 4.47:1 behind white
    expect(box).to_have_css("font-size", "14px")
    expect(user_row).to_have_css("margin-top", "20px")

    choose(page, "scheme", "Dark")
    expect(body).to_have_class(DARK, timeout=1000)
    assert page.evaluate("document.body.classList.contains('dark')")
    choose(page, "accent", "Teal")
    expect(send_button).to_have_css("background-color", "rgb(15, 118, 110)")  # teal-700: white text stays readable
    choose(page, "size", "Extra large")
    expect(box).to_have_css("font-size", "18px")
    choose(page, "font", "Serif")
    expect(box).to_have_css("font-family", re.compile(r"^ui-serif"))
    choose(page, "code", "GitHub")
    expect(keyword).to_have_css("color", "rgb(255, 123, 114)")  # GitHub dark's keyword red
    choose(page, "density", "Compact")
    expect(user_row).to_have_css("margin-top", "6px")
    choose(page, "layout", "Panel")
    expect(user_row).to_have_css("margin-top", "0px")
    expect(user_bubble).to_have_css("border-top-width", "0px")
    expect_classes(page, CHOSEN_VALUES)
    assert page.evaluate("window.clSameDocument === true"), "the page reloaded"
    assert page.evaluate(f"localStorage.getItem('{STORAGE_KEY}')"), "nothing was stored in the browser"

    page.reload()
    expect(page.locator("#cl-header")).to_contain_text("fake-org/")
    expect(body).to_have_class(DARK)
    expect_classes(page, CHOSEN_VALUES)
    expect(send_button).to_have_css("background-color", "rgb(15, 118, 110)")
    open_theme_tab(page)
    expect_checked(page, CHOSEN)

    page.locator("#cl-theme-reset").click()
    expect_checked(page, DEFAULT_LABELS)
    expect_classes(page, DEFAULTS)
    expect(body).not_to_have_class(DARK)
    expect(box).to_have_css("font-size", "14px")
    page.reload()
    expect(page.locator("#cl-header")).to_contain_text("fake-org/")
    expect_classes(page, DEFAULTS)
    expect(body).not_to_have_class(DARK)


def test_code_palettes_colour_code_in_light_and_dark(open_page: OpenPage, app: RunningApp, fake_tgi: FakeTgi) -> None:
    page = open_page()
    chat_with_code(page, fake_tgi, app.url)
    open_theme_tab(page)
    keyword, block = page.locator("#cl-chat .token.keyword").first, page.locator("#cl-chat pre").first
    expect(keyword).to_have_css("color", "rgb(0, 119, 170)")  # Gradio's Prism light (#07a)
    choose(page, "code", "High contrast")
    expect(keyword).to_have_css("color", "rgb(121, 40, 161)")
    expect(block).to_have_css("background-color", "rgb(254, 254, 254)")
    choose(page, "scheme", "Dark")
    expect(keyword).to_have_css("color", "rgb(0, 224, 224)")
    expect(block).to_have_css("background-color", "rgb(43, 43, 43)")
    choose(page, "code", "GitHub")
    expect(keyword).to_have_css("color", "rgb(255, 123, 114)")
    choose(page, "scheme", "Light")
    expect(keyword).to_have_css("color", "rgb(207, 34, 46)")
    expect(block).to_have_css("background-color", "rgb(246, 248, 250)")


def test_follow_system_tracks_the_system_scheme(open_page: OpenPage, app: RunningApp) -> None:
    page = open_page(color_scheme="light")
    open_chat(page, app.url)
    body = page.locator("body")
    expect(body).not_to_have_class(DARK)
    page.emulate_media(color_scheme="dark")
    expect(body).to_have_class(DARK)
    page.emulate_media(color_scheme="light")
    expect(body).not_to_have_class(DARK)

    # An explicit choice holds when the system changes (Gradio's own listener would follow the system).
    open_theme_tab(page)
    choose(page, "scheme", "Light")
    page.emulate_media(color_scheme="dark")
    page.wait_for_timeout(300)
    expect(body).not_to_have_class(DARK)
    choose(page, "scheme", "Follow system")
    expect(body).to_have_class(DARK)


def test_ctrl_shift_o_starts_a_new_chat(open_page: OpenPage, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(reply="An answer to clear.", finish_reason="stop"))
    page = open_page()
    open_chat(page, app.url)
    send(page, "Something to clear")
    chat = page.locator("#cl-chat")
    expect(chat).to_contain_text("An answer to clear.", timeout=10_000)
    expect(chat.locator(".cl-metrics.cl-complete")).to_be_visible()
    expect(page.locator("#cl-send")).to_be_visible()  # the reply's events are over: only the shortcut acts now
    expect(page).to_have_url(re.compile(r"[?&]c="))
    page.keyboard.press("Control+Shift+O")
    expect(chat).not_to_contain_text("Something to clear")
    expect(page).not_to_have_url(re.compile(r"[?&]c="))
    expect(page.locator("#cl-input textarea")).to_be_focused()


@pytest.mark.parametrize(("name", "width", "height"), [("desktop", 1100, 800), ("mobile", 375, 812)])
def test_screens_fit_in_light_and_dark(
    open_page: OpenPage, app: RunningApp, fake_tgi: FakeTgi, name: str, width: int, height: int
) -> None:
    page = open_page(width=width, height=height, color_scheme="light")
    chat_with_code(page, fake_tgi, app.url)
    assert_fits(page, f"{name}-light-chat")
    for control in ("#cl-input textarea", "#cl-send", "#cl-new"):  # on screen without scrolling
        expect(page.locator(control)).to_be_in_viewport(ratio=1)
    open_theme_tab(page)
    assert_fits(page, f"{name}-light-theme-panel")
    choose(page, "scheme", "Dark")
    expect(page.locator("body")).to_have_class(DARK)
    assert_fits(page, f"{name}-dark-theme-panel")
    page.locator("#cl-panels .toggle-button").click()
    expect(page.locator("#cl-theme-scheme")).not_to_be_in_viewport()
    assert_fits(page, f"{name}-dark-chat")
