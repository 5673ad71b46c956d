"""Writes of the model servers' load readings (``server_load``), run on the writer thread like every other write.

One job per scrape round: that round's rows in one INSERT, and, once in a while, the retention:

* readings older than the keep cut-off (``MODEL_METRICS_KEEP_DAYS``) are deleted in one DELETE (on the
  ``(server_url, sampled_at)`` index's second column: a range scan per server);
* readings older than the downsampling cut-off (``MODEL_METRICS_FULL_DAYS``) are merged, per server, into one per
  ``DOWNSAMPLE_STEP_S`` bucket: the bucket's mean of each value, stamped at the bucket's middle. A reply's state at
  its start is copied onto its row when the row is written (``storage.server_state``), from the full readings, so
  merging loses it for no reply written since; a row written before that is joined to the latest reading at most
  ``NEAREST_SAMPLE_S`` (10 s) before its start, which half the starts over merged readings no longer find. At a 5 s
  interval this keeps a quarter of the rows past the cut-off: with the defaults (3 full days, 30 kept) a server has
  at most 17,280 × 3 + 4,320 × 27 ≈ 168,000 rows, not 518,400.

Merging is idempotent (a merged bucket's one row merges into itself), so a window may be merged twice: the DELETE and
the INSERT of a window are in the same transaction as everything else of the batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, text
from sqlalchemy.orm import Session

from storage.schema import ServerLoadSample

DOWNSAMPLE_STEP_S = 20
VALUES = ("waiting", "running", "batch_size", "kv_cache_use", "server_ttft_ms", "server_queue_ms")
_BUCKET = "floor(CAST(extract(epoch FROM sampled_at) AS double precision) / :step)"
_MERGED = f"""
    SELECT server_url, {_BUCKET} AS bucket, max(backend) AS backend,
           {", ".join(f"CAST(avg({name}) AS double precision) AS {name}" for name in VALUES)}
    FROM server_load WHERE sampled_at >= :start AND sampled_at < :end
    GROUP BY 1, 2"""


@dataclass(frozen=True, slots=True)
class Downsample:
    """Merge the readings in ``[start, end)`` into one per server per ``step_s`` (``end`` is floored to a step, so a
    bucket is never merged while it still gets readings)."""

    start: datetime
    end: datetime
    step_s: int = DOWNSAMPLE_STEP_S

    def __call__(self, session: Session) -> int:
        """Returns the number of rows the window lost."""
        end_epoch = (self.end.timestamp() // self.step_s) * self.step_s
        end = datetime.fromtimestamp(end_epoch, UTC)
        if end <= self.start:
            return 0
        window = {"start": self.start, "end": end, "step": self.step_s}
        merged = [dict(row._mapping) for row in session.execute(text(_MERGED), window)]
        if not merged:
            return 0
        removed = session.execute(
            delete(ServerLoadSample).where(ServerLoadSample.sampled_at >= self.start, ServerLoadSample.sampled_at < end)
        )
        rows = [
            {
                "id": uuid.uuid4(),
                "server_url": row["server_url"],
                "backend": row["backend"],
                "sampled_at": datetime.fromtimestamp(float(row["bucket"]) * self.step_s + self.step_s / 2, UTC),
                **{name: row[name] for name in VALUES},
            }
            for row in merged
        ]
        session.execute(insert(ServerLoadSample), rows)
        return int(getattr(removed, "rowcount", 0) or 0) - len(rows)


@dataclass(frozen=True, slots=True)
class SaveLoadSamples:
    rows: Sequence[dict[str, Any]]  # ``server_load`` columns, ``id`` included
    drop_before: datetime | None = None  # delete readings older than this (the retention), if set
    downsample: Downsample | None = None  # and merge these older readings

    def __call__(self, session: Session) -> int:
        """Apply in the writer's transaction; returns the number of old readings deleted."""
        if self.rows:
            session.execute(insert(ServerLoadSample), list(self.rows))
        if self.drop_before is None:
            return 0
        dropped = session.execute(delete(ServerLoadSample).where(ServerLoadSample.sampled_at < self.drop_before))
        if self.downsample is not None:
            self.downsample(session)
        return int(getattr(dropped, "rowcount", 0) or 0)
