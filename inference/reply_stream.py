"""One reply on its way from the model server to the screen, in named steps; ``ChatService`` runs them in order.

1. ``open``: the request leaves (``request_sent_at``) and one reader task pulls the upstream stream
   (``inference.upstream``); cancelling that task closes the HTTP stream, so the GPU stops.
2. ``next_frame``: wait until new text is due on screen. The first text goes out at once, later text at most
   once per ``FrameBudget.interval_s()`` (``inference.pacing``), the rest as soon as the stream ends. Thinking and
   answer are taken apart (``text``, ``thinking``; ``inference.reasoning``) under the same budget.
3. ``finish``: wait for the reader, take the rest of the text, decide the status and hand the reply to the
   recorder. A reader cancelled by shutdown (not by this reply's consumer) makes the reply ``stopped``.
4. ``close``: always, whether the reply finished, failed or was cancelled (Stop, closed tab): stop the reader and,
   unless ``finish`` recorded the reply, record what arrived as ``stopped``. ``abandon`` instead when the user's
   message it answers could not be saved (the request leaves while that commits): nothing is recorded.

A reply that cannot be asked for at all (model server down, prompt that cannot fit) is recorded by ``fail``
instead. Every reply is handed to the recorder exactly once; the caller shows the final frame first and then
awaits ``Ended.durable``, so the end reaches the screen without waiting for the commit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass

import errors
from inference.reasoning import DEFAULT_TAGS, TagPair
from inference.types import (
    GenerationMetrics,
    GenerationParams,
    ModelInfo,
    Origin,
    ReplyStatus,
    TokenChunk,
    TurnRecord,
)
from inference.upstream import Upstream

RESTARTING = "ChatLens is restarting: this reply was stopped and saved. Retry in a moment."


@dataclass(frozen=True, slots=True)
class Ended:
    """How a reply ended, as recorded; ``durable`` completes once its rows are committed."""

    status: ReplyStatus
    error: errors.ChatLensError | None
    metrics: GenerationMetrics
    durable: Awaitable[None]
    message_id: uuid.UUID | None = None  # the assistant message recorded (its generation row names it)


class ReplyStream:
    """The state of one reply: the upstream reader, the text shown so far, and whether it has been recorded."""

    def __init__(
        self,
        chunks: AsyncGenerator[TokenChunk, None],
        record: Callable[[TurnRecord], Awaitable[None]],
        *,
        conversation_id: uuid.UUID,
        user_id: uuid.UUID,
        params: GenerationParams,
        model: ModelInfo | None,
        started_at: float,
        in_flight: int,
        max_chars: int | None = None,
        reasoning_tags: Iterable[TagPair] = DEFAULT_TAGS,
        origin: Origin | None = None,
        parent_id: uuid.UUID | None = None,
    ) -> None:
        self._upstream = Upstream(chunks, max_chars=max_chars, reasoning_tags=reasoning_tags)
        self._parent_id = parent_id
        self._record_turn = record
        self._conversation_id = conversation_id
        self._user_id = user_id
        self._params = params
        self._model = model
        self._started_at = started_at
        self._in_flight = in_flight
        self._origin = origin or Origin()
        self._reader: asyncio.Task[None] | None = None
        self._shown_parts = 0
        self._shown_thinking = 0
        self._shown_revision = 0
        self._shown_received = 0
        self._recorded = False
        self.request_sent_at = started_at
        self.last_frame_at = 0.0
        self.text = ""  # the answer as the screen has it
        self.thinking = ""  # the thinking as the screen has it

    def open(self) -> asyncio.Task[None]:
        """Send the request: one task reads the upstream stream from now on. Returns that task."""
        self.request_sent_at = time.monotonic()
        self._reader = asyncio.create_task(self._upstream.run())
        return self._reader

    async def next_frame(self, interval_s: Callable[[], float]) -> bool:
        """Wait until a frame is due and take the text that arrived into ``text``; ``False`` once the stream ended."""
        upstream = self._upstream
        while not upstream.ended.is_set():
            if upstream.received == self._shown_received:
                upstream.arrived.clear()
                await upstream.arrived.wait()
                continue
            delay_s = self.last_frame_at + interval_s() - time.monotonic()
            if delay_s <= 0:
                self._take_arrived()
                self.last_frame_at = time.monotonic()
                return True
            with suppress(TimeoutError):  # the frame is due; the end of the stream comes sooner if it comes
                async with asyncio.timeout(delay_s):
                    await upstream.ended.wait()
        return False

    async def finish(self) -> Ended:
        """The stream ended: wait for the reader, take the rest of the text, record the reply with its status."""
        assert self._reader is not None, "open() first"
        try:
            await self._reader
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this reply's consumer is cancelled: close() records it as stopped
            self._upstream.error = errors.ShuttingDown(RESTARTING)  # the reader was stopped by ChatService.drain
        self._take_arrived()
        error = self._upstream.error
        status: ReplyStatus = "complete"
        if isinstance(error, errors.ShuttingDown):
            status = "stopped"
        elif error is not None:
            status = "error"
        return self._record(status, error)

    async def close(self) -> None:
        """Stop the reader if it still runs; record what arrived as ``stopped`` unless the reply was recorded."""
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if not self._recorded:
            self._take_arrived()
            self._record("stopped", None)

    async def abandon(self) -> None:
        """The turn this reply answers was not saved: stop the reader, and record nothing, now or at ``close``."""
        self._recorded = True
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)

    def fail(self, error: errors.ChatLensError) -> Ended:
        """The reply cannot be asked for: record it, without text, as this error."""
        self.request_sent_at = time.monotonic()
        return self._record("error", error)

    @property
    def thinking_now(self) -> bool:
        """The reply so far is thinking, with no answer yet."""
        return not self.text and bool(self.thinking) and not self.thinking.isspace()

    def thinking_s(self, now: float) -> float | None:
        """How long the model has thought so far (until its answer began); ``None`` if it has not."""
        upstream = self._upstream
        if not self.thinking or upstream.first_token_at is None:
            return None
        end = upstream.first_answer_at if upstream.first_answer_at is not None else now
        return max(0.0, end - upstream.first_token_at)

    def _take_arrived(self) -> None:
        upstream = self._upstream
        self._shown_received = upstream.received
        split = upstream.split
        if split.revision != self._shown_revision:  # the answer shown so far turned out to be thinking
            self._shown_revision = split.revision
            self.text, self._shown_parts = "", 0
        parts = split.answer
        self.text += "".join(parts[self._shown_parts :])
        self._shown_parts = len(parts)
        thinking = split.thinking
        self.thinking += "".join(thinking[self._shown_thinking :])
        self._shown_thinking = len(thinking)

    def _metrics(self, now: float) -> GenerationMetrics:
        upstream = self._upstream
        return GenerationMetrics(
            started_at=self._started_at,
            request_sent_at=self.request_sent_at,
            ended_at=now,
            first_token_at=upstream.first_token_at,
            last_token_at=upstream.last_token_at,
            output_tokens=upstream.output_tokens,
            prompt_tokens=upstream.prompt_tokens,
            finish_reason=upstream.finish_reason,
            in_flight_at_start=self._in_flight,
            first_answer_at=upstream.first_answer_at,
            last_thinking_at=upstream.last_thinking_at if upstream.thought else None,
            reasoning_tokens=upstream.thinking_tokens,
        )

    def _record(self, status: ReplyStatus, error: errors.ChatLensError | None) -> Ended:
        self._recorded = True  # first: whatever happens next, close() must not record the reply a second time
        metrics = self._metrics(time.monotonic())
        record = TurnRecord(
            conversation_id=self._conversation_id,
            user_id=self._user_id,
            content=self.text,
            reasoning=self.thinking.strip(),
            status=status,
            metrics=metrics,
            model=self._model,
            params=self._params,
            error_type=error.kind if error else None,
            origin=self._origin,
            parent_id=self._parent_id,
        )
        return Ended(status, error, metrics, self._record_turn(record), record.message_id)
