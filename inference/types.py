"""Value objects that cross the inference boundary: messages, parameters, chunks, metrics.

All are frozen. Timestamps are ``time.monotonic()`` seconds; derived numbers are properties so that there is
exactly one formula for each (tokens/s above all).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from inference.images import Image, ImageRef

Role = Literal["system", "user", "assistant"]
ReplyStatus = Literal["complete", "stopped", "error"]
Source = Literal["chat", "gradio_api", "openai_api"]  # where a turn came from: the page, /chat, /v1


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message as the model is sent it; ``images`` (a user's, checked: ``inference.images``) go as parts."""

    role: Role
    content: str
    images: tuple[Image, ...] = ()


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """What the user may tune. ``None`` means "not sent": the server's default applies."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # Thinking models: sent only when set (servers that do not know them may refuse the request).
    thinking: bool | None = None  # chat_template_kwargs enable_thinking (Qwen3) / thinking (DeepSeek-V3.1, Granite)
    reasoning_effort: str | None = None  # "low" | "medium" | "high" (gpt-oss)

    def as_record(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None, ())}


@dataclass(frozen=True, slots=True)
class TokenChunk:
    """One piece of a streamed reply. Usage numbers arrive only when the server reports them.

    ``text`` is the content as sent (it may hold inline thinking tags); ``reasoning`` the thinking a server sent in
    a field of its own. ``completion_tokens`` includes the thinking tokens; ``reasoning_tokens`` is their share."""

    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning: str = ""
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the model server says about itself (TGI ``/info``; ``/v1/models`` for other servers)."""

    model_id: str
    backend: str  # "tgi", "vllm", "llama.cpp" or "openai" (another Messages-API server)
    request_model: str
    server_url: str
    version: str | None = None
    max_input_tokens: int | None = None
    max_total_tokens: int | None = None
    max_stop_sequences: int | None = None
    vision: bool | None = None  # the model sees images (None: the server does not say)


@dataclass(frozen=True, slots=True)
class GenerationMetrics:
    """The measured performance of one model call, from the app's own monotonic clock.

    ``started_at`` is when ChatLens took the turn, ``request_sent_at`` when the upstream request left,
    ``first_token_at`` when the first token of any kind (thinking or answer) arrived, ``first_answer_at`` the first
    answer text, ``last_thinking_at`` the last thinking, and ``ended_at`` when the stream ended.
    ``output_tokens`` counts thinking and answer (as ``usage.completion_tokens`` does); ``reasoning_tokens`` the
    thinking alone (``None``: the reply did not think).
    """

    started_at: float
    request_sent_at: float
    ended_at: float
    first_token_at: float | None = None
    last_token_at: float | None = None
    output_tokens: int = 0
    prompt_tokens: int | None = None
    finish_reason: str | None = None
    in_flight_at_start: int = 0
    first_answer_at: float | None = None
    last_thinking_at: float | None = None
    reasoning_tokens: int | None = None

    @property
    def queue_wait_ms(self) -> float:
        return (self.request_sent_at - self.started_at) * 1000

    @property
    def time_to_first_token_ms(self) -> float | None:
        if self.first_token_at is None:
            return None
        return (self.first_token_at - self.started_at) * 1000

    @property
    def time_to_first_answer_ms(self) -> float | None:
        if self.first_answer_at is None:
            return None
        return (self.first_answer_at - self.started_at) * 1000

    @property
    def thinking_ms(self) -> float | None:
        """How long the model thought: from its first token until the answer began (or its last thinking)."""
        if self.last_thinking_at is None or self.first_token_at is None:
            return None
        end = self.last_thinking_at
        if self.first_answer_at is not None and self.first_answer_at >= end:
            end = self.first_answer_at
        return (end - self.first_token_at) * 1000

    @property
    def duration_ms(self) -> float:
        return (self.ended_at - self.started_at) * 1000

    @property
    def tokens_per_s(self) -> float | None:
        """Decode rate over the whole generation, thinking included: tokens after the first one (of any kind), over
        the time from that first token to the last."""
        if self.first_token_at is None or self.last_token_at is None or self.output_tokens < 2:
            return None
        span_s = self.last_token_at - self.first_token_at
        if span_s <= 0:
            return None
        return (self.output_tokens - 1) / span_s


@dataclass(frozen=True, slots=True)
class ConversationSetup:
    """What a conversation remembers about how it is run: the model server (by name) and its system prompt."""

    model: str | None = None
    system_prompt: str | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a turn came from, recorded on its generation row: the page, Gradio's ``/chat`` or the OpenAI-style
    ``/v1`` API; the API token that sent it, if any; ``store_text=False`` (``X-ChatLens-Store: metrics-only``): the
    turn's messages are stored without their text, its metrics as usual."""

    source: Source = "chat"
    token_id: uuid.UUID | None = None
    store_text: bool = True


@dataclass(frozen=True, slots=True)
class TurnStart:
    """What the recorder returns once the user's message is committed (or decided: ``durable``).

    ``resent``: the message was already stored under its client id (a send repeated after an error), nothing new
    was written but the rewind of its unfinished reply; ``answer``: its reply had completed, and is this text."""

    conversation_id: uuid.UUID
    history: tuple[ChatMessage, ...]
    user_message_id: uuid.UUID | None = None
    resent: bool = False
    answer: str | None = None
    # Per message of ``history``, the stored images it had (the recorder reads their files into ``history``).
    history_images: tuple[tuple[ImageRef, ...], ...] = ()
    # Set when the turn is returned before it is committed: completes once it is (raises if it could not be). The
    # model may be asked meanwhile; nothing of the reply may be shown or recorded before it completes.
    durable: Awaitable[None] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """Everything stored when a reply ends: the assistant message and its generation row, in one transaction."""

    conversation_id: uuid.UUID
    user_id: uuid.UUID
    content: str
    status: ReplyStatus
    metrics: GenerationMetrics
    model: ModelInfo | None
    params: GenerationParams
    error_type: str | None = None
    message_id: uuid.UUID = field(default_factory=uuid.uuid4)
    reasoning: str = ""  # the thinking, kept apart from ``content`` (the answer)
    origin: Origin = field(default_factory=Origin)
