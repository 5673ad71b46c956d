"""Versions of a reply or an edit (``storage.versions``), on a real DuckDB file and a real PostgreSQL database:
Retry and Edit keep what they replace as siblings, switching shows a version with the continuation last shown
under it, the next turn answers the branch on screen, and it is all remembered across a reopen."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, insert, select

from analytics import queries
from errors import MessageRejected
from inference.turns import Edit, NewMessage, Retry
from storage import portability
from storage.migrations import alembic_config
from storage.schema import Conversation, Generation, Message, User
from storage.side_writes import ImportConversation
from storage.store import ConversationView, Store
from storage.versions import Versions
from storage.writer import WriteBehindRecorder
from storage.writes import ConversationCache, Reply, SwitchVersion, UserTurn, apply_batch
from storage.writes import Retry as RetryJob
from tests.support.records import reply
from ui import render


def shown(view: ConversationView | None) -> list[str]:
    assert view is not None
    return [m.content for m in view.messages]


def place(view: ConversationView | None, content: str) -> tuple[int, int] | None:
    assert view is not None
    message = next(m for m in view.messages if m.content == content)
    return (message.versions.number, message.versions.count) if message.versions else None


def ids(view: ConversationView | None) -> dict[str, uuid.UUID]:
    assert view is not None
    return {m.content: m.id for m in [*view.messages, *view.offscreen]}


class Chat:
    """One user's conversation driven through the recorder, as the service drives it."""

    def __init__(self, store: Store, recorder: WriteBehindRecorder) -> None:
        self.store, self.recorder, self.user = store, recorder, uuid.uuid4()
        self.cid: uuid.UUID | None = None
        self.sent: list[tuple[str, ...]] = []  # the history each turn was answered with

    def turn(self, start: Any, answer: str) -> None:
        self.cid = start.conversation_id
        self.sent.append(tuple(m.content for m in start.history))
        record = replace(reply(start.conversation_id, self.user, answer), parent_id=start.leaf_id)
        asyncio.run(self._finish(record))

    async def _finish(self, record: Any) -> None:
        await self.recorder.finish_turn(record)

    def begin(self, turn: Any) -> Any:
        return asyncio.run(self.recorder.begin(turn, user_id=self.user, model_id="m"))

    def say(self, text: str, answer: str) -> None:
        self.turn(self.begin(NewMessage(text, self.cid)), answer)

    def retry(self, answer: str, reply_id: uuid.UUID | None = None) -> None:
        assert self.cid is not None
        self.turn(self.begin(Retry(self.cid, reply_id)), answer)

    def edit(self, old: str, new: str, answer: str) -> None:
        assert self.cid is not None
        self.turn(self.begin(Edit(self.cid, ids(self.view())[old], new)), answer)

    def switch(self, content: str) -> None:
        assert self.cid is not None
        target = ids(self.view(every_version=True))[content]
        asyncio.run(self.recorder.switch_version(user_id=self.user, conversation_id=self.cid, message_id=target))

    def view(self, *, every_version: bool = False) -> ConversationView | None:
        assert self.cid is not None
        return self.store.load_conversation(self.cid, self.user, every_version=every_version)


def test_a_retried_reply_is_a_version_the_next_turn_answers_the_one_on_screen(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    chat = Chat(store, recorder)
    chat.say("q", "a1")
    chat.retry("a2")
    assert shown(chat.view()) == ["q", "a2"]
    assert place(chat.view(), "a2") == (2, 2) and place(chat.view(), "q") is None

    chat.switch("a1")
    assert shown(chat.view()) == ["q", "a1"] and place(chat.view(), "a1") == (1, 2)
    chat.say("next", "a3")
    assert chat.sent[-1] == ("q", "a1", "next")  # the model was sent the branch on screen

    reopened = Store.open(str(store.engine.url.render_as_string(hide_password=False)))
    try:  # remembered in the rows, not in this process
        assert shown(reopened.load_conversation(chat.cid, chat.user)) == ["q", "a1", "next", "a3"]  # type: ignore[arg-type]
    finally:
        reopened.close()
    with store.sessions() as session:
        assert session.query(Generation).count() == 3  # every version keeps its generation row


def test_an_edit_is_a_version_and_switching_back_restores_what_followed_it(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    chat = Chat(store, recorder)
    chat.say("q1", "a1")
    chat.say("q2", "a2")
    chat.edit("q1", "q1 edited", "b1")
    assert shown(chat.view()) == ["q1 edited", "b1"] and place(chat.view(), "q1 edited") == (2, 2)
    assert chat.sent[-1] == ("q1 edited",)

    chat.switch("q1")
    assert shown(chat.view()) == ["q1", "a1", "q2", "a2"] and place(chat.view(), "q1") == (1, 2)
    chat.retry("a2 again")  # a version deeper down, under the old question
    chat.switch("q1 edited")
    assert shown(chat.view()) == ["q1 edited", "b1"]
    chat.switch("q1")  # back: the continuation last shown under it, the newer reply to q2
    assert shown(chat.view()) == ["q1", "a1", "q2", "a2 again"] and place(chat.view(), "a2 again") == (2, 2)
    chat.say("q3", "a3")
    assert chat.sent[-1] == ("q1", "a1", "q2", "a2 again", "q3")


def test_a_switch_to_what_is_not_a_version_on_screen_is_refused_and_changes_nothing(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    chat = Chat(store, recorder)
    chat.say("q1", "a1")
    chat.say("q2", "a2")
    chat.retry("a2b")
    chat.edit("q1", "q1b", "b1")  # a2 and a2b are now under a branch that is off screen
    before = shown(chat.view())
    for bad in ("a2", uuid.uuid4()):
        target = ids(chat.view(every_version=True))[bad] if isinstance(bad, str) else bad
        assert chat.cid is not None
        with pytest.raises(MessageRejected):
            asyncio.run(recorder.switch_version(user_id=chat.user, conversation_id=chat.cid, message_id=target))
    stranger = uuid.uuid4()
    assert chat.cid is not None
    with pytest.raises(MessageRejected):
        asyncio.run(
            recorder.switch_version(
                user_id=stranger, conversation_id=chat.cid, message_id=ids(chat.view(every_version=True))["q1"]
            )
        )
    assert shown(chat.view()) == before


def test_a_reply_goes_under_the_message_it_answers_when_the_branch_moved_meanwhile(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    chat = Chat(store, recorder)
    chat.say("q", "a1")
    chat.retry("a2")
    start = chat.begin(NewMessage("follow-up", chat.cid))  # answering "follow-up", under a2…
    chat.switch("a1")  # …when the page (or another tab) switches to a1
    assert shown(chat.view()) == ["q", "a1"]
    chat.turn(start, "answer to follow-up")
    assert shown(chat.view()) == ["q", "a2", "follow-up", "answer to follow-up"]


def test_search_finds_only_the_text_on_screen(store: Store, recorder: WriteBehindRecorder) -> None:
    chat = Chat(store, recorder)
    chat.say("question", "first walrus")
    chat.retry("second narwhal")

    def found(text: str) -> bool:
        return [c.id for c in store.list_conversations(chat.user, search=text)] == [chat.cid]

    assert found("narwhal") and not found("walrus")
    chat.switch("first walrus")
    assert found("walrus") and not found("narwhal")


def test_analytics_counts_every_version_once(store: Store, recorder: WriteBehindRecorder) -> None:
    chat = Chat(store, recorder)
    chat.say("q", "a1")
    chat.retry("a2")
    chat.edit("q", "q again", "b1")
    chat.switch("q")
    chat.switch("a1")
    chat.switch("a2")
    now = datetime.now(UTC)
    with store.engine.connect() as connection:
        kpis = queries.kpis(connection, queries.Filters(now - timedelta(hours=1), now + timedelta(minutes=1)))
    values = dict(zip(kpis["kpi"], kpis["value"], strict=True))
    assert values["replies"] == 3 and values["tokens_out"] == 30 and values["conversations"] == 1
    with store.sessions() as session:
        replies = session.scalars(select(Message.id).where(Message.role == "assistant")).all()
        generated = session.scalars(select(Generation.message_id)).all()
    assert sorted(map(str, replies)) == sorted(map(str, generated))  # one row each, none lost, none twice


def test_an_export_keeps_every_version_and_its_import_rebuilds_the_tree(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    chat = Chat(store, recorder)
    chat.say("q1", "a1")
    chat.retry("a1b")
    chat.say("q2", "a2")
    chat.edit("q1", "q1b", "b1")
    chat.switch("q1")  # on screen: q1, a1b, q2, a2 — and three other versions
    original = chat.view(every_version=True)
    assert original is not None
    document = portability.export_json(original, exported_at=datetime.now(UTC))
    assert [m["content"] for m in json.loads(document)["messages"]] == ["q1", "a1b", "q2", "a2"]  # readable as is

    imported = portability.parse_import(document.encode())
    cid = asyncio.run(recorder.record(ImportConversation(chat.user, imported)))
    copy = store.load_conversation(cid, chat.user, every_version=True)

    def tree(view: ConversationView | None) -> tuple[list[Any], list[Any]]:
        assert view is not None
        content = {m.id: m.content for m in [*view.messages, *view.offscreen]}

        def row(m: Any) -> tuple[Any, ...]:
            versions = (m.versions.number, m.versions.count) if m.versions else None
            return (m.role, m.content, content.get(m.parent_id), versions)

        return [row(m) for m in view.messages], sorted(map(row, view.offscreen), key=repr)

    assert tree(copy) == tree(original)
    legacy = {"format": portability.FORMAT, "version": 1, "title": "t", "messages": [
        {"role": "user", "content": "old q"}, {"role": "assistant", "content": "old a"}]}  # fmt: skip
    old_cid = asyncio.run(
        recorder.record(ImportConversation(chat.user, portability.parse_import(json.dumps(legacy).encode())))
    )
    assert shown(store.load_conversation(old_cid, chat.user)) == ["old q", "old a"]


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["messages"][1].update(parent=None),  # does not follow the one shown before it
        lambda d: d["other_versions"][0].update(parent=99),  # follows nothing in the file
        lambda d: d["other_versions"][0].update(n=d["messages"][0]["n"]),  # two messages, one number
        lambda d: d["messages"][0].pop("n"),  # numbered and not
    ],
)
def test_an_import_whose_tree_does_not_hold_together_is_refused(change: Any) -> None:
    document = {
        "format": portability.FORMAT, "version": 1, "title": "t",
        "messages": [{"n": 1, "parent": None, "role": "user", "content": "q"},
                     {"n": 3, "parent": 1, "role": "assistant", "content": "a2"}],
        "other_versions": [{"n": 2, "parent": 1, "role": "assistant", "content": "a1"}],
    }  # fmt: skip
    assert len(portability.parse_import(json.dumps(document).encode()).others) == 1
    change(document)
    with pytest.raises(portability.ImportRefused):
        portability.parse_import(json.dumps(document).encode())


def test_the_writer_cache_agrees_with_the_database_through_retries_edits_and_switches(store: Store) -> None:
    """The same jobs through a cached writer and read back fresh: the same branch and versions; and a switch in a
    batch that rolls back leaves the cache as the database is."""
    user, cid = uuid.uuid4(), uuid.uuid4()
    cache, known = ConversationCache(), set[uuid.UUID]()

    def batch(jobs: list[Any], *, commit: bool = True, cached: bool = True) -> list[Any]:
        with store.sessions() as session:
            results = apply_batch(session, jobs, known_users=known, cache=cache if cached else None)
            if commit:
                session.commit()
                if cached:
                    cache.keep()
            else:
                session.rollback()
                cache.discard()
        return results

    [start] = batch([UserTurn(user, cid, "q", "m")])
    known.add(user)
    batch([Reply(replace(reply(cid, user, "a1"), parent_id=start.leaf_id))])
    [again] = batch([RetryJob(user, cid)])
    batch([Reply(replace(reply(cid, user, "a2"), parent_id=again.leaf_id))])
    a1 = ids(store.load_conversation(cid, user, every_version=True))["a1"]
    batch([SwitchVersion(user, cid, a1)], commit=False)  # rolled back: a2 stays on screen, in the cache too
    [from_cache] = batch([UserTurn(user, cid, "next", "m")])
    assert [m.content for m in from_cache.history] == ["q", "a2", "next"]
    batch([Reply(replace(reply(cid, user, "a3"), parent_id=from_cache.leaf_id))])
    batch([SwitchVersion(user, cid, a1)])
    [cached] = batch([UserTurn(user, cid, "after the switch", "m")], commit=False)
    [fresh] = batch([UserTurn(user, cid, "after the switch", "m")], commit=False, cached=False)
    assert cached.history == fresh.history
    assert [m.content for m in cached.history] == ["q", "a1", "after the switch"]


def at(minute: int) -> datetime:
    return datetime(2026, 11, 2, 9, minute, tzinfo=UTC)


def test_the_migration_turns_superseded_rows_into_versions(database_url: str) -> None:
    """A database at 0005, written the old way (Retry and Edit marked what they replaced ``superseded_at``), is
    upgraded in place: each replaced message becomes a sibling of what replaced it, the branch on screen stays."""
    if database_url.startswith("duckdb:///"):
        Path(database_url.removeprefix("duckdb:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
    user, retried, edited_first = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rows: list[dict[str, Any]] = []

    def message(cid: uuid.UUID, name: str, seq: int, role: str, written: int, gone: int | None) -> None:
        rows.append({
            "id": uuid.uuid5(cid, name), "conversation_id": cid, "seq": seq, "role": role, "content": name,
            "status": "complete", "created_at": at(written), "superseded_at": at(gone) if gone else None,
        })  # fmt: skip

    # q, a1; Retry (a1 gone at :03); a2; q2, a3; Edit of q2 at :07 (q2, a3 gone, "q2 edited" written then); a4.
    for name, seq, role, written, gone in [
        ("q", 1, "user", 1, None), ("a1", 2, "assistant", 2, 3), ("a2", 3, "assistant", 4, None),
        ("q2", 4, "user", 5, 7), ("a3", 5, "assistant", 6, 7), ("q2 edited", 6, "user", 7, None),
        ("a4", 7, "assistant", 8, None),
    ]:  # fmt: skip
        message(retried, name, seq, role, written, gone)
    # The first message edited: "first" and its reply gone at :03, "first edited" written then, answered.
    for name, seq, role, written, gone in [
        ("first", 1, "user", 1, 3), ("reply", 2, "assistant", 2, 3), ("first edited", 3, "user", 3, None),
        ("reply again", 4, "assistant", 4, None),
    ]:  # fmt: skip
        message(edited_first, name, seq, role, written, gone)
    with engine.begin() as connection:
        connection.execute(insert(User.__table__), [{"id": user, "auth_provider": "anonymous", "subject": "u"}])
        connection.execute(
            insert(Conversation.__table__),
            [{"id": cid, "user_id": user, "title": "t", "settings": {}} for cid in (retried, edited_first)],
        )
        connection.execute(insert(Message.__table__), rows)
        connection.execute(
            insert(Generation.__table__),
            [
                {"id": uuid.uuid4(), "message_id": r["id"], "conversation_id": r["conversation_id"],
                 "user_id": user, "status": "complete", "queue_wait_ms": 1.0, "duration_ms": 1.0,
                 "output_tokens": 1, "in_flight_at_start": 1, "params": {}}
                for r in rows if r["role"] == "assistant"
            ],
        )  # fmt: skip
    engine.dispose()

    store = Store.open(database_url)  # the real start path upgrades to head
    try:
        with store.sessions() as session:
            names = {m.id: m.content for m in session.scalars(select(Message))}
            parents = {names[m.id]: names.get(m.parent_id) for m in session.scalars(select(Message))}  # type: ignore[arg-type]
            assert session.query(Generation).count() == 6
        assert parents == {
            "q": None, "a1": "q", "a2": "q", "q2": "a2", "a3": "q2", "q2 edited": "a2", "a4": "q2 edited",
            "first": None, "reply": "first", "first edited": None, "reply again": "first edited",
        }  # fmt: skip
        view = store.load_conversation(retried, user)
        assert shown(view) == ["q", "a2", "q2 edited", "a4"]
        assert place(view, "a2") == (2, 2) and place(view, "q2 edited") == (2, 2) and place(view, "a4") is None
        assert place(store.load_conversation(edited_first, user), "first edited") == (2, 2)
        recorder = WriteBehindRecorder(store)
        try:  # and the old versions can be shown again, with what followed them
            asyncio.run(
                recorder.switch_version(user_id=user, conversation_id=retried, message_id=uuid.uuid5(retried, "q2"))
            )
            assert shown(store.load_conversation(retried, user)) == ["q", "a2", "q2", "a3"]
            asyncio.run(
                recorder.switch_version(
                    user_id=user, conversation_id=edited_first, message_id=uuid.uuid5(edited_first, "first")
                )
            )
            assert shown(store.load_conversation(edited_first, user)) == ["first", "reply"]
        finally:
            recorder.close()
    finally:
        store.close()


def test_the_switcher_names_its_arrows_and_an_edit_never_keeps_it() -> None:
    older, newer = uuid.uuid4(), uuid.uuid4()
    switcher = render.versions_html(Versions(2, 3, older, newer))
    assert f'value="{older}"' in switcher and f'value="{newer}"' in switcher and ">2/3<" in switcher
    assert "Previous version" in switcher and "Next version" in switcher
    assert "disabled" in render.versions_html(Versions(1, 2, None, newer))
    question = render.user_content("my question", ()) + switcher
    assert render.without_thumbnails(question) == "my question"
    typed = 'text that ends with <span class="cl-versions">'
    assert render.without_thumbnails(typed) == typed
