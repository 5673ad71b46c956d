"""Imports from other tools: ChatGPT's conversations.json and Open WebUI's chat export (``tests/fixtures/imports``),
read and refused as a whole, written on both stores, and through the page: preview, confirm, progress."""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from storage.import_formats import ImportBatch, parse_export
from storage.portability import ImportRefused
from storage.schema import Conversation, Message
from storage.side_writes import ForgetImport, ImportConversations
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.apps import Launch, RunningApp
from tests.support.browser import conversation_of, open_accordion, open_chat
from tests.support.config import make_settings
from tests.support.fake_tgi import FakeTgi

FIXTURES = Path(__file__).parent / "fixtures" / "imports"
CHATGPT = FIXTURES / "chatgpt_conversations.json"
OPEN_WEBUI = FIXTURES / "open_webui_chat_export.json"


def _texts(batch: ImportBatch, index: int) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in batch.conversations[index].messages]


def test_a_chatgpt_export_gives_the_branch_on_screen_and_counts_what_it_leaves_out() -> None:
    batch = parse_export(CHATGPT.read_bytes())
    assert batch.source == "ChatGPT" and len(batch.conversations) == 2 and batch.empty_conversations == 1
    assert _texts(batch, 0) == [
        ("user", "How often should I feed a sourdough starter?"),
        ("assistant", "Once a day at room temperature; weekly if it lives in the fridge."),
        ("user", "Is this one ready to bake with?"),  # its image dropped; the abandoned edit "What flour?" is not here
        ("assistant", "Yes: it has doubled, so it is ready."),
    ]
    assert _texts(batch, 1) == [
        ("user", "A train leaves at 9 and travels 2 hours. When does it arrive?"),
        ("assistant", "At 11 o'clock."),
    ]
    first = batch.conversations[0]
    assert first.title == "Sourdough starter schedule" and first.model_id == "gpt-4o"
    assert first.created_at == datetime.fromtimestamp(1736209400.123, UTC)
    # hidden system + custom instructions, the python call and its output; thoughts + recap; the empty chat's system
    assert (batch.skipped_messages, batch.dropped_images) == (7, 1)
    summary = batch.summary()
    assert "2 conversations, 6 messages will be imported" in summary
    assert "7 messages" in summary and "1 image" in summary and "1 conversation with no text" in summary


def test_an_open_webui_export_gives_the_current_branch_and_drops_images() -> None:
    batch = parse_export(OPEN_WEBUI.read_bytes())
    assert batch.source == "Open WebUI" and len(batch.conversations) == 2
    assert _texts(batch, 0) == [
        ("user", "Name three Lisbon neighbourhoods."),
        ("assistant", "Alfama, Chiado and Mouraria."),  # the regenerated reply on screen, not the first one
        ("user", "Which one has the castle? Here is my map."),
        ("assistant", "Alfama: São Jorge castle sits above it."),
    ]
    thought = batch.conversations[0].messages[3].reasoning  # Open WebUI's <details type="reasoning"> block, apart
    assert thought == "The castle is São Jorge, on the hill above Alfama.\nKeep it short & clear."
    assert batch.conversations[0].model_id == "llama3.1:8b" and batch.dropped_images == 1
    assert batch.conversations[1].updated_at == datetime.fromtimestamp(1736600002, UTC)
    one = json.loads(OPEN_WEBUI.read_text(encoding="utf-8"))[1]  # a single chat, not in a list
    assert _texts(parse_export(json.dumps(one).encode()), 0)[1] == ("assistant", "Bom dia.")


def _chatgpt(change: Any) -> bytes:
    document = json.loads(CHATGPT.read_text(encoding="utf-8"))
    change(document)
    return json.dumps(document).encode()


def _set(path: list[Any], value: Any) -> Any:
    def change(document: Any) -> None:
        for key in path[:-1]:
            document = document[key]
        document[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (CHATGPT.read_bytes()[:-40], "not complete JSON"),
        (b'[{"title": "x"}]', "neither ChatGPT"),
        (b"[1, 2]", "not an export ChatLens reads"),
        (b"[]", "not an export ChatLens reads"),
        (_chatgpt(_set([1, "current_node"], "nowhere")), "Conversation 2 names a current message that is not in it"),
        (_chatgpt(_set([0, "mapping", "a3", "parent"], "a9")), "Conversation 1 has messages that are their own"),
        (_chatgpt(_set([0, "mapping", "a4", "parent"], "gone")), "whose parent is missing"),
        (
            _chatgpt(_set([0, "mapping", "a9", "message", "content", "parts"], ["fine", 7, "\x00"])),
            "Conversation 1 has a message that contains a NUL",
        ),
        (_chatgpt(_set([0, "mapping", "a9", "message", "content", "parts"], "x")), "parts are not a list"),
        (_chatgpt(_set([2, "mapping"], None)), "Conversation 3 has no message mapping"),
        (
            json.dumps([{"title": "t", "chat": {"messages": [{"role": "user", "content": {"x": 1}}]}}]).encode(),
            "Conversation 1 has a message whose text is not text",
        ),
        (json.dumps([{"title": "t", "chat": {"messages": [{"role": "system", "content": "s"}]}}]).encode(), "no text"),
    ],
)
def test_a_bad_export_is_refused_as_a_whole_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImportRefused, match=reason):
        parse_export(data)


def test_an_export_over_the_size_cap_is_refused_before_it_is_read() -> None:
    with pytest.raises(ImportRefused, match="limited to 1,000 bytes"):
        parse_export(CHATGPT.read_bytes(), max_bytes=1000)


def test_a_bulk_import_keeps_the_tools_timestamps_and_is_taken_back_only_for_its_owner(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    batch = parse_export(CHATGPT.read_bytes())

    async def scenario() -> list[uuid.UUID]:
        ids: list[uuid.UUID] = await recorder.record(ImportConversations(user, batch.conversations))
        await recorder.record(ForgetImport(other, tuple(ids)))  # not theirs: nothing happens
        return ids

    ids = asyncio.run(scenario())
    listed = store.list_conversations(user)
    assert [c.id for c in listed] == [ids[1], ids[0]]  # by the tool's own update times
    assert listed[0].updated_at == datetime.fromtimestamp(1736300100.0, UTC)
    view = store.load_conversation(ids[0], user)
    assert view is not None and [m.content for m in view.messages][-1] == "Yes: it has doubled, so it is ready."
    assert [c.id for c in store.list_conversations(user, search="sourdough")] == [ids[0]]

    asyncio.run(recorder.record(ForgetImport(user, tuple(ids))))
    assert store.list_conversations(user) == [] and store.load_conversation(ids[0], user) is None
    with store.sessions() as session:
        assert session.query(Message).filter(Message.conversation_id.in_(ids)).count() == 0


def _open_import(page: Page) -> None:
    open_accordion(page, "cl-portability", "Export · import · share")
    expect(page.locator("#cl-export")).to_be_visible()


@pytest.mark.parametrize(
    ("fixture", "title", "shown"),
    [
        (CHATGPT, "Sourdough starter schedule", "Yes: it has doubled"),
        (OPEN_WEBUI, "Lisbon neighbourhoods", "São Jorge castle"),
    ],
)
def test_an_export_is_previewed_then_imported_once_confirmed(
    page: Page, app: RunningApp, fixture: Path, title: str, shown: str, tmp_path: Path
) -> None:
    before = app.count(Conversation)
    open_chat(page, app.url)
    _open_import(page)
    page.get_by_test_id("Import JSON-upload-button").set_input_files(str(fixture))
    preview = page.locator("#cl-import-preview")
    expect(preview).to_contain_text("2 conversations")
    expect(preview).to_contain_text("1 image")
    assert app.count(Conversation) == before  # nothing written before the confirmation

    page.locator("#cl-import-cancel").click()
    expect(page.locator("#cl-import-confirm")).to_be_hidden()
    assert app.count(Conversation) == before

    again = tmp_path / f"again-{fixture.name}"  # the browser fires no change for the same file chosen twice
    again.write_bytes(fixture.read_bytes())
    page.get_by_test_id("Import JSON-upload-button").set_input_files(str(again))
    page.locator("#cl-import-confirm").click()
    expect(page.locator(".toast-body")).to_contain_text("Imported 2 conversations")
    expect(page.locator("#cl-chat")).to_contain_text(shown)
    expect(page.locator("#cl-conversations")).to_contain_text(title)
    assert app.count(Conversation) == before + 2
    assert app.rows(Conversation, id=conversation_of(page))[0].title == title


def test_privacy_mode_refuses_an_import_before_reading_it(
    page: Page, launch: Launch, fake_tgi: FakeTgi, tmp_path: Path
) -> None:
    running = launch(make_settings(tmp_path, tgi_url=fake_tgi.url, store_content=False))
    open_chat(page, running.url)
    _open_import(page)
    page.get_by_test_id("Import JSON-upload-button").set_input_files(str(OPEN_WEBUI))
    expect(page.locator(".toast-body")).to_contain_text("Privacy mode")
    expect(page.locator("#cl-import-confirm")).to_be_hidden()
    assert running.count(Conversation) == 0


def _many_chatgpt_conversations(count: int) -> list[dict[str, Any]]:
    template = json.loads(CHATGPT.read_text(encoding="utf-8"))[0]
    conversations = []
    for number in range(count):
        conversation = copy.deepcopy(template)
        conversation["title"] = f"Bulk conversation {number:05d}"
        conversation["mapping"]["a9"]["message"]["content"]["parts"] = [f"Answer number {number}. " * 20]
        conversations.append(conversation)
    return conversations


def test_two_thousand_conversations_import_with_a_progress_bar(page: Page, app: RunningApp, tmp_path: Path) -> None:
    export = tmp_path / "conversations.json"
    export.write_text(json.dumps(_many_chatgpt_conversations(2000)), encoding="utf-8")
    before = app.count(Conversation)
    open_chat(page, app.url)
    _open_import(page)
    started = time.monotonic()
    page.get_by_test_id("Import JSON-upload-button").set_input_files(str(export))
    expect(page.locator("#cl-import-preview")).to_contain_text("2,000 conversations, 8,000 messages", timeout=120_000)
    previewed = time.monotonic()
    page.locator("#cl-import-confirm").click()
    expect(page.locator(".progress-text, .progress-level-inner").first).to_be_visible(timeout=30_000)
    expect(page.locator(".toast-body")).to_contain_text("Imported 2,000 conversations", timeout=300_000)
    done = time.monotonic()
    print(f"2,000 conversations: preview {previewed - started:.1f} s, import {done - previewed:.1f} s")
    assert app.count(Conversation) == before + 2000
    expect(page.locator("#cl-chat")).to_contain_text("Answer number 0.")
