"""The conversation sidebar in Chromium: newest first, open, rename, search, delete, deep links."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.support.apps import RunningApp
from tests.support.browser import open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi


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
