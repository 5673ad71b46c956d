"""Temporary chats: kept in memory for their page only — no conversation or message rows, not listed or searched,
gone on reload — while their replies' metrics are written; the admin's TEMPORARY_CHATS forces or forbids them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from errors import MessageRejected
from inference.turns import Continue, Edit, NewMessage, Retry
from storage.schema import Conversation, Generation, Message
from storage.store import Store
from storage.temporary import TemporaryAwareRecorder, TemporaryChats
from storage.writer import WriteBehindRecorder
from tests.support.apps import Launch, RunningApp
from tests.support.browser import finished, open_accordion, open_chat, send
from tests.support.config import make_settings
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.records import reply
from tests.support.wait import wait_until


def test_a_temporary_chat_is_answered_from_memory_and_writes_only_its_metrics(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    chats = TemporaryChats()
    both = TemporaryAwareRecorder(recorder, chats)
    user, other = uuid.uuid4(), uuid.uuid4()
    cid = chats.open(user, "session-1")

    async def scenario() -> None:
        first = await both.begin(NewMessage("secret plan", cid), user_id=user)
        await both.finish_turn(reply(cid, user, "keep it quiet"))
        second = await both.begin(NewMessage("and then?", cid), user_id=user)
        assert [m.content for m in second.history] == ["secret plan", "keep it quiet", "and then?"]  # all of it
        await both.finish_turn(reply(cid, user, "nothing"))
        retried = await both.begin(Retry(cid), user_id=user)
        assert [m.content for m in retried.history] == ["secret plan", "keep it quiet", "and then?"]
        await both.finish_turn(reply(cid, user, "something else"))
        edited = await both.begin(Edit(cid, first.user_message_id or uuid.uuid4(), "open plan"), user_id=user)
        assert [m.content for m in edited.history] == ["open plan"]
        await both.finish_turn(reply(cid, user, "share it"))
        continued = await both.begin(Continue(cid), user_id=user)
        assert continued.history[-1].content == "share it"
        with pytest.raises(MessageRejected):
            await both.begin(NewMessage("mine now", cid), user_id=other)
        await recorder.flush()

    asyncio.run(scenario())
    with store.sessions() as session:
        assert session.query(Message).count() == 0 and session.query(Conversation).count() == 0
        generations = session.query(Generation).filter_by(conversation_id=cid).all()
    assert len(generations) == 4 and all(g.output_tokens == 10 and g.user_id == user for g in generations)
    view = chats.load_conversation(cid, user)
    assert view is not None and [m.content for m in view.messages] == ["open plan", "share it"]
    assert view.messages[1].metrics is not None and view.messages[1].metrics["finish_reason"] == "length"
    assert chats.load_conversation(cid, other) is None and store.list_conversations(user) == []

    chats.forget_session("session-1")  # the page went away
    assert chats.load_conversation(cid, user) is None and not chats.holds(cid)
    later = chats.open(user, "session-2")
    chats.open(user, "session-2")  # a new temporary chat on the same page forgets the last
    assert not chats.holds(later) and len(chats) == 1


def test_a_temporary_chat_through_the_page_is_never_stored_listed_or_kept_after_reload(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(
        Behaviour(reply="Whisper one.", finish_reason="stop"), Behaviour(reply="Whisper two.", finish_reason="stop")
    )
    conversations, messages, generations = app.count(Conversation), app.count(Message), app.count(Generation)
    open_chat(page, app.url)
    page.locator("#cl-temporary input").check()
    send(page, "zanzibar secret number one")
    finished(page, 1)
    send(page, "and a second quokka secret")
    finished(page, 2)
    sent = fake_tgi.streams[-1].body["messages"]  # the model had the whole conversation
    assert [m["content"] for m in sent if m["role"] != "system"] == [
        "zanzibar secret number one", "Whisper one.", "and a second quokka secret",
    ]  # fmt: skip
    assert "c=" not in page.url  # no link to it
    streams = len(fake_tgi.streams)
    page.locator("#cl-retry").click()  # answered again from memory
    fake_tgi.wait_for_streams(streams + 1)
    finished(page, 2)
    assert [m["content"] for m in fake_tgi.streams[-1].body["messages"] if m["role"] != "system"] == [
        "zanzibar secret number one", "Whisper one.", "and a second quokka secret",
    ]  # fmt: skip
    page.get_by_role("button", name="Like", exact=True).last.click()
    expect(page.locator(".toast-body")).to_contain_text("ratings included")
    open_accordion(page, "cl-portability", "Export · import · share")
    page.locator("#cl-share").click()
    expect(page.locator(".toast-body")).to_contain_text("cannot be exported or shared")

    assert (app.count(Conversation), app.count(Message)) == (conversations, messages)  # no rows of its text
    assert app.count(Generation) == generations + 3  # its metrics are kept, the retried reply's too
    newest = app.last(Generation)
    assert app.count(Conversation, id=newest.conversation_id) == 0
    expect(page.locator("#cl-conversations")).not_to_contain_text("zanzibar")
    page.locator("#cl-search textarea, #cl-search input").first.fill("quokka")
    expect(page.locator("#cl-conversations label")).to_have_count(0)
    with app.chatlens.store.sessions() as session:
        assert session.query(Message).filter(Message.content.like("%zanzibar%")).count() == 0
    app.chatlens.recorder.barrier().result(timeout=10)
    for file in (path for path in app.db_path.parent.rglob("*") if path.is_file()):  # the database, its WAL, files
        assert b"zanzibar" not in file.read_bytes(), file

    temporary = app.chatlens.temporary
    assert temporary.holds(newest.conversation_id)
    page.reload()
    expect(page.locator("#cl-header")).to_contain_text("fake-org/")
    expect(page.locator("#cl-chat")).not_to_contain_text("Whisper")
    expect(page.locator("#cl-temporary input")).not_to_be_checked()
    # The old page's session ends (Gradio's unload, once its heartbeat stops): the chat leaves memory too.
    assert wait_until(lambda: not temporary.holds(newest.conversation_id), timeout_s=40)


def test_switching_a_temporary_chat_off_starts_a_stored_one(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(reply="Gone soon.", finish_reason="stop"), Behaviour(reply="Kept.", finish_reason="stop"))
    open_chat(page, app.url)
    switch = page.locator("#cl-temporary input")
    switch.check()
    send(page, "temporary question")
    finished(page, 1)
    switch.uncheck()
    expect(page.locator("#cl-chat")).not_to_contain_text("Gone soon.")  # a new chat
    send(page, "kept question")
    finished(page, 1)
    expect(page.locator("#cl-conversations")).to_contain_text("kept question")
    assert "c=" in page.url


def test_an_admin_can_make_every_chat_temporary(page: Page, launch: Launch, fake_tgi: FakeTgi, tmp_path: Path) -> None:
    running = launch(make_settings(tmp_path, tgi_url=fake_tgi.url, temporary_chats="always", auto_title=False))
    fake_tgi.next(Behaviour(reply="Not kept.", finish_reason="stop"))
    open_chat(page, running.url)
    switch = page.locator("#cl-temporary input")
    expect(switch).to_be_checked()
    expect(switch).to_be_disabled()
    send(page, "forced temporary")
    finished(page, 1)
    assert running.count(Message) == 0 and running.count(Conversation) == 0
    assert running.count(Generation) == 1


def test_an_admin_can_forbid_temporary_chats(page: Page, launch: Launch, fake_tgi: FakeTgi, tmp_path: Path) -> None:
    running = launch(make_settings(tmp_path, tgi_url=fake_tgi.url, temporary_chats="never", auto_title=False))
    fake_tgi.next(Behaviour(reply="Kept.", finish_reason="stop"))
    open_chat(page, running.url)
    expect(page.locator("#cl-temporary")).to_be_hidden()
    send(page, "stored as usual")
    finished(page, 1)
    assert running.count(Message) == 2 and running.count(Conversation) == 1
