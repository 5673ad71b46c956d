"""Client message ids: a user message sent again under the id it was first sent with is the same message.

A send can fail *in doubt* (the commit errored, yet the row may be on disk) or its reply can fail; the client then
sends again with the same id. The store answers that as one turn, never two rows:

* the message is there and its reply completed → that reply's text, no model call (true idempotency);
* the message is there and its reply is missing, ``error`` or ``stopped`` → answer it again, as Retry would (the
  unfinished reply is kept as a version, off screen, with its metrics: ``storage.versions``);
* the id is someone else's, in another conversation, not a user message, replaced by an edit, or with other text →
  refused with one sentence that says nothing about what the id holds.

Decided over the conversation as the batch sees it (in memory, with the batch's earlier jobs applied); the caller
(``storage.writes``) writes the rows that left the screen.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableSequence, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from errors import MessageIdTaken, MessageRejected
from inference.types import TurnStart
from storage.schema import Message

ALREADY_USED = "That message id is already used. Send your message with a new id."
WENT_ON = "That message was answered with an error and the chat has moved on since; send it with a new id."


class Shown(Protocol):
    """A message of a conversation's branch on screen."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def role(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def status(self) -> str: ...


class Loaded(Protocol):
    """A conversation as the batch holds it."""

    @property
    def owner(self) -> uuid.UUID: ...
    @property
    def deleted(self) -> bool: ...
    @property
    def visible(self) -> MutableSequence[Any]: ...
    def start(self, cid: uuid.UUID, user_message_id: uuid.UUID | None = None) -> TurnStart: ...
    def rewind(self, keep: int, now: datetime, changes: dict[uuid.UUID, datetime | None]) -> list[uuid.UUID]: ...


@dataclass(frozen=True, slots=True)
class Resend:
    """What a repeated send does: keep the first ``keep`` visible messages, take ``superseded`` off screen; with an
    ``answer``, nothing changes and the stored reply is returned."""

    keep: int
    superseded: list[uuid.UUID] = field(default_factory=list)
    answer: str | None = None


def parse_message_id(value: str | None) -> uuid.UUID | None:
    """A client message id as sent to the API (empty: none, the server makes one); refuses what is not a UUID."""
    if value is None or not str(value).strip():
        return None
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        raise MessageRejected("message_id must be a UUID, e.g. str(uuid.uuid4()), or empty.") from None


def placed_ids(session: Session, message_ids: set[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """The conversation of each of these message ids that is already stored (a primary-key lookup)."""
    if not message_ids:
        return {}
    query = select(Message.id, Message.conversation_id).where(Message.id.in_(message_ids))
    return {mid: cid for mid, cid in session.execute(query)}


def resent_turn(
    conversation: Loaded | None,
    cid: uuid.UUID,
    user_id: uuid.UUID,
    asked_cid: uuid.UUID | None,
    message_id: uuid.UUID,
    content: str,
    now: datetime,
    changes: dict[uuid.UUID, datetime | None],
) -> tuple[TurnStart, list[uuid.UUID]]:
    """A user message sent again under its stored id (in conversation ``cid``): the turn to answer, and the ids
    taken off screen (recorded in ``changes``). ``conversation`` is rewound in memory. Without ``asked_cid`` the
    sender asked for a new conversation: the one its first send created is it."""
    if conversation is None or conversation.owner != user_id or conversation.deleted or asked_cid not in (None, cid):
        raise MessageIdTaken(ALREADY_USED)
    decision = resend(conversation.visible, message_id, content)
    hidden = conversation.rewind(decision.keep, now, changes)
    turn = replace(conversation.start(cid, message_id), resent=True, answer=decision.answer)
    return turn, hidden


def resend(visible: Sequence[Shown], message_id: uuid.UUID, content: str) -> Resend:
    """Decide a repeated send of ``content`` under ``message_id`` in a conversation already checked to be the
    sender's. Raises ``MessageRejected`` (and changes nothing) when it is not the same message."""
    index = next((i for i, m in enumerate(visible) if m.id == message_id), None)
    if index is None or visible[index].role != "user" or visible[index].content != content:
        raise MessageIdTaken(ALREADY_USED)
    after = visible[index + 1 :]
    replies = 0
    while replies < len(after) and after[replies].role == "assistant":
        replies += 1
    # A reply continued after `length` is several assistant messages: together they are the answer.
    if replies and after[replies - 1].status == "complete":
        return Resend(keep=len(visible), answer="".join(m.content for m in after[:replies]))
    if replies < len(after):
        raise MessageIdTaken(WENT_ON)
    return Resend(keep=index + 1, superseded=[m.id for m in after])
