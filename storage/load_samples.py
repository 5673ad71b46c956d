"""Writes of the model servers' load readings (``server_load``), run on the writer thread like every other write.

One job per scrape round: that round's rows in one INSERT, and, once in a while, the rows older than the retention
cut off in one DELETE (on the ``(server_url, sampled_at)`` index's second column: a range scan per server).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from storage.schema import ServerLoadSample


@dataclass(frozen=True, slots=True)
class SaveLoadSamples:
    rows: Sequence[dict[str, Any]]  # ``server_load`` columns, ``id`` included
    drop_before: datetime | None = None  # delete readings older than this (the retention), if set

    def __call__(self, session: Session) -> int:
        """Apply in the writer's transaction; returns the number of old readings deleted."""
        if self.rows:
            session.execute(insert(ServerLoadSample), list(self.rows))
        if self.drop_before is None:
            return 0
        dropped = session.execute(delete(ServerLoadSample).where(ServerLoadSample.sampled_at < self.drop_before))
        return int(getattr(dropped, "rowcount", 0) or 0)
