"""The store and its write-behind recorder on a real DuckDB file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from errors import MessageRejected
from inference.turns import NewMessage, Retry
from storage import portability
from storage.schema import Generation, Message
from storage.side_writes import CreateShare, ImportConversation, RecordFeedback, RevokeShares
from storage.store import Store, StoreUnavailable
from storage.writer import WriteBehindRecorder
from storage.writes import ConversationCache, Delete, Reply, UserTurn, apply_batch
from tests.support.records import reply

ROOT = Path(__file__).resolve().parents[1]


def test_turns_are_recorded_with_their_metrics(store: Store, recorder: WriteBehindRecorder) -> None:
    user = uuid.uuid4()

    async def scenario() -> uuid.UUID:
        turn = await recorder.begin(NewMessage("hi"), user_id=user, model_id="m")
        await recorder.finish_turn(reply(turn.conversation_id, user, "hello!"))
        return turn.conversation_id

    cid = asyncio.run(scenario())
    view = store.load_conversation(cid, user)
    assert view is not None and view.title == "hi"
    assert [(m.role, m.content, m.status) for m in view.messages] == [
        ("user", "hi", "complete"),
        ("assistant", "hello!", "complete"),
    ]
    metrics = view.messages[1].metrics
    assert metrics is not None
    assert metrics["output_tokens"] == 10 and metrics["tokens_per_s"] == pytest.approx(10.0, rel=0.01)
    with store.sessions() as session:
        generation = session.query(Generation).one()
    assert generation.params == {"max_tokens": 10}
    assert generation.created_at.tzinfo is not None


def test_retry_supersedes_the_last_reply_but_keeps_it(store: Store, recorder: WriteBehindRecorder) -> None:
    user = uuid.uuid4()

    async def scenario() -> tuple[uuid.UUID, tuple[str, ...]]:
        turn = await recorder.begin(NewMessage("q"), user_id=user, model_id="m")
        await recorder.finish_turn(reply(turn.conversation_id, user, "first answer"))
        retry = await recorder.begin(Retry(turn.conversation_id), user_id=user)
        await recorder.finish_turn(reply(turn.conversation_id, user, "second answer"))
        return turn.conversation_id, tuple(m.content for m in retry.history)

    cid, retry_history = asyncio.run(scenario())
    assert retry_history == ("q",)
    view = store.load_conversation(cid, user)
    assert view is not None and [m.content for m in view.messages] == ["q", "second answer"]
    with store.sessions() as session:
        assert session.query(Message).count() == 3
        assert session.query(Generation).count() == 2


def test_another_users_conversation_is_neither_readable_nor_writable(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> uuid.UUID:
        turn = await recorder.begin(NewMessage("mine"), user_id=owner)
        with pytest.raises(MessageRejected):
            await recorder.begin(NewMessage("x", conversation_id=turn.conversation_id), user_id=stranger)
        return turn.conversation_id

    cid = asyncio.run(scenario())
    assert store.load_conversation(cid, stranger) is None
    assert store.load_conversation(cid, owner) is not None


def test_concurrent_turns_are_group_committed(store: Store, recorder: WriteBehindRecorder) -> None:

    async def scenario() -> None:
        starts = await asyncio.gather(
            *(recorder.begin(NewMessage(f"m{i}"), user_id=uuid.uuid4(), early=i % 2 == 0) for i in range(200))
        )
        await asyncio.gather(*(start.durable for start in starts if start.durable is not None))

    asyncio.run(scenario())
    with store.sessions() as session:
        assert session.query(Message).count() == 200
    assert len(recorder.commit_ms) < 100, "each turn paid its own commit"


@pytest.mark.process
def test_a_second_process_on_the_same_duckdb_file_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'data' / 'store.duckdb'}"
    held = Store.open(url)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", f"from storage.store import Store; Store.open({url!r})"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    held.close()
    assert "already open in another process" in result.stderr
    assert time.monotonic() - started < 30


def test_unopenable_database_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("")
    with pytest.raises(StoreUnavailable):
        Store.open(f"duckdb:///{tmp_path / 'not-a-dir' / 'x.duckdb'}")


def test_a_batch_applies_its_jobs_in_order(store: Store) -> None:
    """A reply and the next message of one conversation can land in one group commit: order and history hold."""
    user, cid = uuid.uuid4(), uuid.uuid4()
    jobs = [
        UserTurn(user, cid, "first", "m"),
        Reply(reply(cid, user, "answer")),
        UserTurn(user, cid, "second", "m"),
        UserTurn(uuid.uuid4(), cid, "intruder", "m"),
    ]
    with store.sessions() as session:
        results = apply_batch(session, jobs, known_users=set())
        session.commit()
    assert [m.content for m in results[2].history] == ["first", "answer", "second"]
    assert isinstance(results[3], MessageRejected)
    with store.sessions() as session:
        rows = session.query(Message).filter_by(conversation_id=cid).order_by(Message.seq).all()
    assert [(m.seq, m.role, m.content) for m in rows] == [
        (1, "user", "first"),
        (2, "assistant", "answer"),
        (3, "user", "second"),
    ]


@pytest.mark.process
def test_replicas_starting_together_create_the_schema_once(postgres) -> None:  # type: ignore[no-untyped-def]
    url = postgres.new_database()
    code = f"from storage.store import Store; Store.open({url!r}).close()"
    starts = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE) for _ in range(4)]
    errors = [process.communicate(timeout=60)[1].decode() for process in starts]
    assert [process.returncode for process in starts] == [0, 0, 0, 0], errors


def test_conversations_list_newest_first_search_rename_and_delete(store: Store, recorder: WriteBehindRecorder) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> list[uuid.UUID]:
        ids = []
        for text in ("Plan a trip to Lisbon", "50% off_sale notes", "Recipe for bread"):
            turn = await recorder.begin(NewMessage(text), user_id=user)
            await recorder.finish_turn(reply(turn.conversation_id, user, f"answer about {text.split()[-1]}"))
            ids.append(turn.conversation_id)
        await recorder.begin(NewMessage("Lisbon too"), user_id=other)
        await recorder.rename(user_id=user, conversation_id=ids[0], title="Portugal trip")
        await recorder.delete(user_id=user, conversation_id=ids[2])
        with pytest.raises(MessageRejected):
            await recorder.rename(user_id=other, conversation_id=ids[1], title="mine now")
        return ids

    trip, sale, bread = asyncio.run(scenario())
    listed = store.list_conversations(user)
    assert [c.id for c in listed] == [sale, trip]  # newest activity first (a rename is not activity), deleted gone
    assert listed[1].title == "Portugal trip"
    assert [c.id for c in store.list_conversations(user, search="LISBON")] == [trip]  # message text, any case
    assert [c.id for c in store.list_conversations(user, search="50%")] == [sale]  # LIKE wildcards are literal
    assert store.list_conversations(user, search="0%o") == []
    assert store.list_conversations(user, search="bread") == []  # deleted: out of search too
    assert store.load_conversation(bread, user) is None


def test_sharing_importing_and_rating_are_scoped_to_the_owner(store: Store, recorder: WriteBehindRecorder) -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> None:
        turn = await recorder.begin(NewMessage("mine"), user_id=owner, model_id="m")
        record = reply(turn.conversation_id, owner, "an answer")
        await recorder.finish_turn(record)
        cid = turn.conversation_id
        for job in (
            CreateShare(stranger, cid, "0" * 64, {"messages": []}),
            RevokeShares(stranger, cid),
            RecordFeedback(stranger, cid, record.message_id, 1),
        ):
            with pytest.raises(MessageRejected):
                await recorder.record(job)
        await recorder.record(CreateShare(owner, cid, "1" * 64, {"messages": [{"role": "user", "content": "mine"}]}))
        assert store.load_share("1" * 64) is not None and store.load_share("0" * 64) is None
        assert await recorder.record(RevokeShares(owner, cid)) == 1
        assert store.load_share("1" * 64) is None
        imported = portability.parse_import(
            portability.export_json(store.load_conversation(cid, owner), exported_at=datetime.now(UTC)).encode()  # type: ignore[arg-type]
        )
        copy = await recorder.record(ImportConversation(stranger, imported))
        assert store.load_conversation(copy, owner) is None
        view = store.load_conversation(copy, stranger)
        assert view is not None and [m.content for m in view.messages] == ["mine", "an answer"]

    asyncio.run(scenario())


def test_a_refused_retry_changes_nothing(store: Store, recorder: WriteBehindRecorder) -> None:
    owner = uuid.uuid4()
    imported = portability.parse_import(
        json.dumps(
            {"format": "chatlens.conversation", "version": 1, "title": "only replies",
             "messages": [{"role": "assistant", "content": "hello"}, {"role": "assistant", "content": "again"}]}
        ).encode()
    )  # fmt: skip

    async def scenario() -> None:
        cid = await recorder.record(ImportConversation(owner, imported))
        with pytest.raises(MessageRejected, match="no message to answer again"):
            await recorder.begin(Retry(cid), user_id=owner)
        view = store.load_conversation(cid, owner)
        assert [m.content for m in view.messages] == ["hello", "again"]  # nothing was superseded

    asyncio.run(scenario())


def test_an_automatic_title_never_overwrites_the_users_own(store: Store, recorder: WriteBehindRecorder) -> None:
    owner = uuid.uuid4()

    async def scenario() -> None:
        turn = await recorder.begin(NewMessage("Plan my trip"), user_id=owner, model_id="m")
        cid = turn.conversation_id
        await recorder.rename(user_id=owner, conversation_id=cid, title="Mine")
        await recorder.rename(user_id=owner, conversation_id=cid, title="Trip Plan", unless_changed_from="Plan my trip")
        assert store.load_conversation(cid, owner).title == "Mine"
        other = await recorder.begin(NewMessage("Plan a party"), user_id=owner, model_id="m")
        await recorder.rename(
            user_id=owner, conversation_id=other.conversation_id, title="Party", unless_changed_from="Plan a party"
        )
        assert store.load_conversation(other.conversation_id, owner).title == "Party"

    asyncio.run(scenario())


def test_a_caller_that_goes_away_while_its_write_is_queued_does_not_stop_the_writer(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    user = uuid.uuid4()

    async def scenario() -> None:
        busy = asyncio.ensure_future(recorder.run(lambda session: time.sleep(0.3)))  # the writer is mid-batch
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(recorder.begin(NewMessage("sent, then the tab closed"), user_id=user))
        await asyncio.sleep(0.05)
        gone.cancel()  # Stop, or a closed event loop: cancels the future the writer will settle
        await busy
        await asyncio.wait_for(recorder.flush(), 10)  # a writer thread that died on the cancelled future hangs here
        await asyncio.wait_for(recorder.begin(NewMessage("the next message"), user_id=user), 10)

    asyncio.run(scenario())
    with store.sessions() as session:
        texts = set(session.scalars(select(Message.content).where(Message.role == "user")))
    assert texts == {"sent, then the tab closed", "the next message"}  # a write queued is made either way


def test_the_writer_keeps_only_committed_conversation_state(store: Store) -> None:
    """The conversation cache (DuckDB: the only writer): a batch works on copies, a rolled-back batch leaves the
    cache as the database is, and a conversation the cache holds is not read again."""
    user, cid = uuid.uuid4(), uuid.uuid4()
    cache, known = ConversationCache(), set[uuid.UUID]()
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    def batch(jobs: list[Any], commit: bool = True) -> list[Any]:
        with store.sessions() as session:
            results = apply_batch(session, jobs, known_users=known, cache=cache)
            if commit:
                session.commit()
                cache.keep()
            else:
                session.rollback()
                cache.discard()
        return results

    batch([UserTurn(user, cid, "first", "m"), Reply(reply(cid, user, "answer"))])
    known.add(user)  # as the writer remembers users it has stored
    batch([UserTurn(user, cid, "lost in a rollback", "m")], commit=False)
    event.listen(store.engine, "before_cursor_execute", record)
    try:
        [start] = batch([UserTurn(user, cid, "second", "m")])
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert [m.content for m in start.history] == ["first", "answer", "second"]
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")], statements  # nothing read again
    with store.sessions() as session:
        rows = session.query(Message).filter_by(conversation_id=cid).order_by(Message.seq).all()
    assert [(m.seq, m.content) for m in rows] == [(1, "first"), (2, "answer"), (3, "second")]
    # Deleted, then written to in a later batch: refused from what the cache holds, as from the database.
    batch([Delete(user, cid)])
    [refused] = batch([UserTurn(user, cid, "after the delete", "m")])
    assert isinstance(refused, MessageRejected)
