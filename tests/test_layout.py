"""The chat page as a product, in Chromium at a laptop's and a phone's size: the conversation fills the screen, the
composer is docked at the bottom, the header line keeps clear of the tabs and the panel toggles; refusals never hide
the chat; stored errors read as sentences; Max new tokens fits a small window; math and share pages render.

One app per module (the Analytics tab on, so the tab bar shows). Screenshots go to ``tmp/artifacts/layout/`` (ignored
by git; CI keeps that folder as its artifacts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

import errors
from settings import ModelServer
from tests.support.apps import Launch, RunningApp, launched_app
from tests.support.browser import finished, open_chat, send
from tests.support.config import make_settings
from tests.support.fake_tgi import Behaviour, FakeTgi, free_port
from web.share import share_page

ARTIFACTS = Path(__file__).resolve().parents[1] / "tmp" / "artifacts" / "layout"
SIZES = {"laptop": (1366, 860), "phone": (375, 812)}
REPLY = (
    "Here is **bold** text.\n\n" + "A line of the answer that goes on.\n\n" * 12 + "Math $x^2+y^2$ costs $5 and $10."
)

# Boxes read in the page: the composer (the row holding the message box), the chat, the header's visible text, and
# what floats over the header line (tab buttons, panel toggles).
BOXES_JS = """
() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; };
  const header = [...document.querySelectorAll('#cl-header .cl-header > *')].filter((e) => e.offsetParent);
  const floating = [
    ...document.querySelectorAll('#cl-tabs > .tab-wrapper .tab-container:not(.visually-hidden) > button'),
    ...document.querySelectorAll('#cl-history > .toggle-button, #cl-panels > .toggle-button'),
  ].filter((e) => e.offsetParent && e.getBoundingClientRect().width > 0);
  const scroller = document.querySelector('#cl-chat .bubble-wrap');
  return {
    composer: box(document.querySelector('#cl-input').closest('.row')),
    chat: box(document.querySelector('#cl-chat')),
    header: header.map(box),
    floating: floating.map(box),
    chatScrolls: scroller.scrollHeight > scroller.clientHeight,
    pageScrolls: document.scrollingElement.scrollHeight > window.innerHeight + 1,
    viewport: {w: window.innerWidth, h: window.innerHeight},
  };
}
"""

SWIPE_JS = """
([from, to]) => {
  const at = (x) => new Touch({identifier: 1, target: document.body, clientX: x, clientY: 400});
  const start = {touches: [at(from)], changedTouches: [at(from)], bubbles: true};
  document.dispatchEvent(new TouchEvent('touchstart', start));
  document.dispatchEvent(new TouchEvent('touchend', {touches: [], changedTouches: [at(to)], bubbles: true}));
}
"""


@pytest.fixture(scope="module")
def chat_app(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    settings = make_settings(
        tmp_path_factory.mktemp("layout"), tgi_url=fake_tgi_server.url, analytics_open=True, auto_title=False,
        info_ttl_s=0, max_message_chars=100_000, request_timeout_s=5,
    )  # fmt: skip
    with launched_app(settings) as running:
        yield running


def sized_page(browser: Browser, size: str) -> Page:
    width, height = SIZES[size]
    phone = size == "phone"
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone)
    return context.new_page()


def intersects(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )


def bot_look(page: Page) -> Any:
    """How the last reply's answer is drawn (its bubble's background, border and shadow)."""
    return page.locator("#cl-chat .message.bot").last.evaluate(
        "e => { const c = getComputedStyle(e); return [c.backgroundColor, c.borderTopWidth, c.boxShadow]; }"
    )


@pytest.mark.parametrize("size", list(SIZES))
def test_the_chat_fills_the_screen_with_the_composer_docked_and_the_header_clear(
    browser: Browser, chat_app: RunningApp, fake_tgi: FakeTgi, size: str
) -> None:
    page = sized_page(browser, size)
    open_chat(page, chat_app.url)
    expect(page.locator("#cl-tab-analytics-button")).to_be_visible()  # the tab bar is there to collide with
    fake_tgi.next(Behaviour(reply=REPLY, finish_reason="stop", token_interval_s=0.001))
    send(page, "Give me a long answer")
    finished(page, 1)
    chat = page.locator("#cl-chat")
    expect(chat.locator(".katex")).to_have_count(1)  # $x^2+y^2$ is math…
    expect(chat).to_contain_text("costs $5 and $10.")  # …the prices are not
    done_look = bot_look(page)
    fake_tgi.next(Behaviour(tokens=300, token_interval_s=0.02))
    send(page, "And a slow one")
    expect(chat).to_contain_text("w5", timeout=10_000)
    assert bot_look(page) == done_look  # a reply looks the same while it streams
    page.keyboard.press("Escape")  # stopped, or done first on a slow machine: either way, drawn as before
    expect(chat.locator(".cl-metrics")).to_have_count(2, timeout=15_000)
    expect(page.locator("#cl-send")).to_be_visible()
    assert bot_look(page) == done_look

    boxes = page.evaluate(BOXES_JS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[size]
    page.screenshot(path=str(ARTIFACTS / f"chat-{width}x{height}.png"))
    composer, viewport = boxes["composer"], boxes["viewport"]
    assert 0 <= viewport["h"] - (composer["y"] + composer["h"]) <= 24, boxes
    assert boxes["chat"]["h"] >= 0.7 * viewport["h"], boxes
    assert boxes["chatScrolls"] and not boxes["pageScrolls"], boxes
    assert boxes["header"] and boxes["floating"], boxes
    for text in boxes["header"]:
        for floating in boxes["floating"]:
            assert not intersects(text, floating), (text, floating)

    lines_of_new_chat = page.locator("#cl-new").evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return new Set([...r.getClientRects()].map((b) => Math.round(b.top))).size; }"
    )
    assert lines_of_new_chat == 1
    if size == "phone":
        targets = ["#cl-send", "#cl-retry", "#cl-new", "#cl-history > .toggle-button", "#cl-panels > .toggle-button"]
        for selector in targets:
            target = page.locator(selector).bounding_box()
            assert target and target["width"] >= 44 and target["height"] >= 44, (selector, target)
        copy = page.locator("#cl-chat .message-buttons button").first.bounding_box()
        assert copy and copy["width"] >= 44 and copy["height"] >= 44, copy
        box = page.locator("#cl-input textarea")
        fits = box.evaluate(
            "e => { const c = document.createElement('canvas').getContext('2d'); const s = getComputedStyle(e);"
            " c.font = s.font; return c.measureText(e.placeholder).width <= e.clientWidth - parseFloat(s.paddingLeft)"
            " - parseFloat(s.paddingRight); }"
        )
        assert fits, box.get_attribute("placeholder")
        history, is_open = page.locator("#cl-history"), re.compile(r"\bopen\b")
        expect(history).not_to_have_class(is_open)
        page.evaluate(SWIPE_JS, [4, 220])  # from the left edge, rightwards: the conversations open
        expect(history).to_have_class(is_open)
        page.evaluate(SWIPE_JS, [300, 60])  # and back
        expect(history).not_to_have_class(is_open)
    else:
        label = page.locator("#cl-panels > .toggle-button").evaluate("e => getComputedStyle(e, '::before').content")
        assert label == '"Settings"'
        page.locator("#cl-panels > .toggle-button").click()
        expect(page.locator("#cl-panels")).to_have_class(re.compile(r"\bopen\b"))
    page.context.close()


def test_every_refusal_keeps_the_chat_and_puts_send_back_at_once(
    browser: Browser, chat_app: RunningApp, fake_tgi: FakeTgi
) -> None:
    page = sized_page(browser, "laptop")
    open_chat(page, chat_app.url)
    chat, send_button, stop = page.locator("#cl-chat"), page.locator("#cl-send"), page.locator("#cl-stop")

    def refused(sentence: str) -> None:
        expect(page.get_by_text(sentence).first).to_be_visible(timeout=10_000)
        expect(send_button).to_be_visible(timeout=2_000)
        expect(stop).to_be_hidden(timeout=2_000)
        expect(chat.get_by_text("Error", exact=True)).to_have_count(0)  # Gradio's badge over a failed output

    page.locator("#cl-retry").click()
    refused("There is no reply to retry yet.")
    fake_tgi.next(Behaviour(reply="An answer worth keeping.", finish_reason="stop"))
    send(page, "a fine message")
    finished(page, 1)

    page.locator("#cl-input textarea").fill("x" * 200_000)
    send_button.click()
    refused("the limit is 100,000")
    expect(chat).to_contain_text("An answer worth keeping.")

    page.locator("#cl-panels > .toggle-button").click()
    page.locator("#cl-max-tokens input").fill("100000")
    page.locator("#cl-max-tokens input").press("Tab")
    page.locator("#cl-input textarea").fill("a message with a setting the server refuses")
    send_button.click()
    refused("ask for fewer new tokens")
    expect(chat).to_contain_text("An answer worth keeping.")
    expect(chat).to_contain_text("a fine message")
    page.screenshot(path=str(ARTIFACTS / "refused-1366x860.png"))
    page.context.close()


def test_a_stored_error_reads_as_its_sentence_after_a_reload(
    browser: Browser, chat_app: RunningApp, fake_tgi: FakeTgi
) -> None:
    page = sized_page(browser, "laptop")
    open_chat(page, chat_app.url)
    fake_tgi.next(Behaviour(tokens=20, error_after=3))
    send(page, "this one fails")
    error = page.locator("#cl-chat .cl-metrics.cl-error")
    expect(error).to_be_visible(timeout=10_000)
    expect(page.locator("#cl-send")).to_be_visible()
    page.reload()
    expect(error).to_contain_text("The model server failed while writing the reply", timeout=15_000)
    expect(error).not_to_contain_text("error:")
    page.context.close()


def test_max_new_tokens_starts_fitted_to_a_small_window_and_hello_is_answered(
    browser: Browser, chat_app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.max_total_tokens, fake_tgi.max_input_tokens = 1024, 1000  # reset() puts the first limits back
    page = sized_page(browser, "laptop")
    open_chat(page, chat_app.url)
    page.locator("#cl-panels > .toggle-button").click()
    field = page.locator("#cl-max-tokens")
    expect(field.locator("input")).to_have_value("512")
    expect(field).to_contain_text("fitted to this model server: its window is 1,024 tokens")
    fake_tgi.next(Behaviour(reply="Hello!", finish_reason="stop"))
    send(page, "hello")
    finished(page, 1)
    expect(page.locator("#cl-chat .cl-metrics.cl-complete")).to_be_visible()
    assert fake_tgi.streams[-1].body["max_tokens"] <= 512
    page.context.close()


def test_the_header_shows_a_server_that_is_down_as_a_small_badge(
    browser: Browser, launch: Launch, tmp_path: Path
) -> None:
    down = launch(make_settings(tmp_path, tgi_url=f"http://127.0.0.1:{free_port()}", connect_timeout_s=1))
    page = sized_page(browser, "phone")
    page.goto(down.url)
    badge = page.locator("#cl-header .cl-badge-down")
    expect(badge).to_have_text("server unreachable", timeout=20_000)
    assert "cannot be reached" in (badge.get_attribute("title") or "")
    assert "monospace" not in badge.evaluate("e => getComputedStyle(e).fontFamily")
    shape = badge.bounding_box()
    assert shape is not None and shape["height"] < 30
    page.screenshot(path=str(ARTIFACTS / "server-down-375x812.png"))
    page.context.close()


def test_a_share_page_renders_markdown_and_math_without_running_anything() -> None:
    hostile = '<img src=x onerror="alert(1)"> <script>alert(2)</script> [click](javascript:alert(3))'
    messages = [
        {"role": "user", "content": "Explain **this**"},
        {"role": "assistant", "content": f"# Title\n\n- *one*\n- `two`\n\n$a_1 * b_2$ costs $5 and $10. {hostile}"},
    ]
    shown = share_page({"title": "t", "messages": messages, "shared_at": "2026-12-03T00:00"})
    assert "<strong>this</strong>" in shown and "<h1>Title</h1>" in shown and "<em>one</em>" in shown
    assert "<code>two</code>" in shown
    assert '<span class="math">$a_1 * b_2$</span> costs $5 and $10.' in shown  # math as written, prices as text
    assert "<script>" not in shown and "<img" not in shown and 'href="javascript' not in shown
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in shown


def test_every_stored_error_kind_reads_as_its_sentence_and_an_unknown_one_as_the_generic_one() -> None:
    kinds = [errors.ServerUnreachable, errors.Overloaded, errors.GenerationFailed, errors.IncompleteReply]
    for kind in kinds:
        assert errors.message_for_kind(kind.kind) == kind.default_message
    assert errors.message_for_kind("rejected") == errors.MessageRejected.default_message  # not its subclass's
    assert errors.message_for_kind("no-such-kind") == errors.ChatLensError.default_message


def test_a_server_that_reports_no_window_shows_the_context_bar_from_the_configured_one(
    browser: Browser, launch: Launch, fake_tgi: FakeTgi, tmp_path: Path
) -> None:
    """As local mode runs llama-cpp-python's server: /v1/models only, the window given as the entry's context."""
    fake_tgi.serves_info = False
    local = ModelServer(name="Local", url=fake_tgi.url, context_tokens=2048)
    running = launch(make_settings(tmp_path, models=[local], info_ttl_s=0, auto_title=False))
    page = sized_page(browser, "phone")
    open_chat(page, running.url)
    fake_tgi.next(Behaviour(reply="Hi.", finish_reason="stop"))
    send(page, "hello")
    finished(page, 1)
    expect(page.locator("#cl-context .cl-context")).to_contain_text("/ 1,024 tokens")  # 2,048 less the reply's 1,024
    page.context.close()
