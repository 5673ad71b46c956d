"""Reading one model stream in its own task, so the consumer only looks at what has arrived (see ChatService)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing

import errors
from inference.types import TokenChunk

log = logging.getLogger(__name__)


class Upstream:
    """Reads the model stream in its own task; the consumer only looks at what has arrived."""

    def __init__(self, chunks: AsyncGenerator[TokenChunk, None], *, max_chars: int | None = None) -> None:
        self._chunks = chunks
        self._chars_left = max_chars
        self._max_chars = max_chars
        self.parts: list[str] = []
        self.counted_tokens = 0
        self.usage_tokens: int | None = None
        self.prompt_tokens: int | None = None
        self.finish_reason: str | None = None
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.error: errors.ChatLensError | None = None
        self.arrived = asyncio.Event()
        self.ended = asyncio.Event()

    async def run(self) -> None:
        try:
            async with aclosing(self._chunks) as chunks:
                async for chunk in chunks:
                    if chunk.text:
                        now = time.monotonic()
                        if self.first_token_at is None:
                            self.first_token_at = now
                        self.last_token_at = now
                        self.parts.append(chunk.text)
                        self.counted_tokens += 1
                        self.arrived.set()
                        if self._chars_left is not None:
                            self._chars_left -= len(chunk.text)
                            if self._chars_left < 0:
                                # A broken or hostile server must not fill memory, the page and the database.
                                raise errors.ReplyTooLarge(detail=f"reply over {self._max_chars:,} characters")
                    if chunk.finish_reason:
                        self.finish_reason = chunk.finish_reason
                    if chunk.completion_tokens is not None:
                        self.usage_tokens = chunk.completion_tokens
                    if chunk.prompt_tokens is not None:
                        self.prompt_tokens = chunk.prompt_tokens
        except errors.ChatLensError as exc:
            self.error = exc
        except Exception as exc:
            log.exception("model stream failed")
            self.error = errors.GenerationFailed(detail=repr(exc))
        finally:
            self.ended.set()
            self.arrived.set()

    @property
    def output_tokens(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else self.counted_tokens
