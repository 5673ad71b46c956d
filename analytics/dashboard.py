"""Everything the analytics tab shows, read in one go, off the event loop, and cached briefly.

Invariants:
* Reads run on a small dedicated thread pool (never on the event loop, never competing for more than
  ``workers`` threads), each on its own pooled connection of the store's engine.
* A view is cached for ``ttl_s`` keyed by its filters; callers align "last hour/day/week" to ``ttl_s`` so that
  repeated views (auto-refresh, several admins) hit the cache instead of the database.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar

import pandas as pd
from sqlalchemy import Engine

from analytics import browser_queries, distributions, load_queries, queries
from analytics.queries import Filters

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Dashboard:
    filters: Filters
    step_s: int
    kpis: pd.DataFrame
    requests: pd.DataFrame
    ttft: pd.DataFrame
    errors: pd.DataFrame
    tokens_per_s: pd.DataFrame
    ttft_by_prompt: pd.DataFrame
    ttft_by_in_flight: pd.DataFrame
    feedback_by_ttft: pd.DataFrame
    stop_rate: pd.DataFrame
    thinking: pd.DataFrame
    slowest: pd.DataFrame
    failed: pd.DataFrame
    by_caller: pd.DataFrame
    server_load: pd.DataFrame
    ttft_by_server_queue: pd.DataFrame
    client_vs_server_ttft: pd.DataFrame
    ttft_histogram: pd.DataFrame
    tokens_per_s_histogram: pd.DataFrame
    by_model: pd.DataFrame
    by_source: pd.DataFrame
    by_user: pd.DataFrame
    felt_ttft: pd.DataFrame
    browser_errors: pd.DataFrame
    models: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    elapsed_ms: float = 0.0


def read_dashboard(engine: Engine, filters: Filters) -> Dashboard:
    """Every query of the tab, on one connection (a consistent read on both DuckDB and PostgreSQL)."""
    started = time.monotonic()
    step_s = filters.interval_s()
    with engine.connect() as c:
        models, users = queries.models_and_users(c, filters)
        ttft_histogram, tokens_per_s_histogram = distributions.histograms(c, filters)
        by_model, by_source = distributions.percentiles_by_model_and_source(c, filters)
        requests, ttft = queries.over_time(c, filters, step_s)
        ttft_by_prompt, ttft_by_in_flight = queries.latency_buckets(c, filters)
        board = Dashboard(
            filters=filters,
            step_s=step_s,
            kpis=queries.kpis(c, filters),
            requests=requests,
            ttft=ttft,
            errors=queries.errors_over_time(c, filters, step_s),
            tokens_per_s=distributions.tokens_per_s_p50(by_model),
            ttft_by_prompt=ttft_by_prompt,
            ttft_by_in_flight=ttft_by_in_flight,
            feedback_by_ttft=queries.feedback_by_ttft(c, filters),
            stop_rate=queries.stop_rate_by_latency(c, filters),
            thinking=queries.thinking_by_model(c, filters),
            slowest=queries.slowest_generations(c, filters),
            failed=queries.failed_generations(c, filters),
            by_caller=queries.usage_by_caller(c, filters),
            server_load=load_queries.server_load_over_time(c, filters, step_s),
            ttft_by_server_queue=load_queries.ttft_by_server_queue(c, filters),
            client_vs_server_ttft=load_queries.client_vs_server_ttft(c, filters, step_s),
            ttft_histogram=ttft_histogram,
            tokens_per_s_histogram=tokens_per_s_histogram,
            by_model=by_model,
            by_source=by_source,
            by_user=distributions.percentiles_by(c, filters, "user"),
            felt_ttft=browser_queries.felt_vs_server_ttft(c, filters),
            browser_errors=browser_queries.browser_errors(c, filters),
            models=models,
            users=users,
        )
        c.rollback()
    return replace(board, elapsed_ms=(time.monotonic() - started) * 1000)


def aligned_range(span: timedelta, align_s: float, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[end - span, end) with ``end`` rounded up to a multiple of ``align_s`` (so views within it share a cache)."""
    now = now or datetime.now(UTC)
    if align_s > 0:
        epoch = now.timestamp()
        now = datetime.fromtimestamp(-(-epoch // align_s) * align_s, UTC)
    return now - span, now


class AnalyticsReader:
    """The tab's access to the store: ``await reader.dashboard(filters)``."""

    def __init__(self, engine: Engine, *, ttl_s: float = 10.0, workers: int = 1, max_entries: int = 64) -> None:
        self._engine = engine
        self.ttl_s = ttl_s
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chatlens-analytics")
        self._cache: OrderedDict[Filters, tuple[float, Dashboard]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries

    @property
    def engine(self) -> Engine:
        return self._engine

    def dashboard_now(self, filters: Filters) -> Dashboard:
        """Blocking read (cached); call it from a worker thread."""
        with self._lock:
            hit = self._cache.get(filters)
            if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
                return hit[1]
        board = read_dashboard(self._engine, filters)
        with self._lock:
            self._cache[filters] = (time.monotonic(), board)
            self._cache.move_to_end(filters)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return board

    async def dashboard(self, filters: Filters) -> Dashboard:
        return await self.run(self.dashboard_now, filters)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking read on the analytics pool."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
