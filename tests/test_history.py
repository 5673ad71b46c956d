"""The conversation sidebar in Chromium: newest first, open, rename, search, delete, deep links."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.apps import RunningApp
from tests.support.browser import open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi

# Every request that puts an event on the server's queue leaves a second late, as from a busy server.
HOLD_QUEUE_REQUESTS_JS = """() => {
  const send = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const url = typeof input === "string" ? input : input.url;
    if (!url.includes("/queue/join")) return send(input, init);
    return new Promise((resolve) => setTimeout(resolve, 1000)).then(() => send(input, init));
  };
}"""


def finish(page: Page, count: int) -> None:
    expect(page.locator("#cl-chat .cl-metrics.cl-complete")).to_have_count(count, timeout=10_000)


def test_conversations_are_listed_opened_renamed_searched_and_deleted(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(
        Behaviour(reply="Lisbon has trams.", finish_reason="stop"), Behaviour(reply="Knead it.", finish_reason="stop")
    )
    open_chat(page, app.url)
    items = page.locator("#cl-conversations label")
    send(page, "Plan a trip to Lisbon")
    finish(page, 1)
    lisbon_url = page.url
    expect(items.first).to_contain_text("Plan a trip to Lisbon")
    page.locator("#cl-new").click()
    send(page, "Bake sourdough bread")
    finish(page, 1)
    expect(items.first).to_contain_text("Bake sourdough bread")  # newest first
    expect(page.locator("#cl-conversations")).to_contain_text("Plan a trip to Lisbon")

    page.locator("#cl-conversations label", has_text="Plan a trip to Lisbon").click()
    chat = page.locator("#cl-chat")
    expect(chat).to_contain_text("Lisbon has trams.")
    expect(chat).not_to_contain_text("Knead it.")
    assert re.search(r"c=[0-9a-f-]{36}", page.url) and page.url == lisbon_url

    page.locator("#cl-title textarea, #cl-title input").first.fill("Portugal")
    page.locator("#cl-rename").click()
    expect(page.locator("#cl-conversations")).to_contain_text("Portugal")

    page.locator("#cl-search textarea, #cl-search input").first.fill("knead")  # message text, any case
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Bake sourdough bread")
    page.locator("#cl-search textarea, #cl-search input").first.fill("")
    expect(page.locator("#cl-conversations")).to_contain_text("Portugal")

    page.reload()  # the deep link reopens the conversation
    expect(chat).to_contain_text("Lisbon has trams.")
    page.locator("#cl-delete").click()
    expect(chat).not_to_contain_text("Lisbon has trams.")
    expect(page.locator("#cl-conversations")).not_to_contain_text("Portugal")
    page.goto(lisbon_url)  # a deleted conversation's link opens nothing
    expect(page.get_by_text("not found")).to_be_visible()


def test_a_message_sent_right_after_new_chat_starts_a_new_conversation(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    """New chat takes effect in the page at once: a message typed before the server has answered the click (a
    slow or busy server; here every queue request is held back a second) goes to a new conversation, not the old."""
    fake_tgi.next(
        Behaviour(reply="Ships sail.", finish_reason="stop"), Behaviour(reply="Bread rises.", finish_reason="stop")
    )
    open_chat(page, app.url)
    send(page, "Tell me about harbours")
    finish(page, 1)
    first_url = page.url

    page.evaluate(HOLD_QUEUE_REQUESTS_JS)
    page.locator("#cl-new").click()
    send(page, "Tell me about bakeries")
    finish(page, 1)
    chat = page.locator("#cl-chat")
    expect(chat).to_contain_text("Bread rises.")
    expect(chat).not_to_contain_text("Ships sail.")
    expect(page.locator("#cl-conversations label").first).to_contain_text("Tell me about bakeries")
    expect(page.locator("#cl-conversations")).to_contain_text("Tell me about harbours")
    assert page.url != first_url
