"""Batched writes: a group of turns applied with a handful of statements, whatever the group's size.

The writer thread hands ``apply_batch`` every job that queued up while it was busy. The batch loads the state of the
conversations it touches with two queries, applies the jobs **in order** in memory (so a reply and the next user
message of one conversation, landing in the same batch, keep their order and history), then writes with one bulk
statement per table. DuckDB pays a fixed cost per statement, and the ORM a per-object one; this keeps a burst of
128 turns at a few milliseconds instead of hundreds.

A job that is refused (a conversation that is not the caller's) gets its exception as its result; the others commit.
A user message with a client id that is already stored is not inserted again (``storage.resends`` decides what the
repeated send does); the id is the primary key, so a concurrent writer that stores it first makes this batch fail,
and the recorder applies it again, finding the stored row.
"""

from __future__ import annotations

import collections
import contextlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.orm import Session

from errors import MessageRejected
from inference.images import Image, ImageRef
from inference.titles import title_from
from inference.types import ChatMessage, ConversationSetup, Role, TurnRecord, TurnStart
from storage.privacy import PRIVATE_TITLE, ContentKeeper
from storage.resends import placed_ids, resent_turn
from storage.schema import Conversation, Generation, Message, MessageImage, User, utcnow
from storage.server_state import NO_STATE, RecentReadings
from storage.side_writes import Extra, RecordFeedback, RevokeShares, apply_extra
from storage.versions import Node, Tree

# Core statements where the ORM adds only per-row work (the mapped classes' tables are Tables).
_TABLES = {model: cast(Table, model.__table__) for model in (Conversation, Message, MessageImage, Generation)}
_CONVERSATIONS = _TABLES[Conversation]


@dataclass(frozen=True, slots=True)
class UserTurn:
    user_id: uuid.UUID
    conversation_id: uuid.UUID | None
    content: str
    model_id: str | None
    setup: ConversationSetup = field(default_factory=ConversationSetup)
    message_id: uuid.UUID | None = None  # the client's id for the message (None: a new one is made)
    # A new conversation's messages before this one (an OpenAI-style call); their images' files already written.
    earlier: tuple[ChatMessage, ...] = ()
    store_text: bool = True  # False (metrics only): the rows keep no text; the history returned still has it
    images: tuple[ImageRef, ...] = ()  # the message's images, their files already written (``storage.images``)
    # False (metrics only, privacy mode): no image rows (and no files); the history returned still names them.
    keep_images: bool = True
    # The bytes of every image the job adds rows for, written again at commit if a purge removed a file that
    # ``ImageFiles.save`` found there (``storage.purge``).
    files: tuple[Image, ...] = ()
    # The ids a new conversation and message get, fixed when the job is made: a batch that fails is applied again
    # job by job, and a caller that started on the first application's ids must find them committed.
    new_conversation_id: uuid.UUID = field(default_factory=uuid.uuid4)
    new_message_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True, slots=True)
class Retry:
    """Answer again: ``reply_id`` and everything after it leave the screen (default: the trailing reply); the new
    reply is a version of it (``storage.versions``)."""

    user_id: uuid.UUID
    conversation_id: uuid.UUID
    reply_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Edit:
    """A new version of a user message: it and everything after it leave the screen, the new text (a sibling of
    the old one) becomes the last turn."""

    user_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    content: str


@dataclass(frozen=True, slots=True)
class Continue:
    """Go on from the last reply: nothing is written until the continuation ends (as a reply of its own)."""

    user_id: uuid.UUID
    conversation_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Reply:
    record: TurnRecord


@dataclass(frozen=True, slots=True)
class SwitchVersion:
    """Show another version of a message on screen, with the continuation last shown under it."""

    user_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID  # the version to show


@dataclass(frozen=True, slots=True)
class Rename:
    """A new title; with ``unless_changed_from``, only while the title is still that (automatic titles never
    overwrite a name the user gave)."""

    user_id: uuid.UUID
    conversation_id: uuid.UUID
    title: str
    unless_changed_from: str | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Soft delete: the conversation leaves the list and search; its rows (and metrics) stay."""

    user_id: uuid.UUID
    conversation_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Restore:
    """Undo a soft delete: the conversation is listed, searchable and writable again, as it was."""

    user_id: uuid.UUID
    conversation_id: uuid.UUID


WriteJob = UserTurn | Retry | Edit | Continue | Reply | SwitchVersion | Rename | Delete | Restore | Extra


@dataclass(slots=True)
class _Conversation:
    owner: uuid.UUID
    deleted: bool
    system_prompt: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    next_seq: int = 1
    tree: Tree = field(default_factory=Tree)  # the branch on screen and the other versions (``storage.versions``)
    model_id: str | None = None
    chars: int = 0  # the text's length (every version), for the cache's bound

    @property
    def visible(self) -> list[Node]:
        return self.tree.visible

    def start(self, cid: uuid.UUID, user_message_id: uuid.UUID | None = None) -> TurnStart:
        """The turn's start: the visible history (images by reference: the recorder reads their files); the reply
        will follow the path's leaf."""
        history = tuple(ChatMessage(m.role, m.content) for m in self.visible)
        images = tuple(m.images for m in self.visible) if any(m.images for m in self.visible) else ()
        leaf = self.visible[-1].id if self.visible else None
        return TurnStart(cid, history, user_message_id=user_message_id, history_images=images, leaf_id=leaf)

    def rewind(self, keep: int, now: datetime, changes: dict[uuid.UUID, datetime | None]) -> list[uuid.UUID]:
        """Keep the first ``keep`` messages on screen; the rest leave it (kept as versions)."""
        return self.tree.hide_from(keep, now, changes)

    def copy(self) -> _Conversation:
        """A copy a batch may change (its messages are never changed in place, only replaced)."""
        return replace(self, settings=dict(self.settings), tree=self.tree.copy())


class ConversationCache:
    """The state of recently used conversations as the last commit left it, so a batch need not read it again.

    Only where this process is the store's only writer (DuckDB: one process owns the file); with PostgreSQL
    another replica may have added messages. A batch works on copies; the writer keeps them only once the batch
    is committed (``keep``), so a failed batch leaves the cache as it was. Bounded by conversations and by text."""

    def __init__(self, max_conversations: int = 2048, max_chars: int = 32_000_000) -> None:
        self._max_conversations, self._max_chars = max_conversations, max_chars
        self._kept: collections.OrderedDict[uuid.UUID, _Conversation] = collections.OrderedDict()
        self._chars = 0
        self.pending: dict[uuid.UUID, _Conversation] = {}

    def copies(self, ids: set[uuid.UUID]) -> dict[uuid.UUID, _Conversation]:
        return {cid: kept.copy() for cid in ids if (kept := self._kept.get(cid)) is not None}

    def keep(self) -> None:
        pending, self.pending = self.pending, {}
        for cid, conversation in pending.items():
            tree = conversation.tree
            conversation.chars = sum(len(m.content) for m in tree.visible) + sum(len(m.content) for m in tree.offscreen)
            if (old := self._kept.pop(cid, None)) is not None:
                self._chars -= old.chars
            self._kept[cid] = conversation
            self._chars += conversation.chars
        while self._kept and (len(self._kept) > self._max_conversations or self._chars > self._max_chars):
            _, evicted = self._kept.popitem(last=False)
            self._chars -= evicted.chars

    def discard(self) -> None:
        self.pending = {}

    def forget(self, ids: Iterable[uuid.UUID]) -> None:
        """Conversations that no longer exist (purged): read again, and not found, by any later batch."""
        for cid in ids:
            self.pending.pop(cid, None)
            if (old := self._kept.pop(cid, None)) is not None:
                self._chars -= old.chars


@dataclass(slots=True)
class _Rows:
    users: list[dict[str, Any]] = field(default_factory=list)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    generations: list[dict[str, Any]] = field(default_factory=list)
    shown: dict[uuid.UUID, datetime | None] = field(default_factory=dict)  # superseded_at to write, by message
    touched: set[uuid.UUID] = field(default_factory=set)
    models: dict[uuid.UUID, str] = field(default_factory=dict)
    setups: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)


def apply_batch(
    session: Session,
    jobs: Sequence[WriteJob],
    known_users: set[uuid.UUID],
    keeper: ContentKeeper | None = None,
    cache: ConversationCache | None = None,
    applied: Callable[[list[Any]], None] | None = None,
    readings: RecentReadings | None = None,
) -> list[Any]:
    """Apply ``jobs`` in order inside the caller's transaction. Returns one result (or exception) per job.

    With a ``keeper`` (privacy mode), message text and first-message titles stay in its memory, not in the rows.
    With a ``cache`` (the only writer), conversations it holds are not read again; the batch's state is left in
    ``cache.pending`` for the writer to keep once committed. ``applied`` is called with the results once they are
    decided, before the rows are written (callers may start on them while the batch commits). ``readings``: the
    model servers' recent load readings, for each reply's state at its start (``storage.server_state``)."""
    now = utcnow()
    placed = placed_ids(session, {job.message_id for job in jobs if isinstance(job, UserTurn) and job.message_id})
    conversation_ids = {cid for job in jobs if (cid := _conversation_of(job)) is not None} | set(placed.values())
    state = cache.copies(conversation_ids) if cache is not None else {}
    state.update(_load(session, conversation_ids - state.keys(), keeper))
    rows = _Rows()
    new_users = _missing_users(session, {job.user_id for job in jobs if isinstance(job, UserTurn)} - known_users)
    rows.users = [
        {"id": uid, "auth_provider": "anonymous", "subject": str(uid), "created_at": now} for uid in new_users
    ]
    results: list[Any] = []
    for job in jobs:
        try:
            if isinstance(job, UserTurn):
                results.append(_user_turn(job, state, rows, now, placed))
            elif isinstance(job, Retry):
                results.append(_retry(job, state, rows, now))
            elif isinstance(job, Edit):
                results.append(_edit(job, state, rows, now))
            elif isinstance(job, Continue):
                results.append(_continue(job, state))
            elif isinstance(job, SwitchVersion):
                _owned(state, job.conversation_id, job.user_id).tree.switch(job.message_id, now, rows.shown)
                results.append(None)
            elif isinstance(job, Extra):
                results.append(apply_extra(session, job if keeper is None else _private(job), now))
            elif isinstance(job, Rename) and job.unless_changed_from is not None:
                _owned(state, job.conversation_id, job.user_id)
                session.execute(
                    update(Conversation)
                    .where(Conversation.id == job.conversation_id, Conversation.title == job.unless_changed_from)
                    .values(title=job.title)
                )
                results.append(None)
            elif isinstance(job, Rename | Delete):
                owned = _owned(state, job.conversation_id, job.user_id)
                owned.deleted = owned.deleted or isinstance(job, Delete)  # later jobs (and the cache) see it gone
                change = {"title": job.title} if isinstance(job, Rename) else {"deleted_at": now}
                rows.setups.setdefault(job.conversation_id, {}).update(change)
                results.append(None)
            elif isinstance(job, Restore):
                _restore(state, job, rows)
                results.append(None)
            else:
                _reply(job.record, state, rows, now, readings)
                results.append(None)
        except MessageRejected as exc:
            results.append(exc)
    if applied is not None:
        applied(results)
    if keeper is not None:
        for row in rows.messages:
            row["content"] = keeper.remember(row["id"], row["content"])
            row["reasoning"] = None  # thinking is text too: not kept at all
        for row in rows.conversations:
            row["title"] = PRIVATE_TITLE
    _write(session, rows, now)
    if cache is not None:
        cache.pending = state
    return results


def _private(job: Extra) -> Extra:
    """Privacy mode: a vote keeps its value but not its comment; what would store text (shares, imports) is refused."""
    if isinstance(job, RecordFeedback):
        return replace(job, comment="")
    if isinstance(job, RevokeShares):
        return job
    raise MessageRejected("Privacy mode: ChatLens keeps no text, so conversations cannot be shared or imported here.")


def _conversation_of(job: WriteJob) -> uuid.UUID | None:
    if isinstance(job, Extra):
        return None
    return job.record.conversation_id if isinstance(job, Reply) else job.conversation_id


def _load(
    session: Session, conversation_ids: set[uuid.UUID], keeper: ContentKeeper | None = None
) -> dict[uuid.UUID, _Conversation]:
    if not conversation_ids:
        return {}
    state = {
        cid: _Conversation(owner, deleted_at is not None, system_prompt or "", dict(settings or {}), model_id=model_id)
        for cid, owner, deleted_at, system_prompt, settings, model_id in session.execute(
            select(
                Conversation.id,
                Conversation.user_id,
                Conversation.deleted_at,
                Conversation.system_prompt,
                Conversation.settings,
                Conversation.model_id,
            ).where(Conversation.id.in_(conversation_ids))
        )
    }
    messages = session.execute(
        select(
            Message.conversation_id,
            Message.id,
            Message.role,
            Message.content,
            Message.status,
            Message.seq,
            Message.superseded_at,
            Message.parent_id,
        )
        .where(Message.conversation_id.in_(state))
        .order_by(Message.conversation_id, Message.seq)
    )
    users: dict[uuid.UUID, Node] = {}
    for cid, mid, role, content, status, seq, superseded_at, parent_id in messages:
        conversation = state[cid]
        conversation.next_seq = max(conversation.next_seq, seq + 1)
        text = keeper.recall(mid, content) if keeper is not None else content
        node = Node(mid, cast(Role, role), text, status, parent_id=parent_id, seq=seq, hidden_at=superseded_at)
        (conversation.tree.visible if superseded_at is None else conversation.tree.offscreen).append(node)
        if role == "user":
            users[mid] = node
    if users:
        images: dict[uuid.UUID, list[ImageRef]] = {}
        for mid, sha256, mime_type, name in session.execute(
            select(MessageImage.message_id, MessageImage.sha256, MessageImage.mime_type, MessageImage.name)
            .where(MessageImage.conversation_id.in_(state))
            .order_by(MessageImage.message_id, MessageImage.position)
        ):
            if mid in users:
                images.setdefault(mid, []).append(ImageRef(sha256, mime_type, name))
        for mid, refs in images.items():
            users[mid].images = tuple(refs)  # before the state is shared: nodes are not changed once it is
    return state


def _missing_users(session: Session, user_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not user_ids:
        return set()
    return user_ids - set(session.scalars(select(User.id).where(User.id.in_(user_ids))))


def _owned(state: dict[uuid.UUID, _Conversation], cid: uuid.UUID, user_id: uuid.UUID) -> _Conversation:
    conversation = state.get(cid)
    if conversation is None or conversation.owner != user_id or conversation.deleted:
        raise MessageRejected("This conversation does not exist or is not yours. Start a new chat.")
    return conversation


def _restore(state: dict[uuid.UUID, _Conversation], job: Restore, rows: _Rows) -> None:
    conversation = state.get(job.conversation_id)
    if conversation is None or conversation.owner != job.user_id:
        raise MessageRejected("This conversation does not exist or is not yours.")
    conversation.deleted = False
    rows.setups.setdefault(job.conversation_id, {})["deleted_at"] = None


def _user_turn(
    job: UserTurn,
    state: dict[uuid.UUID, _Conversation],
    rows: _Rows,
    now: datetime,
    placed: dict[uuid.UUID, uuid.UUID],
) -> TurnStart:
    if job.message_id is not None and job.message_id in placed:
        cid = placed[job.message_id]
        turn, _ = resent_turn(
            state.get(cid), cid, job.user_id, job.conversation_id, job.message_id, job.content, now, rows.shown
        )
        return turn
    cid = job.conversation_id or job.new_conversation_id
    setup = job.setup
    kept = job.content if job.store_text else ""
    if cid in state:
        if job.earlier:
            raise MessageRejected("Earlier messages can only start a new conversation.")
        conversation = _owned(state, cid, job.user_id)
        _remember_setup(cid, conversation, setup, rows)
    else:
        conversation = state[cid] = _Conversation(
            job.user_id, False, setup.system_prompt or "", {"model": setup.model} if setup.model else {},
            model_id=job.model_id,
        )  # fmt: skip
        rows.conversations.append(
            {
                "id": cid,
                "user_id": job.user_id,
                "title": title_from(kept) if kept else PRIVATE_TITLE,
                "model_id": job.model_id,
                "system_prompt": conversation.system_prompt,
                "settings": conversation.settings,
                "created_at": now,
                "updated_at": now,
            }
        )
    for earlier in job.earlier:
        earlier_id = uuid.uuid4()
        text = earlier.content if job.store_text else ""
        refs = tuple(image.ref for image in earlier.images)
        _add(conversation, rows, Node(earlier_id, earlier.role, earlier.content, images=refs), now, cid, stored=text)
        if job.keep_images:
            rows.images += [_image_row(earlier_id, cid, job.user_id, at, ref, now) for at, ref in enumerate(refs)]
    message_id = job.message_id or job.new_message_id
    placed[message_id] = cid
    _add(conversation, rows, Node(message_id, "user", job.content, images=job.images), now, cid, stored=kept)
    if job.keep_images:
        rows.images += [
            _image_row(message_id, cid, job.user_id, position, ref, now) for position, ref in enumerate(job.images)
        ]
    rows.touched.add(cid)
    return conversation.start(cid, message_id)


def _remember_setup(cid: uuid.UUID, conversation: _Conversation, setup: ConversationSetup, rows: _Rows) -> None:
    """A conversation keeps the model and system prompt it was last used with (changes are rare: one UPDATE each)."""
    if setup.system_prompt is not None and setup.system_prompt != conversation.system_prompt:
        conversation.system_prompt = setup.system_prompt
        rows.setups.setdefault(cid, {})["system_prompt"] = setup.system_prompt
    if setup.model and conversation.settings.get("model") != setup.model:
        conversation.settings = {**conversation.settings, "model": setup.model}
        rows.setups.setdefault(cid, {})["settings"] = conversation.settings


def _retry(job: Retry, state: dict[uuid.UUID, _Conversation], rows: _Rows, now: datetime) -> TurnStart:
    conversation = _owned(state, job.conversation_id, job.user_id)
    end = len(conversation.visible)
    if job.reply_id is not None:
        end = _index_of(conversation, job.reply_id, "assistant")
    # A reply continued after `length` is several assistant messages: Retry replaces them all.
    while end and conversation.visible[end - 1].role == "assistant":
        end -= 1
    if end == 0:
        raise MessageRejected("There is no message to answer again.")  # refused before anything changes
    conversation.rewind(end, now, rows.shown)
    return conversation.start(job.conversation_id)


def _edit(job: Edit, state: dict[uuid.UUID, _Conversation], rows: _Rows, now: datetime) -> TurnStart:
    conversation = _owned(state, job.conversation_id, job.user_id)
    images = conversation.visible[_index_of(conversation, job.message_id, "user")].images  # an edit keeps them
    conversation.rewind(_index_of(conversation, job.message_id, "user"), now, rows.shown)
    message_id = uuid.uuid4()
    _add(conversation, rows, Node(message_id, "user", job.content, images=images), now, job.conversation_id)
    rows.images += [
        _image_row(message_id, job.conversation_id, job.user_id, position, ref, now)
        for position, ref in enumerate(images)
    ]
    rows.touched.add(job.conversation_id)
    return conversation.start(job.conversation_id, message_id)


def _continue(job: Continue, state: dict[uuid.UUID, _Conversation]) -> TurnStart:
    conversation = _owned(state, job.conversation_id, job.user_id)
    if not conversation.visible or conversation.visible[-1].role != "assistant" or not conversation.visible[-1].content:
        raise MessageRejected("There is no reply to continue.")
    return conversation.start(job.conversation_id)


def _index_of(conversation: _Conversation, message_id: uuid.UUID, role: Role) -> int:
    index = next((i for i, m in enumerate(conversation.visible) if m.id == message_id), None)
    if index is None or conversation.visible[index].role != role:
        raise MessageRejected("That message is no longer in this conversation; reload it and try again.")
    return index


def _add(
    conversation: _Conversation,
    rows: _Rows,
    node: Node,
    now: datetime,
    cid: uuid.UUID,
    *,
    stored: str | None = None,
    reasoning: str | None = None,
) -> None:
    """``node`` under the branch's leaf, as a row (``stored``: the text written, when not the node's own)."""
    node = conversation.tree.append(replace(node, seq=conversation.next_seq))
    conversation.next_seq += 1
    text = node.content if stored is None else stored
    rows.messages.append(
        _message_row(node.id, cid, node.seq, node.role, text, node.status, now, reasoning, node.parent_id)
    )


def _reply(
    record: TurnRecord,
    state: dict[uuid.UUID, _Conversation],
    rows: _Rows,
    now: datetime,
    readings: RecentReadings | None = None,
) -> None:
    conversation = state.get(record.conversation_id)
    if conversation is None:
        raise MessageRejected("The conversation of this reply no longer exists.")
    leaf = conversation.visible[-1].id if conversation.visible else None
    if record.parent_id is not None and record.parent_id != leaf:
        # The branch on screen moved while the model answered (a switch, another tab): the reply goes under the
        # message it answers, shown again — the newest version is the one on screen.
        with contextlib.suppress(MessageRejected):  # that message is gone: under the leaf, as before
            conversation.tree.show(record.parent_id, now, rows.shown, descend=False)
    _add(
        conversation, rows, Node(record.message_id, "assistant", record.content, record.status), now,
        record.conversation_id, stored=record.content if record.origin.store_text else "",
        reasoning=record.reasoning or None,
    )  # fmt: skip
    model = record.model
    rows.generations.append(generation_row(record, now, readings))
    rows.touched.add(record.conversation_id)
    if model is not None and model.model_id != conversation.model_id:  # the model a conversation last answered with
        conversation.model_id = model.model_id
        rows.models[record.conversation_id] = model.model_id


def generation_row(record: TurnRecord, now: datetime, readings: RecentReadings | None = None) -> dict[str, Any]:
    """A reply's ``generations`` row: its metrics, whatever happens to its text (``storage.temporary`` too), and the
    model server's state at its start from ``readings`` (its start is ``now`` less its duration, as the analytics
    join computes it from the row)."""
    m, model = record.metrics, record.model
    server_url = model.server_url if model else None
    state = (
        readings.state_at(server_url, now - timedelta(milliseconds=m.duration_ms)) if readings is not None else NO_STATE
    )
    return {
        "id": uuid.uuid4(),
        "message_id": record.message_id,
        "conversation_id": record.conversation_id,
        "user_id": record.user_id,
        "model_id": model.model_id if model else None,
        "backend": model.backend if model else None,
        "server_url": model.server_url if model else None,
        "params": record.params.as_record(),
        "status": record.status,
        "queue_wait_ms": m.queue_wait_ms,
        "time_to_first_token_ms": m.time_to_first_token_ms,
        "duration_ms": m.duration_ms,
        "prompt_tokens": m.prompt_tokens,
        "output_tokens": m.output_tokens,
        "tokens_per_s": m.tokens_per_s,
        "finish_reason": m.finish_reason,
        "error_type": record.error_type,
        "in_flight_at_start": m.in_flight_at_start,
        "source": record.origin.source,
        "token_id": record.origin.token_id,
        "created_at": now,
        "time_to_first_answer_ms": m.time_to_first_answer_ms,
        "reasoning_tokens": m.reasoning_tokens,
        "thinking_ms": m.thinking_ms,
        **state,
    }


def _message_row(
    mid: uuid.UUID,
    cid: uuid.UUID,
    seq: int,
    role: str,
    content: str,
    status: str,
    now: datetime,
    reasoning: str | None = None,
    parent_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Every row has every key: one bulk INSERT takes its columns from the first row."""
    return {
        "id": mid,
        "conversation_id": cid,
        "seq": seq,
        "role": role,
        "content": content,
        "status": status,
        "created_at": now,
        "superseded_at": None,
        "reasoning": reasoning,
        "parent_id": parent_id,
    }


def _image_row(
    mid: uuid.UUID, cid: uuid.UUID, user_id: uuid.UUID, position: int, ref: ImageRef, now: datetime
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "message_id": mid,
        "conversation_id": cid,
        "user_id": user_id,
        "position": position,
        "sha256": ref.sha256,
        "mime_type": ref.mime_type,
        "name": ref.name,
        "created_at": now,
    }


def _write(session: Session, rows: _Rows, now: datetime) -> None:
    """One statement per table and kind of change (UPDATE with executemany would cost one round trip per row)."""
    if rows.users:
        # Another replica (PostgreSQL) may create the same user at the same moment.
        session.execute(upsert(User).on_conflict_do_nothing(index_elements=[User.id]), rows.users)
    for model, values in (
        (Conversation, rows.conversations),
        (Message, rows.messages),
        (MessageImage, rows.images),
        (Generation, rows.generations),
    ):
        if values:
            session.execute(insert(_TABLES[model]), values)  # Core: the ORM's bulk path costs per row
    if hidden := [mid for mid, at in rows.shown.items() if at is not None]:
        session.execute(update(Message).where(Message.id.in_(hidden)).values(superseded_at=now))
    if shown := [mid for mid, at in rows.shown.items() if at is None]:
        session.execute(update(Message).where(Message.id.in_(shown)).values(superseded_at=None))
    created = {row["id"] for row in rows.conversations}
    if touched := rows.touched - created:
        session.execute(update(_CONVERSATIONS).where(_CONVERSATIONS.c.id.in_(touched)).values(updated_at=now))
    for cid, setup in rows.setups.items():
        session.execute(update(Conversation).where(Conversation.id == cid).values(**setup))
    for model_id in set(rows.models.values()):
        ids = [cid for cid, mid in rows.models.items() if mid == model_id]
        session.execute(update(Conversation).where(Conversation.id.in_(ids)).values(model_id=model_id))
