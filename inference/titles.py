"""Automatic titles: after a conversation's first reply, ask the same model server for a short title.

Off the user's path: a background task per new conversation, a tiny prompt and a small ``max_tokens``. When the
server is busy (many replies streaming) or the call fails, the conversation keeps the title it was created with
(the first words of the message). The sidebar may wait a moment for it (``wait``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from typing import Protocol

import errors
from inference.ports import TextGenerator
from inference.reasoning import DEFAULT_TAGS, TagPair, split_reasoning
from inference.types import ChatMessage, GenerationParams

log = logging.getLogger(__name__)

MAX_TITLE_CHARS = 60
BUSY_STREAMS = 8  # with this many replies streaming, titles are not worth a model call
TIMEOUT_S = 20.0
PARAMS = GenerationParams(max_tokens=16, temperature=0.2)
INSTRUCTION = (
    "Write a title of at most six words for a conversation that starts with the message below. "
    "Reply with the title only: no quotes, no punctuation at the end.\n\nMessage:\n"
)


class Renamer(Protocol):
    async def rename(
        self, *, user_id: uuid.UUID, conversation_id: uuid.UUID, title: str, unless_changed_from: str | None = None
    ) -> None: ...


def title_from(content: str, limit: int = MAX_TITLE_CHARS) -> str:
    """The title a conversation starts with: the first words of its first message."""
    first_line = " ".join(content.split())
    return first_line if len(first_line) <= limit else first_line[: limit - 1].rstrip() + "…"


def clean_title(text: str) -> str:
    line = next((line for line in text.strip().splitlines() if line.strip()), "")
    line = " ".join(line.split()).strip(" \"'`*#.:")
    if line.lower().startswith("title:"):
        line = line[6:].strip(" \"'`*")
    return line if len(line) <= MAX_TITLE_CHARS else line[: MAX_TITLE_CHARS - 1].rstrip() + "…"


class Titles:
    def __init__(self, renamer: Renamer, reasoning_tags: Iterable[TagPair] = DEFAULT_TAGS) -> None:
        self._reasoning_tags = tuple(reasoning_tags)
        self._renamer = renamer
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}

    def start(
        self,
        generator: TextGenerator,
        user_id: uuid.UUID,
        conversation_id: uuid.UUID,
        message: str,
        *,
        in_flight: int,
        default_title: str,
    ) -> None:
        """Title the conversation unless the server is busy; ``default_title`` is the title it was created with
        (the rename is skipped if the user changed it meanwhile)."""
        if in_flight + len(self._tasks) >= BUSY_STREAMS or conversation_id in self._tasks:
            return
        task = asyncio.create_task(self._title(generator, user_id, conversation_id, message, default_title))
        self._tasks[conversation_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(conversation_id, None))

    async def wait(self, conversation_id: uuid.UUID, timeout_s: float) -> None:
        task = self._tasks.get(conversation_id)
        if task is not None:
            await asyncio.wait({task}, timeout=timeout_s)

    async def _title(
        self, generator: TextGenerator, user_id: uuid.UUID, conversation_id: uuid.UUID, message: str, default: str
    ) -> None:
        prompt = [ChatMessage("user", INSTRUCTION + message[:2000])]
        parts: list[str] = []
        try:
            async with asyncio.timeout(TIMEOUT_S):
                async for chunk in generator.stream(prompt, PARAMS):
                    parts.append(chunk.text)
            # A thinking model may think inside the reply text: the title is taken from the answer only, none if
            # the few tokens allowed went to thinking.
            _thinking, answer = split_reasoning("".join(parts), self._reasoning_tags)
            title = clean_title(answer)
            if title:
                await self._renamer.rename(
                    user_id=user_id, conversation_id=conversation_id, title=title, unless_changed_from=default
                )
        except (errors.ChatLensError, TimeoutError) as exc:
            log.info("no automatic title for %s (%s); keeping the first words", conversation_id, exc)
