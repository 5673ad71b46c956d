"""Privacy mode (STORE_CONTENT=false) through the running app: metrics recorded, text not stored, context kept."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from sqlalchemy import select

from storage.schema import Conversation, Feedback, Generation, Message
from storage.side_writes import CreateShare, RecordFeedback
from storage.store import Store
from tests.support.apps import RunningApp, launched_app
from tests.support.config import make_settings
from tests.support.fake_tgi import Behaviour, FakeTgi


@pytest.fixture(scope="module")
def private_app(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    settings = make_settings(tmp_path_factory.mktemp("private"), tgi_url=fake_tgi_server.url, store_content=False)
    with launched_app(settings) as running:
        yield running


def test_text_is_not_stored_but_metrics_and_context_are(private_app: RunningApp, fake_tgi: FakeTgi) -> None:
    client = Client(private_app.url, verbose=False)
    cid = client.predict(api_name="/new_conversation")
    fake_tgi.next(Behaviour(reply="Lisbon is lovely in May.", finish_reason="stop"))
    assert client.predict("Plan a secret trip to Lisbon", cid, api_name="/chat") == "Lisbon is lovely in May."
    fake_tgi.next(Behaviour(reply="Pack light.", finish_reason="stop"))
    client.predict("What should I pack?", cid, api_name="/chat")

    # The model still got the earlier turns as context (kept in memory) …
    sent = [m["content"] for m in fake_tgi.streams[-1].body["messages"]]
    assert sent[-3:] == ["Plan a secret trip to Lisbon", "Lisbon is lovely in May.", "What should I pack?"]
    # … and the page can reload the conversation while ChatLens runs.
    view = private_app.chatlens.store.load_conversation(uuid.UUID(cid), _owner(private_app, cid))
    assert view is not None and [m.content for m in view.messages][:2] == [
        "Plan a secret trip to Lisbon",
        "Lisbon is lovely in May.",
    ]
    # The database has no text and no title taken from it, but every metric.
    messages = private_app.rows(Message, conversation_id=uuid.UUID(cid))
    assert [m.content for m in messages] == ["", "", "", ""] and [m.role for m in messages][:2] == ["user", "assistant"]
    [conversation] = private_app.rows(Conversation, id=uuid.UUID(cid))
    assert conversation.title == ""
    generations = private_app.rows(Generation, conversation_id=uuid.UUID(cid))
    assert len(generations) == 2 and all(g.output_tokens > 0 and g.time_to_first_token_ms for g in generations)
    files = [Path(private_app.db_path), Path(f"{private_app.db_path}.wal")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())  # the database file and its write-ahead log
    assert b"secret trip" not in raw and b"Lisbon is lovely" not in raw


def test_thinking_is_not_stored_either_but_its_numbers_are(private_app: RunningApp, fake_tgi: FakeTgi) -> None:
    client = Client(private_app.url, verbose=False)
    cid = client.predict(api_name="/new_conversation")
    fake_tgi.next(Behaviour(reply="Yes.", thinking="The secret plan needs thought.", finish_reason="stop"))
    assert client.predict("Is it safe?", cid, api_name="/chat") == "Yes."
    _question, reply = private_app.rows(Message, conversation_id=uuid.UUID(cid))
    assert (reply.content, reply.reasoning) == ("", None)
    [generation] = private_app.rows(Generation, message_id=reply.id)
    assert generation.reasoning_tokens == 5 and generation.thinking_ms is not None
    assert generation.time_to_first_answer_ms is not None
    files = [Path(private_app.db_path), Path(f"{private_app.db_path}.wal")]
    assert b"secret plan" not in b"".join(f.read_bytes() for f in files if f.exists())


def test_after_a_restart_the_text_is_gone(private_app: RunningApp, fake_tgi: FakeTgi) -> None:
    client = Client(private_app.url, verbose=False)
    cid = client.predict(api_name="/new_conversation")
    fake_tgi.next(Behaviour(reply="Noted.", finish_reason="stop"))
    client.predict("my private note", cid, api_name="/chat")
    private_app.chatlens.recorder.barrier().result(timeout=10)
    fresh = Store(private_app.chatlens.store.engine)  # what a restarted process would read
    view = fresh.load_conversation(uuid.UUID(cid), _owner(private_app, cid))
    assert view is not None and [m.content for m in view.messages] == ["", ""]


def test_the_page_says_so(private_app: RunningApp) -> None:
    config = httpx.get(f"{private_app.url}/config", timeout=10).json()
    notices = [c for c in config["components"] if c.get("props", {}).get("elem_id") == "cl-privacy"]
    assert len(notices) == 1 and "Privacy mode" in notices[0]["props"]["value"]


def _owner(app: RunningApp, cid: str) -> uuid.UUID:
    with app.chatlens.store.sessions() as session:
        return session.scalars(select(Conversation.user_id).where(Conversation.id == uuid.UUID(cid))).one()


def test_a_vote_keeps_its_value_not_its_comment_and_sharing_is_refused(
    private_app: RunningApp, fake_tgi: FakeTgi
) -> None:
    client = Client(private_app.url, verbose=False)
    cid = uuid.UUID(client.predict(api_name="/new_conversation"))
    fake_tgi.next(Behaviour(reply="Fine.", finish_reason="stop"))
    client.predict("rate me", str(cid), api_name="/chat")
    user = _owner(private_app, str(cid))
    reply = private_app.rows(Message, conversation_id=cid, role="assistant")[0]
    recorder = private_app.chatlens.recorder

    async def vote_and_share() -> Exception | None:
        await recorder.record(RecordFeedback(user, cid, reply.id, -1, "too slow, my bank pin is 1234"))
        try:
            await recorder.record(CreateShare(token_hash="x" * 64, conversation_id=cid, user_id=user, snapshot={}))
        except Exception as exc:
            return exc
        return None

    refused = asyncio.run(vote_and_share())
    assert refused is not None and "Privacy mode" in str(refused)
    [vote] = private_app.rows(Feedback, message_id=reply.id)
    assert (vote.value, vote.comment) == (-1, "")
