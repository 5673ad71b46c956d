"""The model server's state at a reply's start, put on its ``generations`` row when the row is written.

The load scraper (``analytics.load_scraper``) hands each round's readings to ``RecentReadings`` as it queues them for
``server_load``; the writer asks it for a reply's state when it builds the row (``storage.writes.generation_row``).

Invariants:
* The state at a start is the server's latest reading at or before the start, at most ``NEAREST_SAMPLE_S`` old —
  the rule ``analytics.queries.server_state_sql`` applies to ``server_load`` for the rows written without it, so
  both give the same reading on the same data. A reading after the start is never taken: it counts the reply
  itself, and it does not exist yet when a short reply is written.
* The start is the row's ``created_at`` less its ``duration_ms``, as the join computes it.
* No database read and nothing on the token path: a lookup is a bisect in memory, once per finished reply, on the
  writer thread. Bounded: per server, the readings of the last ``keep_s`` (an hour: the longest reply the join
  looks back for), at most ``max_per_server``.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

# Twice the default MODEL_METRICS_INTERVAL_S, so one missed reading still leaves one. (The join's slots are this
# wide: a wider window multiplies its candidates per reply.)
NEAREST_SAMPLE_S = 10.0
LONGEST_REPLY = timedelta(hours=1)
# The row's columns and the ``server_load`` columns they copy.
STATE_COLUMNS = {
    "server_waiting": "waiting",
    "server_running": "running",
    "server_kv_cache": "kv_cache_use",
    "server_sampled_at": "sampled_at",
}
NO_STATE: dict[str, Any] = dict.fromkeys(STATE_COLUMNS)


class RecentReadings:
    """Each model server's recent readings, oldest first; thread-safe (the scraper adds, the writer reads)."""

    def __init__(
        self,
        *,
        keep: timedelta = LONGEST_REPLY + timedelta(seconds=NEAREST_SAMPLE_S),
        near_s: float = NEAREST_SAMPLE_S,
        max_per_server: int = 20_000,
    ) -> None:
        self._keep = keep
        self._near = timedelta(seconds=near_s)
        self._max = max_per_server
        self._lock = threading.Lock()
        self._times: dict[str, list[datetime]] = {}
        self._states: dict[str, list[dict[str, Any]]] = {}

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        """Readings as ``server_load`` rows (``server_url``, ``sampled_at`` and the values)."""
        with self._lock:
            for row in rows:
                url, at = row["server_url"], row["sampled_at"]
                times = self._times.setdefault(url, [])
                states = self._states.setdefault(url, [])
                index = bisect.bisect_right(times, at)  # in order but for a clock stepped back
                times.insert(index, at)
                states.insert(index, {name: row[column] for name, column in STATE_COLUMNS.items()})
                cut = max(bisect.bisect_left(times, times[-1] - self._keep), len(times) - self._max)
                if cut > 0:
                    del times[:cut], states[:cut]

    def state_at(self, server_url: str | None, started_at: datetime) -> dict[str, Any]:
        """The row's four state columns for a reply of ``server_url`` that started at ``started_at`` (all None
        without a reading in ``[started_at - NEAREST_SAMPLE_S, started_at]``)."""
        if server_url is None:
            return NO_STATE
        with self._lock:
            times = self._times.get(server_url)
            if not times:
                return NO_STATE
            index = bisect.bisect_right(times, started_at) - 1
            if index < 0 or started_at - times[index] > self._near:
                return NO_STATE
            return dict(self._states[server_url][index])
