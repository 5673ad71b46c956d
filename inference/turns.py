"""A turn is one value: what the user asked for, built once by the page or the API and matched where it is stored.

``NewMessage`` adds a message (to a new conversation when it names none). ``Retry``, ``Edit`` and ``Continue`` act on
a stored conversation, so they always name one. ``ChatService.stream_reply`` takes the turn; the recorder's
``begin(turn)`` commits its user side (the message, or the rewind of a Retry or Edit) before the model is called.
Who sends the turn and how it is run (model, system prompt, parameters) travel beside it: they are not its kind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from inference.images import Image
from inference.types import ChatMessage


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message typed by the user. ``message_id`` is the client's id for it: sent again under the same id (after an
    error), the stored message is answered instead of a copy being added."""

    content: str
    conversation_id: uuid.UUID | None = None  # None: a new conversation
    message_id: uuid.UUID | None = None
    # A new conversation only: the messages before this one, stored first (an OpenAI-style call sends its history).
    earlier: tuple[ChatMessage, ...] = ()
    images: tuple[Image, ...] = ()  # checked (``inference.images``); stored outside the text, sent as parts


@dataclass(frozen=True, slots=True)
class Retry:
    """Answer again: reply ``reply_id`` and everything after it are replaced (default: the last reply)."""

    conversation_id: uuid.UUID
    reply_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace user message ``message_id`` (and everything after it) with ``content``, then answer that."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    content: str


@dataclass(frozen=True, slots=True)
class Continue:
    """Go on from the last reply (one cut off at ``max_tokens``); the continuation is stored as a reply of its own."""

    conversation_id: uuid.UUID


Turn = NewMessage | Retry | Edit | Continue


def typed_text(turn: Turn) -> str | None:
    """The text the user typed for this turn (a new or an edited message); ``None`` when the turn has none."""
    return turn.content if isinstance(turn, NewMessage | Edit) else None
