"""Writes of what the user's browser reported (``web.browser_beacon``), run on the writer thread like every other write.

* A reply's report is stored only against a generation of that reply (``message_id``) that the *sender* owns, made
  from the chat page (``source = 'chat'``: the page measures only what it sent), and only once: another user's id,
  an unknown one, an API reply's and a replay all store nothing (the job says which). The job runs
  after the reply's own write if that is still queued (the page reports once the final frame is painted, and the
  final frame goes out once the reply is handed to the writer), so the row is found in the same transaction.
* An error report is de-duplicated by a fingerprint of (kind, message, stack, version, page): a known one counts up
  and moves ``last_seen``; a new one is stored while the table holds fewer than ``MAX_ERROR_ROWS`` distinct errors,
  else it is dropped (the counts of the known ones still grow). Texts arrive already cut to size.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.orm import Session

from storage.schema import BrowserError, BrowserReply, Generation

MAX_ERROR_ROWS = 1000
PAGE_SOURCE = "chat"  # generations.source of the chat page's replies

ReplyOutcome = Literal["stored", "unknown", "replayed"]


@dataclass(frozen=True, slots=True)
class ReplySeen:
    """A browser's measurements of one reply (ms from Send or Enter, on the page's clock)."""

    felt_ttft_ms: float
    felt_last_token_ms: float
    frames: int
    long_frames: int
    fps: float | None
    heap_bytes: int | None


@dataclass(frozen=True, slots=True)
class SaveReplySeen:
    message_id: uuid.UUID  # the reply's assistant message, as the page shows it
    user_id: uuid.UUID  # who sent the report
    seen: ReplySeen
    connection: Literal["local", "remote"]
    now: datetime

    def __call__(self, session: Session) -> ReplyOutcome:
        generation_id = session.scalar(
            select(Generation.id).where(
                Generation.message_id == self.message_id,
                Generation.user_id == self.user_id,
                Generation.source == PAGE_SOURCE,
            )
        )
        if generation_id is None:
            return "unknown"
        if session.scalar(select(exists().where(BrowserReply.generation_id == generation_id))):
            return "replayed"
        values = {
            "generation_id": generation_id,
            "user_id": self.user_id,
            "connection": self.connection,
            "created_at": self.now,
            "felt_ttft_ms": self.seen.felt_ttft_ms,
            "felt_last_token_ms": self.seen.felt_last_token_ms,
            "frames": self.seen.frames,
            "long_frames": self.seen.long_frames,
            "fps": self.seen.fps,
            "heap_bytes": self.seen.heap_bytes,
        }
        # Another replica may store the same report at the same moment (PostgreSQL): the first one counts.
        stored = session.execute(
            upsert(BrowserReply).values(values).on_conflict_do_nothing(index_elements=[BrowserReply.generation_id])
        )
        return "stored" if getattr(stored, "rowcount", 1) != 0 else "replayed"


def error_fingerprint(kind: str, message: str, stack: str, version: str, page: str) -> str:
    return hashlib.sha256("\x00".join((kind, message, stack, version, page)).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SaveBrowserError:
    kind: Literal["error", "rejection"]
    message: str
    stack: str
    version: str
    page: str
    now: datetime
    max_rows: int = MAX_ERROR_ROWS

    def __call__(self, session: Session) -> Literal["counted", "stored", "dropped"]:
        fingerprint = error_fingerprint(self.kind, self.message, self.stack, self.version, self.page)
        counted = session.execute(
            update(BrowserError)
            .where(BrowserError.fingerprint == fingerprint)
            .values(count=BrowserError.count + 1, last_seen=self.now)
        )
        if getattr(counted, "rowcount", 0):
            return "counted"
        if (session.scalar(select(func.count()).select_from(BrowserError)) or 0) >= self.max_rows:
            return "dropped"
        row = {
            "fingerprint": fingerprint,
            "kind": self.kind,
            "message": self.message,
            "stack": self.stack,
            "version": self.version,
            "page": self.page,
            "count": 1,
            "first_seen": self.now,
            "last_seen": self.now,
        }
        session.execute(
            upsert(BrowserError).values(row).on_conflict_do_nothing(index_elements=[BrowserError.fingerprint])
        )
        return "stored"
