"""A thinking model on the page, in Chromium: the thought streams open above the answer, collapses when the answer
starts, says how long the model thought, survives a reload, is left out of Copy, and hostile markup inside it stays
text."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from storage.schema import Message
from tests.support.apps import RunningApp
from tests.support.browser import open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi

HOSTILE = '<img src=x onerror="alert(1)"> <script>alert(2)</script>'
THOUGHT = " ".join(f"step{i}" for i in range(40)) + " " + HOSTILE + " so the answer is short."
ANSWER = "The answer is 42. " + " ".join(f"word{i}" for i in range(40))  # long enough to watch it stream


def test_the_thinking_block_streams_open_then_collapses_and_shows_its_time(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(
        Behaviour(reply=ANSWER, thinking=THOUGHT, reasoning_shape="inline_split", token_interval_s=0.05,
                  finish_reason="stop")
    )  # fmt: skip
    open_chat(page, app.url)
    send(page, "What is the answer?")
    chat = page.locator("#cl-chat")
    thought = chat.locator(".thought-group")
    expect(page.locator("#cl-status .cl-clock[data-phase=thinking]")).to_contain_text("Thinking", timeout=10_000)
    expect(thought).to_contain_text("Thinking…")
    # The page's script runs (the clock counts on in the browser; a syntax error in it would stop Copy and Esc too).
    expect(page.locator("#cl-status .cl-clock")).to_have_attribute("data-t0", re.compile(r"\d"))
    expect(thought).to_contain_text("step5", timeout=5000)  # open, streaming
    expect(chat).not_to_contain_text("The answer is 42")

    expect(page.locator("#cl-status .cl-clock[data-phase=generating]")).to_contain_text("Answering", timeout=10_000)
    expect(chat.locator(".cl-metrics.cl-complete")).to_contain_text("s to answer", timeout=10_000)
    expect(chat).to_contain_text(ANSWER)
    expect(thought).to_contain_text(re.compile(r"Thought for \d+\.\d s"))
    expect(thought).not_to_contain_text("step5")  # collapsed once the answer started
    assert chat.locator("img[onerror]").count() == 0 and chat.locator("script").count() == 0

    thought.get_by_text(re.compile("Thought for")).click()  # opened by hand: the hostile markup is text
    expect(thought).to_contain_text("<script>alert(2)</script>")
    assert chat.locator("img[onerror]").count() == 0 and chat.locator("script").count() == 0

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    chat.get_by_role("button", name="Copy message").last.click()
    assert page.evaluate("navigator.clipboard.readText()") == ANSWER, "Copy copies the answer only"

    [reply] = app.rows(Message, role="assistant", content=ANSWER)
    assert reply.reasoning == THOUGHT
    page.reload()
    expect(chat).to_contain_text(ANSWER)
    expect(thought).to_contain_text(re.compile(r"Thought for \d+\.\d s"))
    expect(thought).not_to_contain_text("step5")
