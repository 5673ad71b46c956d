"""Client message ids in the store, on a DuckDB file and on PostgreSQL: a message sent again is never stored twice."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, text

from errors import MessageRejected
from inference.turns import Continue, Edit, NewMessage
from storage.resends import ALREADY_USED, parse_message_id
from storage.schema import Conversation, Generation, Message
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.records import reply
from tests.support.wait import wait_until


def waiting_on_a_lock(db: Store) -> bool:
    with db.engine.connect() as connection:  # a new transaction each time: pg_stat_activity is a snapshot
        return bool(
            connection.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")).scalar()
        )


def counts(db: Store) -> tuple[int, int, int]:
    with db.sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(m)) or 0 for m in (Conversation, Message, Generation)
        )  # type: ignore[return-value]


def test_a_message_sent_again_is_stored_once_and_its_completed_reply_is_returned(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    user, mid = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> None:
        first = await recorder.begin(NewMessage("hi", message_id=mid), user_id=user, model_id="m")
        assert first.user_message_id == mid and not first.resent
        await recorder.finish_turn(reply(first.conversation_id, user, "", status="error"))
        # Sent again without the conversation id (an API caller never saw it): the same turn, answered again.
        again = await recorder.begin(NewMessage("hi", message_id=mid), user_id=user, model_id="m")
        assert again.resent and again.answer is None
        assert again.conversation_id == first.conversation_id and [m.content for m in again.history] == ["hi"]
        await recorder.finish_turn(reply(first.conversation_id, user, "hello!"))
        third = await recorder.begin(
            NewMessage("hi", conversation_id=first.conversation_id, message_id=mid), user_id=user, model_id="m"
        )
        assert third.resent and third.answer == "hello!"

    asyncio.run(scenario())
    with store.sessions() as session:
        rows = session.execute(
            select(Message.id, Message.role, Message.status, Message.superseded_at).order_by(Message.seq)
        ).all()
    assert [(r.role, r.status, r.superseded_at is not None) for r in rows] == [
        ("user", "complete", False),
        ("assistant", "error", True),  # kept with its metrics, not shown: as Retry does
        ("assistant", "complete", False),
    ]
    assert rows[0].id == mid
    assert counts(store) == (1, 3, 2)


def test_a_continued_reply_is_returned_whole(store: Store, recorder: WriteBehindRecorder) -> None:
    user, mid = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> str | None:
        turn = await recorder.begin(NewMessage("long", message_id=mid), user_id=user)
        await recorder.finish_turn(reply(turn.conversation_id, user, "The first half"))
        await recorder.begin(Continue(turn.conversation_id), user_id=user)
        await recorder.finish_turn(reply(turn.conversation_id, user, " and the rest."))
        again = await recorder.begin(NewMessage("long", message_id=mid), user_id=user)
        return again.answer

    assert asyncio.run(scenario()) == "The first half and the rest."
    assert counts(store) == (1, 3, 2)


@pytest.mark.parametrize("who", ["another user", "another conversation", "other text"])
def test_a_message_id_of_another_message_is_refused_and_nothing_is_written(
    store: Store, recorder: WriteBehindRecorder, who: str
) -> None:
    owner, stranger, mid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def scenario() -> None:
        turn = await recorder.begin(NewMessage("secret", message_id=mid), user_id=owner)
        await recorder.finish_turn(reply(turn.conversation_id, owner, "private answer", status="error"))
        other = await recorder.begin(NewMessage("elsewhere"), user_id=owner)
        before = counts(store)
        user, cid, content = {
            "another user": (stranger, None, "secret"),
            "another conversation": (owner, other.conversation_id, "secret"),
            "other text": (owner, turn.conversation_id, "not the same"),
        }[who]
        with pytest.raises(MessageRejected) as refused:
            await recorder.begin(NewMessage(content, conversation_id=cid, message_id=mid), user_id=user)
        assert refused.value.user_message == ALREADY_USED  # the same sentence whoever owns the id: nothing leaks
        assert counts(store) == before
        view = store.load_conversation(turn.conversation_id, owner)
        assert view is not None and [m.status for m in view.messages] == ["complete", "error"]  # nothing superseded

    asyncio.run(scenario())


def test_an_edited_away_message_or_one_answered_in_error_before_the_chat_went_on_is_refused(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    user, edited, failed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def scenario() -> None:
        turn = await recorder.begin(NewMessage("a", message_id=edited), user_id=user)
        cid = turn.conversation_id
        await recorder.finish_turn(reply(cid, user, "A"))
        await recorder.begin(Edit(cid, edited, "a, edited"), user_id=user)
        await recorder.finish_turn(reply(cid, user, "A2"))
        with pytest.raises(MessageRejected, match="already used"):
            await recorder.begin(NewMessage("a", conversation_id=cid, message_id=edited), user_id=user)
        await recorder.begin(NewMessage("b", conversation_id=cid, message_id=failed), user_id=user)
        await recorder.finish_turn(reply(cid, user, "", status="error"))
        await recorder.begin(NewMessage("c", conversation_id=cid), user_id=user)
        with pytest.raises(MessageRejected, match="moved on"):
            await recorder.begin(NewMessage("b", conversation_id=cid, message_id=failed), user_id=user)

    asyncio.run(scenario())
    assert counts(store) == (1, 7, 3)  # a, A, a edited, A2, b, its error, c: the refusals wrote nothing


def test_the_same_id_sent_concurrently_is_stored_once(store: Store, recorder: WriteBehindRecorder) -> None:
    user, mid = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> list[Any]:
        sends = [recorder.begin(NewMessage("twice?", message_id=mid), user_id=user) for _ in range(5)]
        return await asyncio.gather(*sends)

    turns = asyncio.run(scenario())
    assert len({t.conversation_id for t in turns}) == 1
    assert [t.resent for t in turns].count(False) == 1
    assert counts(store) == (1, 1, 0)


def test_invalid_message_ids_are_refused_with_a_sentence() -> None:
    assert parse_message_id("") is None and parse_message_id(None) is None
    assert parse_message_id(" 12345678-1234-5678-1234-567812345678 ") == uuid.UUID(
        "12345678-1234-5678-1234-567812345678"
    )
    for bad in ("not-a-uuid", "1234", "12345678-1234-5678-1234-56781234567z"):
        with pytest.raises(MessageRejected, match="message_id must be a UUID"):
            parse_message_id(bad)


def test_a_replica_storing_the_id_between_lookup_and_insert_turns_into_a_resend(postgres) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL replicas: the other writer's uncommitted row makes our insert wait, then fail on the key; the
    recorder applies the send again and finds the row — one message, no error for the caller."""
    url = postgres.new_database()
    db = Store.open(url)
    recorder = WriteBehindRecorder(db)
    user, mid = uuid.uuid4(), uuid.uuid4()
    try:
        conversation = asyncio.run(recorder.begin(NewMessage("x"), user_id=user))
        cid = conversation.conversation_id
        other = db.engine.connect()  # the other replica's transaction, left open
        other.begin()
        other.execute(
            Message.__table__.insert().values(  # type: ignore[attr-defined]
                id=mid, conversation_id=cid, seq=99, role="user", content="raced", status="complete"
            )
        )
        result: list[Any] = []
        sender = threading.Thread(
            target=lambda: result.append(
                asyncio.run(recorder.begin(NewMessage("raced", conversation_id=cid, message_id=mid), user_id=user))
            )
        )
        sender.start()
        assert wait_until(lambda: waiting_on_a_lock(db), timeout_s=10), "our insert never waited on the other's key"
        other.commit()
        other.close()
        sender.join(10)
        [turn] = result
        assert turn.resent and turn.conversation_id == cid and turn.user_message_id == mid
        with db.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Message).where(Message.id == mid)) == 1
    finally:
        recorder.close()
        db.close()
