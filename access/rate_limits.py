"""Message rate limits per user and per IP address, kept in the database so they hold across restarts and replicas.

Each accepted message appends one ``rate_events`` row; nothing is ever updated (DuckDB aborts concurrent updates
of one row, and a hot counter row would serialise every replica). A refused message is not counted. Rows older than
the window are no longer read; every ``PRUNE_EVERY`` messages, rows over an hour old are deleted.

Where the count is decided depends on who else writes the store:
* PostgreSQL (``counted_here=False``, replicas may share it): the check and the append run together on the writer
  thread (``WriteBehindRecorder.run``), so within one process two messages cannot both take the last slot; across
  replicas a burst may pass the limit by the number of replicas. One writer round trip per message.
* DuckDB (``counted_here=True``): one process owns the file, so this process sees every message. The window is
  decided in memory on the event loop (no wait on the writer before the message is sent) and the admitted events
  are appended write-behind; the window is read back from the rows once, at the first message after a start.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from errors import ChatLensError
from storage.schema import RateEvent, utcnow
from storage.writer import WriteBehindRecorder

log = logging.getLogger(__name__)

WINDOW_S = 60.0
PRUNE_EVERY = 1000  # admitted messages between two deletions of rows older than an hour


class RateLimited(ChatLensError):
    kind = "rate_limited"

    def __init__(self, retry_after_s: int, scope: str) -> None:
        super().__init__(
            f"Slow down: too many messages from this {scope} in the last minute. "
            f"Try again in {retry_after_s} s — your message is still in the box."
        )
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class _Verdict:
    retry_after_s: int | None
    scope: str = ""


class RateLimits:
    def __init__(
        self,
        recorder: WriteBehindRecorder,
        *,
        per_user_per_min: int,
        per_ip_per_min: int,
        counted_here: bool = False,
    ) -> None:
        self._recorder = recorder
        self.per_user = per_user_per_min
        self.per_ip = per_ip_per_min
        self._admitted = 0
        self._waiting: list[tuple[uuid.UUID, str, asyncio.Future[_Verdict]]] = []
        self._deciding: asyncio.Task[None] | None = None
        self._here = _Window(self, recorder) if counted_here else None

    @property
    def enabled(self) -> bool:
        return bool(self.per_user or self.per_ip)

    async def admit(self, user_id: uuid.UUID, ip: str) -> None:
        """Count one message for ``user_id`` and ``ip``, or raise ``RateLimited`` (nothing counted).

        Counted here (DuckDB): decided in memory, the event appended write-behind. Otherwise messages arriving
        together are decided together: one job on the writer counts the window for all of them (one grouped query
        per limit) and appends the admitted ones with one statement; those arriving meanwhile wait for the next job."""
        if not self.enabled:
            return
        if self._here is not None:
            await self._here.admit(user_id, ip[:64])
        else:
            verdict = asyncio.get_running_loop().create_future()
            self._waiting.append((user_id, ip[:64], verdict))
            if self._deciding is None:
                self._deciding = asyncio.ensure_future(self._decide_waiting())
            decided: _Verdict = await verdict
            if decided.retry_after_s is not None:
                raise RateLimited(decided.retry_after_s, decided.scope)
        self._admitted += 1
        if self._admitted % PRUNE_EVERY == 0:
            await self.prune()

    async def _decide_waiting(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                requests = [(user, ip) for user, ip, _ in batch]
                try:
                    verdicts = await self._recorder.run(functools.partial(self._decide, requests=requests))
                except Exception as exc:
                    for *_, future in batch:
                        if not future.done():  # a caller that went away has cancelled its own
                            future.set_exception(exc)
                    continue
                for (*_, future), verdict in zip(batch, verdicts, strict=True):
                    if not future.done():
                        future.set_result(verdict)
        finally:
            self._deciding = None

    def _decide(self, session: Session, requests: list[tuple[uuid.UUID, str]]) -> list[_Verdict]:
        """Runs on the writer: the verdicts, in order, and one INSERT of the admitted messages."""
        now = utcnow()
        since = now - timedelta(seconds=WINDOW_S)
        limits = [
            ("account", RateEvent.user_id, 0, self.per_user),
            ("address", RateEvent.ip, 1, self.per_ip),
        ]
        stored: list[dict[Any, int]] = [{}, {}]
        added: list[dict[Any, int]] = [{}, {}]
        for _, column, index, limit in limits:
            keys = {request[index] for request in requests}
            if limit and keys:
                stored[index] = dict(
                    session.execute(
                        select(column, func.count())
                        .where(column.in_(keys), RateEvent.created_at > since)
                        .group_by(column)
                    ).all()
                )
        verdicts: list[_Verdict] = []
        rows: list[dict[str, Any]] = []
        for request in requests:
            refused = None
            for scope, column, index, limit in limits:
                key = request[index]
                in_db, in_batch = stored[index].get(key, 0), added[index].get(key, 0)
                if limit and in_db + in_batch >= limit:
                    refused = _Verdict(_wait_s(session, column, key, in_db - limit + in_batch, since, now), scope)
                    break
            if refused is not None:
                verdicts.append(refused)
                continue
            for _, _, index, _ in limits:
                added[index][request[index]] = added[index].get(request[index], 0) + 1
            rows.append({"id": uuid.uuid4(), "user_id": request[0], "ip": request[1], "created_at": now})
            verdicts.append(_Verdict(None))
        if rows:
            session.execute(insert(RateEvent), rows)
        return verdicts

    async def prune(self, older_than_s: float = 3600.0) -> None:
        if self._here is not None:
            self._here.forget_idle_keys()
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        await self._recorder.run(
            lambda session: session.execute(delete(RateEvent).where(RateEvent.created_at < cutoff))
        )


def _wait_s(session: Session, column: Any, key: Any, offset: int, since: datetime, now: datetime) -> int:
    """Seconds until a slot frees: when the (offset + 1)-th oldest event of the window leaves it. An offset past
    the stored events points at one admitted in this very batch (at ``now``)."""
    freed_at: datetime = now
    if offset >= 0:
        found = session.scalars(
            select(RateEvent.created_at)
            .where(column == key, RateEvent.created_at > since)
            .order_by(RateEvent.created_at)
            .offset(offset)
            .limit(1)
        ).first()
        freed_at = found or now
    return max(1, math.ceil((freed_at + timedelta(seconds=WINDOW_S) - now).total_seconds()))


class _Window:
    """The last minute of admitted messages per user and per address, in this process's memory (DuckDB: the only
    process writing the store). Each key holds at most its limit of monotonic times, oldest first."""

    def __init__(self, limits: RateLimits, recorder: WriteBehindRecorder) -> None:
        self._limits = limits
        self._recorder = recorder
        self._events: tuple[dict[Any, collections.deque[float]], ...] = ({}, {})
        self._loaded: asyncio.Future[None] | None = None
        self._unwritten: list[dict[str, Any]] = []

    async def admit(self, user_id: uuid.UUID, ip: str) -> None:
        if self._loaded is None:
            self._loaded = asyncio.ensure_future(self._load())
        if not self._loaded.done():
            await asyncio.shield(self._loaded)
        now = time.monotonic()
        keys = (user_id, ip)
        limits = (("account", self._limits.per_user), ("address", self._limits.per_ip))
        for (scope, limit), key, events in zip(limits, keys, self._events, strict=True):
            if not limit:
                continue
            window = events.get(key)
            while window and window[0] <= now - WINDOW_S:
                window.popleft()
            if window is not None and len(window) >= limit:
                raise RateLimited(max(1, math.ceil(window[len(window) - limit] + WINDOW_S - now)), scope)
        for (_, limit), key, events in zip(limits, keys, self._events, strict=True):
            if limit:
                events.setdefault(key, collections.deque()).append(now)
        self._write_behind({"id": uuid.uuid4(), "user_id": user_id, "ip": ip, "created_at": utcnow()})

    def _write_behind(self, row: dict[str, Any]) -> None:
        """Append the event with the writer's next group (not awaited); events arriving together go in one INSERT."""
        self._unwritten.append(row)
        if len(self._unwritten) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        rows, self._unwritten = self._unwritten, []
        future = self._recorder.submit(lambda session: session.execute(insert(RateEvent), rows))
        future.add_done_callback(_log_failure)

    async def _load(self) -> None:
        """The window as the rows left it (messages before a restart still count)."""
        since = utcnow() - timedelta(seconds=WINDOW_S)
        rows = await self._recorder.run(
            lambda session: session.execute(
                select(RateEvent.user_id, RateEvent.ip, RateEvent.created_at)
                .where(RateEvent.created_at > since)
                .order_by(RateEvent.created_at)
            ).all()
        )
        mono, wall = time.monotonic(), utcnow()
        for user_id, ip, created_at in rows:
            at = mono - (wall - created_at).total_seconds()
            for key, events in zip((user_id, ip), self._events, strict=True):
                events.setdefault(key, collections.deque()).append(at)

    def forget_idle_keys(self) -> None:
        """Drop keys whose last event left the window (the memory stays bounded by the last minute's callers)."""
        cutoff = time.monotonic() - WINDOW_S
        for events in self._events:
            for key in [key for key, window in events.items() if not window or window[-1] <= cutoff]:
                del events[key]


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("rate-limit events not saved (the in-memory window still counts them): %r", future.exception())
