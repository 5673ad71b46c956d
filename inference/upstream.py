"""Reading one model stream in its own task, so the consumer only looks at what has arrived (see ChatService)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing

import errors
from inference.reasoning import DEFAULT_TAGS, ReasoningSplitter, TagPair
from inference.types import TokenChunk

log = logging.getLogger(__name__)


class Upstream:
    """Reads the model stream in its own task; the consumer only looks at what has arrived.

    The thinking and the answer are kept apart (``inference.reasoning``) and timed apart: ``first_token_at`` is the
    first token of either kind, ``first_answer_at`` the first answer text, ``last_thinking_at`` the last thinking.
    ``received`` counts the chunks that changed what the screen shows."""

    def __init__(
        self,
        chunks: AsyncGenerator[TokenChunk, None],
        *,
        max_chars: int | None = None,
        reasoning_tags: Iterable[TagPair] = DEFAULT_TAGS,
    ) -> None:
        self._chunks = chunks
        self._chars_left = max_chars
        self._max_chars = max_chars
        self.split = ReasoningSplitter(reasoning_tags)
        self.received = 0
        self.counted_tokens = 0
        self.counted_thinking_tokens = 0
        self._counted_answer_tokens = 0
        self.usage_tokens: int | None = None
        self.usage_reasoning_tokens: int | None = None
        self.prompt_tokens: int | None = None
        self.finish_reason: str | None = None
        self.first_token_at: float | None = None
        self.first_answer_at: float | None = None
        self.last_thinking_at: float | None = None
        self.last_token_at: float | None = None
        self.error: errors.ChatLensError | None = None
        self.arrived = asyncio.Event()
        self.ended = asyncio.Event()

    @property
    def parts(self) -> list[str]:
        """The answer so far, in pieces."""
        return self.split.answer

    async def run(self) -> None:
        try:
            async with aclosing(self._chunks) as chunks:
                async for chunk in chunks:
                    if chunk.text or chunk.reasoning:
                        self._take(chunk.text, chunk.reasoning)
                    if chunk.finish_reason:
                        self.finish_reason = chunk.finish_reason
                    if chunk.completion_tokens is not None:
                        self.usage_tokens = chunk.completion_tokens
                    if chunk.reasoning_tokens is not None:
                        self.usage_reasoning_tokens = chunk.reasoning_tokens
                    if chunk.prompt_tokens is not None:
                        self.prompt_tokens = chunk.prompt_tokens
        except errors.ChatLensError as exc:
            self.error = exc
        except Exception as exc:
            log.exception("model stream failed")
            self.error = errors.GenerationFailed(detail=repr(exc))
        finally:
            self._settle()
            self.ended.set()
            self.arrived.set()

    def _take(self, text: str, reasoning: str) -> None:
        now = time.monotonic()
        split = self.split
        revision = split.revision
        split.take(text, reasoning)
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        self.counted_tokens += 1
        if split.revision != revision:  # the reply started inside its thinking: its early "answer" was thinking
            self.first_answer_at = None
            self.last_thinking_at = now
            self.counted_thinking_tokens += self._counted_answer_tokens
            self._counted_answer_tokens = 0
        if split.gave_thinking:
            self.last_thinking_at = now
            self.counted_thinking_tokens += 1
        elif split.gave_answer:
            self._counted_answer_tokens += 1
        if split.answer and self.first_answer_at is None:
            self.first_answer_at = now
        if split.gave_thinking or split.gave_answer or split.revision != revision:
            self.received += 1
            self.arrived.set()
        if self._chars_left is not None:
            self._chars_left -= len(text) + len(reasoning)
            if self._chars_left < 0:
                # A broken or hostile server must not fill memory, the page and the database.
                raise errors.ReplyTooLarge(detail=f"reply over {self._max_chars:,} characters")

    def _settle(self) -> None:
        """The stream ended: text held back as a possible tag is what it is."""
        split = self.split
        before = (len(split.thinking), len(split.answer))
        split.finish()
        if (len(split.thinking), len(split.answer)) != before:
            self.received += 1
            if split.answer and self.first_answer_at is None:
                self.first_answer_at = self.last_token_at

    @property
    def output_tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else self.counted_tokens

    @property
    def thought(self) -> bool:
        """The reply holds thinking that says something (``<think>\n\n</think>``, thinking turned off, does not)."""
        return bool(self.split.thinking) and not self.split.thinking_text.isspace()

    @property
    def thinking_tokens(self) -> int | None:
        """The server's count where it sends one, else the chunks that carried thinking; ``None``: no thinking."""
        if self.usage_reasoning_tokens is not None:
            return self.usage_reasoning_tokens
        return self.counted_thinking_tokens if self.thought else None
