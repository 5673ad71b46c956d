"""Edit, retry any reply, continue, feedback — in Chromium, checked against the rows in the DuckDB file."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from inference.service import CONTINUE_INSTRUCTION
from storage.schema import Feedback, Generation, Message
from tests.support.apps import RunningApp
from tests.support.browser import conversation_of, finished, open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.wait import wait_until


def visible(app: RunningApp, cid: uuid.UUID) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in app.rows(Message, conversation_id=cid) if m.superseded_at is None]


def test_editing_a_question_reruns_from_it_and_keeps_the_replaced_turns(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(*(Behaviour(reply=text, finish_reason="stop") for text in ("One.", "Two.", "Edited answer.")))
    open_chat(page, app.url)
    send(page, "first question")
    finished(page, 1)
    send(page, "second question")
    finished(page, 2)
    cid = conversation_of(page)

    page.locator("#cl-chat .message").first.hover()
    page.get_by_role("button", name="Edit").first.click()
    page.locator("#cl-chat textarea").fill("first question, edited")
    page.get_by_role("button", name="Submit").click()
    finished(page, 1)
    expect(page.locator("#cl-chat")).to_contain_text("Edited answer.")
    expect(page.locator("#cl-chat")).not_to_contain_text("second question")

    assert visible(app, cid) == [("user", "first question, edited"), ("assistant", "Edited answer.")]
    everything = app.rows(Message, conversation_id=cid)
    assert len(everything) == 6  # the four replaced messages are kept, superseded
    assert fake_tgi.streams[-1].body["messages"] == [{"role": "user", "content": "first question, edited"}]
    generations = app.rows(Generation, conversation_id=cid)
    assert len(generations) == 3 and len({g.message_id for g in generations}) == 3


def test_retry_on_a_reply_answers_again_with_its_own_generation_row(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(reply="Draft.", finish_reason="stop"), Behaviour(reply="Better.", finish_reason="stop"))
    open_chat(page, app.url)
    send(page, "write a haiku")
    finished(page, 1)
    page.get_by_role("button", name="Retry", exact=True).click()
    expect(page.locator("#cl-chat")).to_contain_text("Better.", timeout=10_000)
    finished(page, 1)
    cid = conversation_of(page)
    assert visible(app, cid) == [("user", "write a haiku"), ("assistant", "Better.")]
    replies = app.rows(Message, conversation_id=cid, role="assistant")
    assert [(m.content, m.superseded_at is not None) for m in replies] == [("Draft.", True), ("Better.", False)]
    assert {g.message_id for g in app.rows(Generation, conversation_id=cid)} == {m.id for m in replies}


def test_a_reply_cut_off_at_max_tokens_can_be_continued(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(
        Behaviour(reply="The first half", finish_reason="length"),
        Behaviour(reply=" and the rest.", finish_reason="stop"),
    )
    open_chat(page, app.url)
    send(page, "tell me")
    finished(page, 1)
    page.locator("#cl-continue").click()
    finished(page, 2)
    expect(page.locator("#cl-continue")).to_be_hidden()
    cid = conversation_of(page)
    assert visible(app, cid) == [("user", "tell me"), ("assistant", "The first half"), ("assistant", " and the rest.")]
    assert fake_tgi.streams[-1].body["messages"] == [
        {"role": "user", "content": "tell me"},
        {"role": "assistant", "content": "The first half"},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]
    assert [g.finish_reason for g in app.rows(Generation, conversation_id=cid)] == ["length", "stop"]

    fake_tgi.next(Behaviour(reply="Sure.", finish_reason="stop"))
    send(page, "thanks")  # the continued reply reaches the model as one message
    finished(page, 3)
    assert fake_tgi.streams[-1].body["messages"][1] == {"role": "assistant", "content": "The first half and the rest."}


def test_feedback_and_its_comment_are_stored_with_the_generation(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(reply="An answer.", finish_reason="stop"))
    open_chat(page, app.url)
    send(page, "rate me")
    finished(page, 1)
    page.get_by_role("button", name="Dislike", exact=True).click()
    comment = page.locator("#cl-comment textarea")
    expect(comment).to_be_visible()
    comment.fill("too vague")
    comment.press("Enter")
    expect(page.locator("#cl-comment")).to_be_hidden()
    cid = conversation_of(page)
    [reply] = app.rows(Message, conversation_id=cid, role="assistant")
    [generation] = app.rows(Generation, message_id=reply.id)
    assert wait_until(lambda: app.count(Feedback, message_id=reply.id) == 2)
    rows = sorted(app.rows(Feedback, message_id=reply.id), key=lambda row: row.created_at)
    assert [(row.value, row.comment, row.generation_id) for row in rows] == [
        (-1, "", generation.id),
        (-1, "too vague", generation.id),
    ]


def test_sending_the_same_text_again_after_an_error_stores_it_once(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(
        Behaviour(http_status=503, http_error="unhealthy", http_error_type="healthcheck"),
        Behaviour(reply="Here now.", finish_reason="stop"),
        Behaviour(reply="Asked again.", finish_reason="stop"),
    )
    open_chat(page, app.url)
    chat = page.locator("#cl-chat")
    send(page, "are you there?")
    expect(chat.locator(".cl-metrics.cl-error")).to_be_visible(timeout=10_000)
    expect(page.locator("#cl-send")).to_be_visible()
    cid = conversation_of(page)

    send(page, "are you there?")  # the same text, pressed again after the error: the same message
    expect(chat).to_contain_text("Here now.", timeout=10_000)
    finished(page, 1)
    assert chat.inner_text().count("are you there?") == 1
    assert visible(app, cid) == [("user", "are you there?"), ("assistant", "Here now.")]
    [question] = app.rows(Message, conversation_id=cid, role="user")
    assert [m.status for m in app.rows(Message, conversation_id=cid, role="assistant")] == ["error", "complete"]

    send(page, "are you there?")  # once answered, the same text is a new question
    expect(chat).to_contain_text("Asked again.", timeout=10_000)
    finished(page, 2)
    assert [m.content for m in app.rows(Message, conversation_id=cid, role="user")] == ["are you there?"] * 2
    assert app.rows(Message, conversation_id=cid, role="user")[0].id == question.id
    assert len(fake_tgi.streams) == 3


def test_a_failed_message_edited_away_and_sent_again_is_a_new_message(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    unhealthy = Behaviour(http_status=503, http_error="unhealthy", http_error_type="healthcheck")
    fake_tgi.next(unhealthy, unhealthy, Behaviour(reply="Answered.", finish_reason="stop"))
    open_chat(page, app.url)
    chat = page.locator("#cl-chat")
    send(page, "first try")
    expect(chat.locator(".cl-metrics.cl-error")).to_be_visible(timeout=10_000)
    expect(page.locator("#cl-send")).to_be_visible()
    cid = conversation_of(page)
    page.locator("#cl-chat .message").first.hover()
    page.get_by_role("button", name="Edit").first.click()
    page.locator("#cl-chat textarea").fill("second try")
    page.get_by_role("button", name="Submit").click()
    expect(chat).to_contain_text("second try")
    expect(chat.locator(".cl-metrics.cl-error")).to_be_visible(timeout=10_000)
    expect(page.locator("#cl-send")).to_be_visible()

    send(page, "first try")  # its first send was edited away: this is a new message, not a refused old id
    expect(chat).to_contain_text("Answered.", timeout=10_000)
    assert visible(app, cid) == [
        ("user", "second try"),
        ("assistant", ""),
        ("user", "first try"),
        ("assistant", "Answered."),
    ]
    assert app.count(Message, conversation_id=cid, role="user", content="first try") == 2
