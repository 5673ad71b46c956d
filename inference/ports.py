"""The boundaries ChatService owns: what it needs from a model server and from a recorder, and what it yields.

The TGI adapter and the DuckDB/PostgreSQL recorder satisfy these structurally; ``inference`` never imports them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import errors
from inference.context import ContextUse
from inference.turns import Turn
from inference.types import (
    ChatMessage,
    ConversationSetup,
    GenerationMetrics,
    GenerationParams,
    ModelInfo,
    Origin,
    TokenChunk,
    TurnRecord,
    TurnStart,
)

# "thinking": the reply so far is thinking only; "generating": its answer is streaming.
Phase = Literal["waiting", "thinking", "generating", "complete", "stopped", "error"]


class TextGenerator(Protocol):
    base_url: str

    def stream(self, messages: Sequence[ChatMessage], params: GenerationParams) -> AsyncGenerator[TokenChunk, None]: ...

    async def info(self) -> ModelInfo: ...

    async def health(self) -> bool: ...


class Recorder(Protocol):
    async def begin(
        self,
        turn: Turn,
        *,
        user_id: uuid.UUID,
        model_id: str | None = None,
        setup: ConversationSetup | None = None,
        origin: Origin | None = None,
        early: bool = False,
    ) -> TurnStart:
        """Commit the user's side of ``turn`` (its message, or the rewind of a Retry or Edit) and return the history
        to answer. ``model_id`` and ``setup`` are what a conversation started or continued by a new message keeps;
        ``origin.store_text`` false: its messages are stored without their text. ``early``: the recorder may return
        before the commit, with ``TurnStart.durable`` set, to be awaited before anything of the reply is shown."""
        ...

    async def rename(
        self, *, user_id: uuid.UUID, conversation_id: uuid.UUID, title: str, unless_changed_from: str | None = None
    ) -> None: ...

    def finish_turn(self, record: TurnRecord) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class ReplyFrame:
    """One screen update of a streaming reply. ``text`` is the whole answer so far, ``thinking`` the whole
    thinking so far (never part of ``text``); ``thinking_s`` how long the model has thought (``None``: it has not)."""

    conversation_id: uuid.UUID
    text: str
    phase: Phase
    elapsed_s: float
    metrics: GenerationMetrics | None = None
    error: errors.ChatLensError | None = None
    context: ContextUse | None = None  # on the first frame (estimated) and the last (measured when reported)
    thinking: str = ""
    thinking_s: float | None = None
    # On the final frame: the recorded assistant message, which its generation row names (the page's beacon does).
    message_id: uuid.UUID | None = None

    @property
    def is_final(self) -> bool:
        return self.phase in ("complete", "stopped", "error")
