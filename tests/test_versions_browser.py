"""The ‹ n/m › switcher in Chromium: retry, flip back to the first reply, and the model is sent the branch on screen;
the same for an edited question; the branch chosen is the one a reload shows. Checked against what the fake TGI
received and the rows in the DuckDB file."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import Page, expect

from tests.support.apps import RunningApp
from tests.support.browser import finished, open_accordion, open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi


def answers(fake_tgi: FakeTgi, *texts: str) -> None:
    fake_tgi.next(*(Behaviour(reply=text, finish_reason="stop") for text in texts))


def sent(fake_tgi: FakeTgi) -> list[tuple[str, str]]:
    """What the model was sent for the latest reply: (role, text) of each message."""
    return [(m["role"], m["content"]) for m in fake_tgi.streams[-1].body["messages"] if m["role"] != "system"]


def test_retry_then_flip_back_and_the_next_message_answers_the_reply_on_screen(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    answers(fake_tgi, "Apple.", "Banana.", "Apple pie.")
    open_chat(page, app.url)
    chat = page.locator("#cl-chat")
    send(page, "Name a fruit")
    finished(page, 1)
    expect(chat.locator(".cl-versions")).to_have_count(0)  # one version: no switcher
    page.locator("#cl-retry").click()
    expect(chat).to_contain_text("Banana.", timeout=10_000)
    switcher = chat.locator(".cl-versions")
    expect(switcher).to_have_count(1, timeout=10_000)
    expect(switcher).to_contain_text("2/2")
    expect(switcher.get_by_role("button", name="Next version")).to_be_disabled()

    switcher.get_by_role("button", name="Previous version").click()
    expect(switcher).to_contain_text("1/2")
    expect(chat).to_contain_text("Apple.")
    expect(chat).not_to_contain_text("Banana.")

    open_accordion(page, "cl-portability", "Export · import · share")
    page.locator("#cl-share").click()
    link = page.locator("#cl-link textarea, #cl-link input").first
    expect(link).to_have_value(re.compile(r"/share/"))
    shared = httpx.get(link.input_value()).text
    assert "Apple." in shared and "Banana." not in shared and "cl-versions" not in shared  # the branch on screen

    send(page, "A dessert with it?")
    finished(page, 2)
    expect(chat).to_contain_text("Apple pie.")
    assert sent(fake_tgi) == [("user", "Name a fruit"), ("assistant", "Apple."), ("user", "A dessert with it?")]

    page.reload()  # the branch chosen is remembered with the conversation
    expect(chat).to_contain_text("Apple pie.", timeout=10_000)
    expect(chat.locator(".cl-versions")).to_contain_text("1/2")
    chat.locator(".cl-versions").get_by_role("button", name="Next version").click()
    expect(chat).to_contain_text("Banana.")
    expect(chat).not_to_contain_text("A dessert with it?")  # that turn followed the other version
    expect(chat.locator(".cl-versions")).to_contain_text("2/2")


def test_an_edited_question_flips_back_to_the_old_one_and_what_followed_it(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    answers(fake_tgi, "Paris.", "Lyon is second.", "Berlin.", "Marseille, by size.", "Munich is second.")
    open_chat(page, app.url)
    chat = page.locator("#cl-chat")
    send(page, "Capital of France?")
    finished(page, 1)
    send(page, "And the second city?")
    finished(page, 2)

    chat.locator(".message").first.hover()
    page.get_by_role("button", name="Edit").first.click()
    page.locator("#cl-chat textarea").fill("Capital of Germany?")
    page.get_by_role("button", name="Submit").click()
    expect(chat).to_contain_text("Berlin.", timeout=10_000)
    question = chat.locator(".cl-versions").first
    expect(question).to_contain_text("2/2", timeout=10_000)
    expect(chat).not_to_contain_text("And the second city?")

    question.get_by_role("button", name="Previous version").click()
    expect(chat).to_contain_text("Lyon is second.")  # the old question with everything that followed it
    expect(chat).to_contain_text("Capital of France?")
    expect(chat).not_to_contain_text("Berlin.")
    expect(question).to_contain_text("1/2")

    page.locator("#cl-retry").click()  # Retry on the branch on screen answers that branch
    expect(chat).to_contain_text("Marseille, by size.", timeout=10_000)
    assert sent(fake_tgi) == [
        ("user", "Capital of France?"),
        ("assistant", "Paris."),
        ("user", "And the second city?"),
    ]
    expect(chat.locator(".cl-versions")).to_have_count(2, timeout=10_000)  # the question 1/2, the reply 2/2
    expect(chat.locator(".cl-versions").last).to_contain_text("2/2")

    question.get_by_role("button", name="Next version").click()
    expect(chat).to_contain_text("Berlin.")
    expect(chat).not_to_contain_text("Marseille")
    send(page, "And the second city?")
    finished(page, 2)
    expect(chat).to_contain_text("Munich is second.")
    assert sent(fake_tgi) == [
        ("user", "Capital of Germany?"),
        ("assistant", "Berlin."),
        ("user", "And the second city?"),
    ]

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    chat.locator(".message").first.hover()
    chat.get_by_role("button", name="Copy message").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == "Capital of Germany?", "Copy copies the text only"

    # Editing an edited question: the edit box holds its text, not its switcher.
    chat.locator(".message").first.hover()
    page.get_by_role("button", name="Edit").first.click()
    expect(page.locator("#cl-chat textarea")).to_have_value("Capital of Germany?")
