"""The page in a real headless Chromium (Debian's package, driven by Playwright; no browser download)."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from playwright.sync_api import Page, expect

from storage.schema import Message
from tests.support.apps import RunningApp
from tests.support.browser import open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi

# The README's screenshot: refreshed by `CHATLENS_UPDATE_SCREENSHOT=1 make test`; otherwise into tests/output/.
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / ("docs" if os.environ.get("CHATLENS_UPDATE_SCREENSHOT") else "tests/output") / "screenshot-chat.png"


def test_type_enter_stream_stop_and_reload(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(tokens=600, token_interval_s=0.02, first_token_delay_s=0.6))
    open_chat(page, app.url)
    expect(page.locator("#cl-header")).to_contain_text(fake_tgi.model_id)
    send(page, "Tell me a long story")
    chat = page.locator("#cl-chat")
    expect(chat).to_contain_text("Tell me a long story")
    expect(page.locator("#cl-status .cl-clock[data-phase=waiting]")).to_contain_text("Waiting for first token")
    expect(page.locator("#cl-status .cl-clock[data-phase=generating]")).to_be_visible(timeout=5000)
    expect(chat).to_contain_text("w20", timeout=10_000)
    page.locator("#cl-stop").click()
    expect(chat.locator(".cl-metrics.cl-stopped")).to_be_visible(timeout=10_000)
    expect(page.locator("#cl-send")).to_be_visible()
    [stream] = fake_tgi.wait_for_streams(1)
    assert stream.client_closed and stream.tokens_sent < 600

    assert re.search(r"[?&]c=[0-9a-f-]{36}", page.url), page.url
    partial = app.rows(Message, role="assistant", status="stopped")[-1].content
    page.reload()
    expect(chat).to_contain_text("Tell me a long story")
    expect(chat).to_contain_text(partial.split()[-1])
    expect(chat.locator(".cl-metrics.cl-stopped")).to_contain_text("stopped")


def test_reply_shows_its_metrics_and_shift_enter_adds_a_line(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(
        Behaviour(
            reply="Deep learning trains **neural networks** with many layers.\n\n```python\nmodel.fit(x, y)\n```",
            finish_reason="stop",
            token_interval_s=0.03,
            first_token_delay_s=0.2,
        )
    )
    open_chat(page, app.url)
    box = page.locator("#cl-input textarea")
    box.fill("What is deep learning?")
    box.press("Shift+Enter")
    box.type("Answer briefly.")
    expect(box).to_have_value("What is deep learning?\nAnswer briefly.")
    box.press("Enter")
    chat = page.locator("#cl-chat")
    metrics = chat.locator(".cl-metrics.cl-complete")
    expect(metrics).to_contain_text("s to first token", timeout=10_000)
    expect(metrics).to_contain_text("tokens/s")
    expect(chat).to_contain_text("model.fit(x, y)")
    assert fake_tgi.streams[-1].body["messages"][-1]["content"] == "What is deep learning?\nAnswer briefly."
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


def test_hostile_html_in_a_reply_is_shown_as_text_not_run(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(
        Behaviour(reply='Look: <img src=x onerror="alert(1)"> <script>alert(2)</script> done', finish_reason="stop")
    )
    open_chat(page, app.url)
    send(page, "<b>hi</b> & <i>bye</i>")
    chat = page.locator("#cl-chat")
    expect(chat.locator(".cl-metrics.cl-complete")).to_be_visible(timeout=10_000)
    expect(chat).to_contain_text("done")
    assert chat.locator("img[onerror]").count() == 0
    assert chat.locator("script").count() == 0


def test_refused_message_stays_in_the_box(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    """A refusal is a toast: the chat stays visible (no "Error" badge over it), the text stays, Send is back."""
    open_chat(page, app.url)
    chat = page.locator("#cl-chat")
    page.locator("#cl-retry").click()  # nothing to retry yet
    expect(page.get_by_text("There is no reply to retry yet.")).to_be_visible(timeout=10_000)
    fake_tgi.next(Behaviour(reply="An answer worth keeping.", finish_reason="stop"))
    send(page, "first, a fine message")
    expect(chat.locator(".cl-metrics.cl-complete")).to_have_count(1, timeout=10_000)
    streams = len(fake_tgi.streams)
    page.locator("#cl-input textarea").press("Enter")  # an empty box: nothing happens (it used to empty the chat)
    page.wait_for_timeout(1000)
    expect(chat).to_contain_text("An answer worth keeping.")

    huge = "x" * 200_000
    page.locator("#cl-input textarea").fill(huge)
    page.locator("#cl-send").click()
    expect(page.get_by_text("the limit is 100,000")).to_be_visible(timeout=10_000)
    expect(page.locator("#cl-input textarea")).to_have_value(huge)
    expect(chat).to_contain_text("An answer worth keeping.")
    expect(chat).to_contain_text("first, a fine message")
    expect(chat.get_by_text("Error", exact=True)).to_have_count(0)  # Gradio's badge on a failed event's outputs
    expect(page.locator("#cl-send")).to_be_visible()
    expect(page.locator("#cl-stop")).to_be_hidden()
    assert len(fake_tgi.streams) == streams


def test_retry_regenerates_the_last_reply_and_new_chat_starts_over(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(
        Behaviour(reply="First answer.", finish_reason="stop"), Behaviour(reply="Second answer.", finish_reason="stop")
    )
    open_chat(page, app.url)
    send(page, "Give me an answer")
    chat = page.locator("#cl-chat")
    expect(chat).to_contain_text("First answer.", timeout=10_000)
    expect(chat.locator(".cl-metrics.cl-complete")).to_have_count(1)
    page.locator("#cl-retry").click()
    expect(chat).to_contain_text("Second answer.", timeout=10_000)
    expect(chat).not_to_contain_text("First answer.")
    expect(chat.locator(".cl-metrics.cl-complete")).to_have_count(1)
    assert [m["role"] for m in fake_tgi.streams[-1].body["messages"]] == ["user"]
    conversation = re.search(r"c=([0-9a-f-]{36})", page.url)
    assert conversation is not None
    stored = app.rows(Message, conversation_id=uuid.UUID(conversation.group(1)))
    assert [(m.content, m.superseded_at is not None) for m in stored] == [
        ("Give me an answer", False),
        ("First answer.", True),
        ("Second answer.", False),
    ]

    page.locator("#cl-new").click()
    expect(chat).not_to_contain_text("Second answer.")
    expect(page).not_to_have_url(re.compile(r"[?&]c="))


def test_escape_stops_a_streaming_reply(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(tokens=600, token_interval_s=0.02))
    open_chat(page, app.url)
    send(page, "Keep going")
    chat = page.locator("#cl-chat")
    expect(chat).to_contain_text("w10", timeout=10_000)
    page.keyboard.press("Escape")
    expect(chat.locator(".cl-metrics.cl-stopped")).to_be_visible(timeout=10_000)
    [stream] = fake_tgi.wait_for_streams(1)
    assert stream.client_closed and stream.tokens_sent < 600
