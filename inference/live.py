"""Replies that outlive their page: a reply streams on when the tab that asked for it closes or reloads, and any
tab of its owner showing that conversation follows it live (chat-ui's reattach, bounded).

``LiveReplies.start`` runs a reply (``ChatService.stream_reply``'s frames) in a task of its own; pages ``follow``
it (the latest frame at once, then each new one; frames are whole texts, so a follower that falls behind skips to
the newest). A follower that goes away (a closed tab, a reload, another conversation opened) cancels only itself.

Bounded: a reply nobody follows is stopped (and saved as ``stopped``, as Stop does) after ``keep_unwatched_s``, or
at once when its owner already has ``max_unwatched_per_user`` replies nobody follows, or when ``keep_unwatched_s``
is 0 (the behaviour before reattach). ``stop`` stops a reply from any tab of its owner. A reply is forgotten once
its stream ended (its rows committed): from then on the store has it.

Pure asyncio, on the event loop; no Gradio.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace

from inference.ports import ReplyFrame

log = logging.getLogger(__name__)


class LiveReply:
    """One running reply: its latest frame, who follows it, and how it ended."""

    def __init__(self, user_id: uuid.UUID, session: str | None) -> None:
        self.user_id = user_id
        self.session = session  # the page session that asked for it
        self.conversation_id: uuid.UUID | None = None  # known from its first frame (a new chat gets one then)
        self.frame: ReplyFrame | None = None
        self.version = 0  # frames published so far
        self.error: BaseException | None = None  # what the stream raised (a refusal, a reply not saved)
        self.done = False
        self.watchers = 0
        self.following: collections.Counter[str] = collections.Counter()  # page sessions following it now
        self.unwatched = 0  # bumped each time the last follower leaves: a pending expiry checks it is still its own
        self.task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    def publish(self, frame: ReplyFrame) -> None:
        self.frame = frame
        self.version += 1
        self._wake()

    def end(self, error: BaseException | None) -> None:
        self.error = error
        self.done = True
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self) -> AsyncGenerator[ReplyFrame, None]:
        """The latest frame, then every newer one, until the stream ended; raises what it raised."""
        seen = 0
        while True:
            changed = self._changed
            if self.version > seen and self.frame is not None:
                seen = self.version
                yield self.frame
                continue
            if self.done:
                if self.error is not None:
                    raise self.error
                return
            await changed.wait()


class LiveReplies:
    def __init__(self, *, keep_unwatched_s: float = 300.0, max_unwatched_per_user: int = 2) -> None:
        self._keep_unwatched_s = keep_unwatched_s
        self._max_unwatched = max_unwatched_per_user
        self._by_conversation: dict[uuid.UUID, LiveReply] = {}
        self._by_session: dict[str, LiveReply] = {}
        self._running: set[LiveReply] = set()

    def start(
        self, frames: AsyncGenerator[ReplyFrame, None], *, user_id: uuid.UUID, session: str | None = None
    ) -> LiveReply:
        """Run the reply in a task of its own; follow it with ``follow``."""
        live = LiveReply(user_id, session)
        live.task = asyncio.create_task(self._run(live, frames))
        self._running.add(live)
        if session:
            self._by_session[session] = live
        return live

    async def _run(self, live: LiveReply, frames: AsyncGenerator[ReplyFrame, None]) -> None:
        error: BaseException | None = None
        try:
            async with aclosing(frames):
                async for frame in frames:
                    if live.conversation_id is None:
                        live.conversation_id = frame.conversation_id
                        self._by_conversation[frame.conversation_id] = live
                    live.publish(frame)
        except asyncio.CancelledError:
            # Stopped (Stop, nobody following, shutdown): the service recorded it as stopped; followers see so.
            if live.frame is not None and not live.frame.is_final:
                live.publish(replace(live.frame, phase="stopped"))
        except Exception as exc:  # handed to the followers (the page that asked shows it)
            error = exc
        finally:
            live.end(error)
            self._forget(live)

    def _forget(self, live: LiveReply) -> None:
        self._running.discard(live)
        if live.conversation_id is not None and self._by_conversation.get(live.conversation_id) is live:
            del self._by_conversation[live.conversation_id]
        if live.session and self._by_session.get(live.session) is live:
            del self._by_session[live.session]

    async def follow(self, live: LiveReply, *, session: str | None = None) -> AsyncGenerator[ReplyFrame, None]:
        """Follow ``live`` until it ended; leaving early (cancelled, closed) leaves the reply running. ``session``:
        the page session following (``following`` says which pages follow it now)."""
        live.watchers += 1
        if session:
            live.following[session] += 1
        try:
            async for frame in live.follow():
                yield frame
        finally:
            live.watchers -= 1
            if session:
                live.following[session] -= 1
                if not live.following[session]:
                    del live.following[session]
            if live.watchers == 0 and not live.done:
                self._left_alone(live)

    def of_conversation(self, conversation_id: uuid.UUID | None, user_id: uuid.UUID) -> LiveReply | None:
        """The reply streaming in this conversation of this user, if any."""
        live = self._by_conversation.get(conversation_id) if conversation_id is not None else None
        return live if live is not None and live.user_id == user_id and not live.done else None

    def stop(self, user_id: uuid.UUID, *, conversation_id: uuid.UUID | None = None, session: str | None = None) -> bool:
        """Stop the user's reply in ``conversation_id`` (from any tab), or the one ``session`` started (a new chat
        stopped before its first frame named its conversation). Returns whether one was stopped."""
        live = self.of_conversation(conversation_id, user_id)
        if live is None and session:
            started = self._by_session.get(session)
            live = started if started is not None and started.user_id == user_id and not started.done else None
        if live is None or live.task is None:
            return False
        live.task.cancel()
        return True

    def _left_alone(self, live: LiveReply) -> None:
        alone = sum(1 for other in self._running if other.user_id == live.user_id and other.watchers == 0)
        if self._keep_unwatched_s <= 0 or alone > self._max_unwatched:
            self._cancel(live)
            return
        live.unwatched += 1
        asyncio.get_running_loop().call_later(self._keep_unwatched_s, self._expire, live, live.unwatched)

    def _expire(self, live: LiveReply, unwatched: int) -> None:
        if live.watchers == 0 and live.unwatched == unwatched and not live.done:
            log.info("a reply nobody followed for %.0f s was stopped", self._keep_unwatched_s)
            self._cancel(live)

    @staticmethod
    def _cancel(live: LiveReply) -> None:
        if live.task is not None:
            live.task.cancel()

    @property
    def running(self) -> int:
        return len(self._running)
