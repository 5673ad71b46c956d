"""Prometheus metrics of the replies, served as ``GET /metrics`` (prometheus-client's text format).

Invariants:
* Observed once per finished reply (``ReplyMetrics.observe``, called by the recorder when a turn is handed over),
  never per token: a few counter increments and histogram observations on the event loop.
* One registry per app (not the process-global one), so two apps in one process (tests) never collide.
* Labels are bounded: ``model`` is the model server's reported model id, ``error_type`` one of the error kinds.
* Live values (streams, queue, commit time, SLO state) are read when scraped, through callables.

Names: ``chatlens_streams_active`` and ``chatlens_db_commit_ms_median`` keep their names from the hand-written
endpoint; the rest are new.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from analytics.slo import SloMonitor
from inference.types import TurnRecord

CONTENT_TYPE = CONTENT_TYPE_LATEST
TTFT_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
DURATION_BUCKETS_S = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
RATE_BUCKETS = (1.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 400.0)


class ReplyMetrics:
    def __init__(
        self,
        *,
        streams_active: Callable[[], float],
        commit_ms: Callable[[], Iterable[float]] | None = None,
        queue_size: Callable[[], float] = lambda: 0.0,
        slo: SloMonitor | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.replies = Counter(
            "chatlens_replies",
            "Replies finished, by model, status and source (chat, gradio_api, openai_api).",
            ["model", "status", "source"],
            registry=r,
        )
        self.prompt_tokens = Counter(
            "chatlens_prompt_tokens", "Prompt tokens reported by the model server.", ["model", "source"], registry=r
        )
        self.output_tokens = Counter("chatlens_output_tokens", "Tokens generated.", ["model", "source"], registry=r)
        self.errors = Counter(
            "chatlens_errors", "Failed replies, by error type.", ["model", "error_type", "source"], registry=r
        )
        self.ttft = _by_model(r, "chatlens_time_to_first_token_seconds", "Time from the request to the first token.")
        self.ttfa = _by_model(
            r,
            "chatlens_time_to_first_answer_seconds",
            "Time from the request to the first answer token (after any thinking).",
        )
        self.thinking = _by_model(
            r,
            "chatlens_thinking_seconds",
            "How long a reply that thought did so before its answer.",
            DURATION_BUCKETS_S,
        )
        self.thinking_tokens = Counter(
            "chatlens_thinking_tokens", "Thinking tokens (part of chatlens_output_tokens).", ["model"], registry=r
        )
        self.duration = _by_model(
            r, "chatlens_reply_duration_seconds", "Time from the request to the end of the reply.", DURATION_BUCKETS_S
        )
        self.rate = _by_model(
            r,
            "chatlens_tokens_per_second",
            "Decode rate of a reply (tokens after the first, per second).",
            RATE_BUCKETS,
        )
        Gauge("chatlens_streams_active", "Replies streaming now.", registry=r).set_function(streams_active)
        Gauge("chatlens_queue_size", "Events waiting in Gradio's queue.", registry=r).set_function(queue_size)
        Gauge(
            "chatlens_event_loop_tasks", "Asyncio tasks alive on the serving event loop (leak watch).", registry=r
        ).set_function(_tasks_alive)
        if commit_ms is not None:
            Gauge(
                "chatlens_db_commit_ms_median", "Median group-commit time of the last 10,000 commits (ms).", registry=r
            ).set_function(lambda: _median(commit_ms()))
            Gauge(
                "chatlens_db_commit_ms_p99",
                "99th percentile group-commit time of the last 10,000 commits (ms).",
                registry=r,
            ).set_function(lambda: _p99(commit_ms()))
        if slo is not None:
            self.watch_slos(slo)

    def watch_slos(self, monitor: SloMonitor) -> None:
        """``chatlens_slo_breached``, ``chatlens_slo_value`` and ``chatlens_slo_threshold``, labelled by SLO."""
        self.registry.register(_SloCollector(monitor))

    def observe(self, record: TurnRecord) -> None:
        """Count one finished reply (complete, stopped or failed)."""
        model = record.model.model_id if record.model else "unknown"
        m = record.metrics
        source = record.origin.source
        self.replies.labels(model, record.status, source).inc()
        self.output_tokens.labels(model, source).inc(m.output_tokens)
        if m.prompt_tokens:
            self.prompt_tokens.labels(model, source).inc(m.prompt_tokens)
        if record.status == "error":
            self.errors.labels(model, record.error_type or "unknown", source).inc()
        if (ttft_ms := m.time_to_first_token_ms) is not None:
            self.ttft.labels(model).observe(ttft_ms / 1000)
        if (ttfa_ms := m.time_to_first_answer_ms) is not None:
            self.ttfa.labels(model).observe(ttfa_ms / 1000)
        if (thinking_ms := m.thinking_ms) is not None:
            self.thinking.labels(model).observe(thinking_ms / 1000)
        if m.reasoning_tokens:
            self.thinking_tokens.labels(model).inc(m.reasoning_tokens)
        self.duration.labels(model).observe(m.duration_ms / 1000)
        if (rate := m.tokens_per_s) is not None:
            self.rate.labels(model).observe(rate)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _by_model(
    registry: CollectorRegistry, name: str, documentation: str, buckets: tuple[float, ...] = TTFT_BUCKETS_S
) -> Histogram:
    """A histogram labelled by ``model`` in ``registry``."""
    return Histogram(name, documentation, ["model"], buckets=buckets, registry=registry)


def _tasks_alive() -> float:
    """Read while ``/metrics`` is served, on the serving loop; NaN when scraped from elsewhere."""
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:
        return float("nan")


def _median(values: Iterable[float]) -> float:
    listed = list(values)
    return statistics.median(listed) if listed else 0.0


def _p99(values: Iterable[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


class _SloCollector:
    def __init__(self, monitor: SloMonitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterable[Metric]:
        state = self._monitor.state
        breached = GaugeMetricFamily("chatlens_slo_breached", "1 while the SLO is breached.", labels=["slo"])
        value = GaugeMetricFamily("chatlens_slo_value", "The SLO's measured value over its window.", labels=["slo"])
        threshold = GaugeMetricFamily("chatlens_slo_threshold", "The SLO's configured threshold.", labels=["slo"])
        for slo in state.slos:
            breached.add_metric([slo.name], 1.0 if slo.breached else 0.0)
            if slo.value is not None:
                value.add_metric([slo.name], slo.value)
            threshold.add_metric([slo.name], slo.threshold)
        return [breached, value, threshold]
