"""An in-process model for ChatService tests (as simonw/llm's ``MockModel``): a ``TextGenerator`` that replays replies.

Queue what the next calls stream — text, ``TokenChunk``s (finish reason, usage), an error raised at that point, or
``HANG`` (nothing more until the stream is closed) — with optional delays before the first chunk and between
chunks. Each call is logged: the messages and parameters it was given, how many chunks it yielded, and whether the
consumer closed it before the end. The HTTP fake of TGI (``tests/support/fake_tgi.py``) stays for the adapter.

Delays are real ``asyncio.sleep``s, or — given a ``FakeClock`` — steps of that clock, so that timings measured by
ChatService come out exact (see ``FakeClock.install``).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Final

import pytest

from inference.types import ChatMessage, GenerationParams, ModelInfo, TokenChunk

MODEL_ID = "fake/in-process-model"


class _Hang:
    def __repr__(self) -> str:
        return "HANG"


HANG: Final = _Hang()  # a step after which the stream sends nothing more until it is closed

Step = str | TokenChunk | Exception | _Hang


class FakeClock:
    """A monotonic clock that moves only when told to (by the fake model's delays, or by ``advance``)."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now_s = start_s

    def monotonic(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
        """Be the clock of every loaded ``inference`` module (their ``time``); asyncio keeps the real one."""
        for name, module in list(sys.modules.items()):
            if (name == "inference" or name.startswith("inference.")) and getattr(module, "time", None) is time:
                monkeypatch.setattr(module, "time", self)
        return self


@dataclass(frozen=True)
class Reply:
    """What one call streams: ``steps`` in order, ``first_delay_s`` before the first, ``interval_s`` between."""

    steps: tuple[Step, ...]
    first_delay_s: float = 0.0
    interval_s: float = 0.0


@dataclass
class Call:
    """One call of ``stream``, as the model saw it."""

    messages: list[ChatMessage]
    params: GenerationParams
    yielded: int = 0
    finished: bool = False  # streamed to the end (or to its error)
    closed: bool = False  # the consumer closed or cancelled it first
    ended: asyncio.Event = field(default_factory=asyncio.Event)


GREETING = Reply(("Hello", " there", TokenChunk(finish_reason="stop")))


class FakeModel:
    """A ``TextGenerator`` (``inference.ports``) that streams queued replies; unqueued calls get ``default``."""

    def __init__(
        self,
        *,
        default: Reply = GREETING,
        model_id: str = MODEL_ID,
        max_total_tokens: int = 4096,
        clock: FakeClock | None = None,
    ) -> None:
        self.base_url = "fake://in-process"
        self.default = default
        self.model_id = model_id
        self.max_total_tokens = max_total_tokens
        self.clock = clock
        self.replies: deque[Reply] = deque()
        self.calls: list[Call] = []

    def queue(self, *steps: Step, first_delay_s: float = 0.0, interval_s: float = 0.0) -> None:
        """The next call streams ``steps`` (text, chunks, an error to raise, ``HANG``)."""
        self.replies.append(Reply(steps, first_delay_s, interval_s))

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[TokenChunk, None]:
        reply = self.replies.popleft() if self.replies else self.default
        call = Call(list(messages), params)
        self.calls.append(call)
        try:
            for i, step in enumerate(reply.steps):
                await self._wait(reply.first_delay_s if i == 0 else reply.interval_s)
                if isinstance(step, _Hang):
                    await asyncio.Event().wait()  # until the consumer cancels the stream
                elif isinstance(step, Exception):
                    call.finished = True
                    raise step
                else:
                    yield TokenChunk(text=step) if isinstance(step, str) else step
                    call.yielded += 1
            call.finished = True
        finally:
            call.closed = not call.finished
            call.ended.set()

    async def info(self) -> ModelInfo:
        return ModelInfo(
            model_id=self.model_id,
            backend="fake",
            request_model=self.model_id,
            server_url=self.base_url,
            max_input_tokens=self.max_total_tokens - 1,
            max_total_tokens=self.max_total_tokens,
            max_stop_sequences=4,
        )

    async def health(self) -> bool:
        return True

    async def _wait(self, seconds: float) -> None:
        if self.clock is None:
            await asyncio.sleep(seconds)
        else:
            await asyncio.sleep(0)  # a turn of the loop first: what has arrived is handled before the clock moves on
            self.clock.advance(seconds)
