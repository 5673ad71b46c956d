"""Message rate limits per user and per IP address, counted in the database so they hold across replicas.

Each accepted message appends one ``rate_events`` row; nothing is ever updated (DuckDB aborts concurrent updates
of one row, and a hot counter row would serialise every replica). The check and the append run together on the
writer thread (``WriteBehindRecorder.run``), so within one process two messages cannot both take the last slot;
across PostgreSQL replicas a burst may pass the limit by the number of replicas. A refused message is not counted.
Rows older than the window are no longer read; every ``PRUNE_EVERY`` messages, rows over an hour old are deleted.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from analytics.models import RateEvent, utcnow
from analytics.recorder import WriteBehindRecorder
from inference.errors import ChatLensError

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
    def __init__(self, recorder: WriteBehindRecorder, *, per_user_per_min: int, per_ip_per_min: int) -> None:
        self._recorder = recorder
        self.per_user = per_user_per_min
        self.per_ip = per_ip_per_min
        self._admitted = 0

    @property
    def enabled(self) -> bool:
        return bool(self.per_user or self.per_ip)

    async def admit(self, user_id: uuid.UUID, ip: str) -> None:
        """Count one message for ``user_id`` and ``ip``, or raise ``RateLimited`` (nothing counted)."""
        if not self.enabled:
            return
        verdict: _Verdict = await self._recorder.run(lambda session: self._admit(session, user_id, ip[:64]))
        if verdict.retry_after_s is not None:
            raise RateLimited(verdict.retry_after_s, verdict.scope)
        self._admitted += 1
        if self._admitted % PRUNE_EVERY == 0:
            await self.prune()

    def _admit(self, session: Session, user_id: uuid.UUID, ip: str) -> _Verdict:
        now = utcnow()
        since = now - timedelta(seconds=WINDOW_S)
        for scope, column, value, limit in (
            ("account", RateEvent.user_id, user_id, self.per_user),
            ("address", RateEvent.ip, ip, self.per_ip),
        ):
            if not limit:
                continue
            window = (column == value, RateEvent.created_at > since)
            count = session.scalar(select(func.count()).select_from(RateEvent).where(*window)) or 0
            if count >= limit:
                # The message that frees a slot is the (count - limit + 1)-th oldest in the window.
                freed_at: datetime = (
                    session.scalars(
                        select(RateEvent.created_at).where(*window).order_by(RateEvent.created_at).offset(count - limit)
                    ).first()
                    or now
                )
                wait_s = (freed_at + timedelta(seconds=WINDOW_S) - now).total_seconds()
                return _Verdict(max(1, math.ceil(wait_s)), scope)
        session.execute(insert(RateEvent).values(id=uuid.uuid4(), user_id=user_id, ip=ip, created_at=now))
        return _Verdict(None)

    async def prune(self, older_than_s: float = 3600.0) -> None:
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        await self._recorder.run(
            lambda session: session.execute(delete(RateEvent).where(RateEvent.created_at < cutoff))
        )
