"""The load scraper: every configured model server's ``/metrics`` read each ``MODEL_METRICS_INTERVAL_S``, mapped to
the common set (``analytics.server_load``) and stored in ``server_load`` through the writer thread.

Invariants:
* Never on a reply's path: a daemon thread of its own with its own HTTP client (not the streaming pool). A slow or
  dead server costs this thread a timeout and nothing else; the thread never waits for its writes.
* Off where there is nothing to read: a server answering 404, or a page with none of the known names, is not asked
  again (logged once). Other failures (refused, timed out, 5xx) skip that server for the round only.
* Bounded: per server only the previous page's histogram totals are kept; a page over ``MAX_PAGE_BYTES`` is not
  read; readings older than ``keep_days`` are deleted at start and then hourly, in the same job as a round's rows,
  and readings older than ``full_days`` merged to one per 20 s (``storage.load_samples``). The retention keeps
  running when every server is off (the thread then wakes hourly), so what was recorded before still ages out.
* One write job per round, all servers' rows in one INSERT. The same rows go to ``readings`` (in memory), where the
  writer finds each reply's server state at its start (``storage.server_state``) without reading the database.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx2
from sqlalchemy.orm import Session

from analytics.server_load import LoadPage, interval_mean_ms, read_load_page
from storage.load_samples import Downsample, SaveLoadSamples
from storage.server_state import RecentReadings

log = logging.getLogger(__name__)

MAX_PAGE_BYTES = 4 * 1024 * 1024  # a vLLM page with a few engines is ~100 KB
PRUNE_EVERY_S = 3600.0


class WorkQueue(Protocol):
    """The writer thread, as the scraper uses it (``storage.writer.WriteBehindRecorder`` satisfies it)."""

    def submit(self, apply: Callable[[Session], Any]) -> concurrent.futures.Future[Any]: ...


@dataclass
class _Server:
    url: str
    token: str | None
    active: bool = True
    previous: LoadPage | None = None


class LoadScraper:
    def __init__(
        self,
        servers: Sequence[tuple[str, str | None]],
        *,
        writer: WorkQueue,
        interval_s: float,
        keep_days: float,
        full_days: float | None = None,
        timeout_s: float = 3.0,
        prune_every_s: float = PRUNE_EVERY_S,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        readings: RecentReadings | None = None,
    ) -> None:
        """``servers``: (base URL, bearer token or None); a URL named twice is read once. ``readings``: where each
        round's rows are also kept in memory (the writer's, for the replies' server state)."""
        unique = dict(servers)
        self._servers = [_Server(url.rstrip("/"), token) for url, token in unique.items()]
        self._writer = writer
        self._readings = readings
        self.interval_s = interval_s
        self._keep = timedelta(days=keep_days)
        self._full = timedelta(days=full_days) if full_days is not None and full_days < keep_days else None
        self._merged_to: datetime | None = None  # readings before this were merged by this process already
        self._now = now
        self._client = httpx2.Client(timeout=min(timeout_s, interval_s or timeout_s), follow_redirects=False)
        self._pruned_at: float | None = None
        self._prune_every_s = prune_every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active_servers(self) -> list[str]:
        return [server.url for server in self._servers if server.active]

    def scrape_round(self) -> list[dict[str, Any]]:
        """Read every active server once and queue the rows (and, when due, the retention's delete)."""
        rows = [row for server in self._servers if server.active and (row := self._scrape(server)) is not None]
        drop_before = downsample = None
        if self.retention_due():
            self._pruned_at = time.monotonic()
            now = self._now()
            drop_before = now - self._keep
            if self._full is not None:
                # The first time the whole span past the cut-off; then what crossed it since (and one hour more).
                merge_from = drop_before if self._merged_to is None else self._merged_to - timedelta(hours=1)
                downsample = Downsample(max(merge_from, drop_before), now - self._full)
                self._merged_to = downsample.end
        if rows and self._readings is not None:
            self._readings.add(rows)
        if rows or drop_before is not None:
            self._writer.submit(SaveLoadSamples(rows, drop_before, downsample)).add_done_callback(_log_failure)
        return rows

    def retention_due(self) -> bool:
        return self._pruned_at is None or time.monotonic() - self._pruned_at >= self._prune_every_s

    def _scrape(self, server: _Server) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
        try:
            with self._client.stream("GET", f"{server.url}/metrics", headers=headers) as response:
                if response.status_code == 404:
                    self._turn_off(server, "answers 404 for /metrics")
                    return None
                if response.status_code != 200:
                    log.debug("%s/metrics answered %s; skipped this round", server.url, response.status_code)
                    return None
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_PAGE_BYTES:
                        log.warning("%s/metrics is over %d bytes; skipped this round", server.url, MAX_PAGE_BYTES)
                        return None
        except httpx2.HTTPError as exc:
            log.debug("%s/metrics could not be read (%s); skipped this round", server.url, exc)
            return None
        try:
            page = read_load_page(body.decode("utf-8", errors="replace"))
        except ValueError:
            page = None
        if page is None:
            self._turn_off(server, "publishes none of the metrics ChatLens reads")
            return None
        previous, server.previous = server.previous, page
        before = previous if previous is not None and previous.backend == page.backend else None
        return {
            "id": uuid.uuid4(),
            "server_url": server.url,
            "backend": page.backend,
            "sampled_at": self._now(),
            "waiting": page.waiting,
            "running": page.running,
            "batch_size": page.batch_size,
            "kv_cache_use": page.kv_cache_use,
            "server_ttft_ms": interval_mean_ms(before.ttft if before else None, page.ttft),
            "server_queue_ms": interval_mean_ms(before.queue_time if before else None, page.queue_time),
        }

    @staticmethod
    def _turn_off(server: _Server, why: str) -> None:
        server.active = False
        log.info("the model server at %s %s: its load is not recorded", server.url, why)

    def start(self) -> threading.Thread | None:
        """Scrape now and then every ``interval_s`` on a daemon thread (hourly, for the retention only, once every
        server is off); nothing when off (interval 0, no server)."""
        if self.interval_s <= 0 or not self._servers:
            return None

        def loop() -> None:
            while True:
                started = time.monotonic()
                try:
                    self.scrape_round()
                except Exception:
                    log.exception("a model server load scrape failed")
                if self._stop.wait(self._until_next_round(started)):
                    return

        self._thread = threading.Thread(target=loop, name="chatlens-load-scraper", daemon=True)
        self._thread.start()
        return self._thread

    def _until_next_round(self, started: float) -> float:
        """Seconds to wait: the interval while a server is read; with every server off only the retention is left
        to do, so until it is due."""
        if self.active_servers:
            return max(self.interval_s - (time.monotonic() - started), 0.0)
        due_at = (self._pruned_at or started) + self._prune_every_s
        return max(due_at - time.monotonic(), 0.0)

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._client.close()


def _log_failure(future: concurrent.futures.Future[Any]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("model server load readings were not saved: %s", exc)
