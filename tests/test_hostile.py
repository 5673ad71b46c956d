"""Hostile model output in Chromium: no script runs, no style leaks, the page stays usable (issue #9)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.support.apps import RunningApp, launched_app
from tests.support.browser import finished, open_chat, send
from tests.support.config import make_settings
from tests.support.fake_tgi import Behaviour, FakeTgi

STYLE_LEAK = "Styled? <style>body, #cl-input { display: none !important; } * { color: red !important; }</style> ok"
LINKS = '[click me](javascript:alert(1)) and <a href="javascript:alert(2)">me too</a> and <svg onload=alert(3)>'
NESTED = "> " * 300 + "deep quote\n\n" + "".join("  " * depth + "- level\n" for depth in range(120))
HUGE_CODE = "```python\n" + "\n".join(f"v{n} = f({n})  # line {n}" for n in range(600)) + "\n```"  # 3,600 tokens


def test_style_tags_in_a_reply_do_not_restyle_the_page(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(reply=STYLE_LEAK, finish_reason="stop"))
    open_chat(page, app.url)
    colour_before = page.locator("#cl-header").evaluate("e => getComputedStyle(e).color")
    send(page, "style me")
    finished(page, 1)
    expect(page.locator("#cl-input textarea")).to_be_visible()
    assert page.locator("#cl-chat .message style").count() == 0  # (the Clear icon has a style of its own)
    assert page.locator("#cl-header").evaluate("e => getComputedStyle(e).color") == colour_before


def test_javascript_links_and_event_handlers_never_run(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(reply=LINKS, finish_reason="stop"))
    open_chat(page, app.url)
    send(page, "links please")
    finished(page, 1)
    chat = page.locator("#cl-chat")
    assert chat.locator("[href^='javascript:' i]").count() == 0
    assert chat.locator("[onload], [onerror], [onclick]").count() == 0
    links = chat.locator("a", has_text="click me")
    if links.count():
        links.first.click()  # whatever it became, clicking it fires no dialog (the page fixture checks)
    page.wait_for_timeout(300)


@pytest.fixture(scope="module")
def roomy_app(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """Replies as long as the fake's window allows (the shared test app caps them at 10,000 characters)."""
    settings = make_settings(
        tmp_path_factory.mktemp("roomy"), tgi_url=fake_tgi_server.url, max_new_tokens=4000, auto_title=False
    )
    with launched_app(settings) as running:
        yield running


def test_huge_code_and_deep_nesting_leave_the_page_responsive(
    page: Page, roomy_app: RunningApp, fake_tgi: FakeTgi
) -> None:
    app = roomy_app
    fake_tgi.next(Behaviour(reply=NESTED, finish_reason="stop"), Behaviour(reply=HUGE_CODE, finish_reason="stop"))
    open_chat(page, app.url)
    send(page, "nest")
    finished(page, 1)
    send(page, "code")
    finished(page, 2)
    expect(page.locator("#cl-chat")).to_contain_text("line 599", timeout=15_000)
    started = time.monotonic()
    box = page.locator("#cl-input textarea")
    box.fill("still typing")
    expect(box).to_have_value("still typing")
    # Not a timing assertion on performance: a page frozen by the reply would not take input for many seconds.
    assert time.monotonic() - started < 5
