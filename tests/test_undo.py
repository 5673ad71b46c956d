"""Delete with Undo, "Recently deleted", and revoking share links only once confirmed: the store on DuckDB and
PostgreSQL, the page in Chromium."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from errors import MessageRejected
from inference.turns import NewMessage
from storage.schema import Conversation, Message
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.apps import RunningApp
from tests.support.browser import conversation_of, finished, open_accordion, open_chat, send
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.records import reply


def test_a_deleted_conversation_is_restored_whole_and_only_by_its_owner(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> tuple[uuid.UUID, uuid.UUID]:
        first = await recorder.begin(NewMessage("Plan a trip to Lisbon"), user_id=user)
        await recorder.finish_turn(reply(first.conversation_id, user, "Take the tram."))
        second = await recorder.begin(NewMessage("Bake bread"), user_id=user)
        await recorder.delete(user_id=user, conversation_id=first.conversation_id)
        await recorder.delete(user_id=user, conversation_id=second.conversation_id)
        with pytest.raises(MessageRejected):
            await recorder.restore(user_id=other, conversation_id=first.conversation_id)
        with pytest.raises(MessageRejected):  # deleted: no new turn until restored
            await recorder.begin(NewMessage("more", first.conversation_id), user_id=user)
        return first.conversation_id, second.conversation_id

    trip, bread = asyncio.run(scenario())
    assert [c.id for c in store.list_deleted(user)] == [bread, trip]  # most recently deleted first
    assert store.list_deleted(other) == [] and store.list_conversations(user) == []

    async def restore() -> None:
        await recorder.restore(user_id=user, conversation_id=trip)
        turn = await recorder.begin(NewMessage("And Porto?", trip), user_id=user)  # writable again
        await recorder.finish_turn(reply(turn.conversation_id, user, "By train."))

    asyncio.run(restore())
    view = store.load_conversation(trip, user)
    assert view is not None and view.title == "Plan a trip to Lisbon"
    assert [m.content for m in view.messages] == ["Plan a trip to Lisbon", "Take the tram.", "And Porto?", "By train."]
    assert [c.id for c in store.list_conversations(user, search="tram")] == [trip]  # searchable again
    assert [c.id for c in store.list_deleted(user)] == [bread]


def _deleted_toast(page: Page) -> None:
    expect(page.locator("#cl-undo")).to_be_visible()


def test_delete_then_undo_brings_the_conversation_back_and_recently_deleted_restores(
    page: Page, app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(
        Behaviour(reply="Lisbon has trams.", finish_reason="stop"), Behaviour(reply="Knead it.", finish_reason="stop")
    )
    open_chat(page, app.url)
    chat, listing = page.locator("#cl-chat"), page.locator("#cl-conversations")
    send(page, "Plan a trip to Lisbon")
    finished(page, 1)
    lisbon = conversation_of(page)

    page.locator("#cl-delete").click()
    expect(chat).not_to_contain_text("Lisbon has trams.")
    expect(listing).not_to_contain_text("Plan a trip to Lisbon")
    page.locator("#cl-undo").click()
    expect(chat).to_contain_text("Lisbon has trams.")  # back, with its messages
    expect(listing).to_contain_text("Plan a trip to Lisbon")
    assert conversation_of(page) == lisbon
    expect(page.locator("#cl-undo")).to_be_hidden()

    page.locator("#cl-new").click()
    send(page, "Bake sourdough bread")
    finished(page, 1)
    page.locator("#cl-delete").click()
    expect(listing).not_to_contain_text("Bake sourdough bread")
    expect(page.locator("#cl-undo")).to_be_hidden(timeout=15_000)  # the undo lasts a few seconds only

    open_accordion(page, "cl-trash", "Recently deleted")
    deleted = page.locator("#cl-deleted label", has_text="Bake sourdough bread")
    deleted.click()
    page.locator("#cl-restore").click()
    expect(chat).to_contain_text("Knead it.")
    expect(listing).to_contain_text("Bake sourdough bread")
    expect(page.locator("#cl-deleted")).not_to_contain_text("Bake sourdough bread")


def test_revoking_share_links_waits_for_a_confirmation(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(reply="Shared words.", finish_reason="stop"))
    open_chat(page, app.url)
    send(page, "share this")
    finished(page, 1)
    open_accordion(page, "cl-portability", "Export · import · share")
    page.locator("#cl-share").click()
    link = page.locator("#cl-link textarea, #cl-link input").first
    expect(link).to_have_value(re.compile(r"/share/"))
    url = link.input_value()

    page.locator("#cl-revoke").click()
    expect(page.locator("#cl-revoke-confirm")).to_be_visible()
    page.locator("#cl-revoke-cancel").click()
    expect(page.locator("#cl-revoke-confirm")).to_be_hidden()
    assert httpx.get(url).status_code == 200  # cancelled: the link still works

    page.locator("#cl-revoke").click()
    page.locator("#cl-revoke-confirm").click()
    expect(page.locator(".toast-body")).to_contain_text("Revoked 1 share link")
    assert httpx.get(url).status_code == 404


def test_delete_forever_asks_then_purges_the_conversation(page: Page, app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(reply="Gone soon.", finish_reason="stop"))
    open_chat(page, app.url)
    send(page, "Forget this chat")
    finished(page, 1)
    cid = conversation_of(page)
    page.locator("#cl-delete").click()
    expect(page.locator("#cl-conversations")).not_to_contain_text("Forget this chat")

    open_accordion(page, "cl-trash", "Recently deleted")
    page.locator("#cl-deleted label", has_text="Forget this chat").click()
    page.locator("#cl-purge").click()
    expect(page.locator("#cl-purge-confirm")).to_be_visible()
    page.locator("#cl-purge-cancel").click()
    expect(page.locator("#cl-purge-confirm")).to_be_hidden()
    assert app.count(Conversation, id=cid) == 1  # cancelled: still restorable

    page.locator("#cl-purge").click()
    page.locator("#cl-purge-confirm").click()
    expect(page.locator("#cl-deleted")).not_to_contain_text("Forget this chat")
    assert app.count(Conversation, id=cid) == 0 and app.count(Message, conversation_id=cid) == 0
