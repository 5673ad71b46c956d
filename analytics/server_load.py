"""A model server's load, read from its Prometheus ``/metrics`` page and mapped to a small common set.

The common set (``LoadPage``): requests waiting, requests running, batch size, KV-cache use (0–1), and the
cumulative (sum, count) of the server's own TTFT and queue-time histograms, which ``interval_mean_ms`` turns into
the mean of the requests observed between two pages. What a backend does not publish stays ``None``.

The names, per backend, from each server's source (checked December 2026):

* **TGI** — ``docs/source/reference/metrics.md``; ``tgi_queue_size`` (gauge) and ``tgi_request_queue_duration``
  (histogram, seconds) are set in the router's queue (``backends/v3/src/queue.rs``), ``tgi_batch_current_size``
  (gauge) by its batching loop; ``router/src/server.rs`` gives every metric ending in ``duration`` histogram
  buckets (35 geometric buckets from 0.1 ms). TGI publishes no KV-cache use and no time to first token.
* **vLLM** — ``vllm/v1/metrics/loggers.py`` (``PrometheusStatLogger``): ``vllm:num_requests_waiting``,
  ``vllm:num_requests_running``, ``vllm:kv_cache_usage_perc`` (a fraction: "1 means 100 percent usage"; before
  it, the deprecated ``vllm:gpu_cache_usage_perc``), and the histograms ``vllm:time_to_first_token_seconds`` and
  ``vllm:request_queue_time_seconds``. Every series is labelled ``model_name`` and ``engine``: counts are summed
  over the engines, the KV-cache use is their mean.
* **llama.cpp** ``llama-server --metrics`` — ``tools/server/server-context.cpp``: ``llamacpp:requests_processing``
  and ``llamacpp:requests_deferred`` (gauges); ``llamacpp:kv_cache_usage_ratio`` in the builds that had it.

Parsing is prometheus_client's own text parser, given only the lines of the names above; nothing here does I/O.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True, slots=True)
class MetricNames:
    """Where one backend publishes each value of the common set; the first name found counts."""

    backend: str
    waiting: tuple[str, ...] = ()
    running: tuple[str, ...] = ()
    batch_size: tuple[str, ...] = ()
    kv_cache: tuple[str, ...] = ()
    ttft: tuple[str, ...] = ()  # histograms, in seconds
    queue_time: tuple[str, ...] = ()  # histograms, in seconds

    @property
    def gauges(self) -> tuple[str, ...]:
        return (*self.waiting, *self.running, *self.batch_size, *self.kv_cache)


BACKENDS = (
    MetricNames(
        "tgi",
        waiting=("tgi_queue_size",),
        running=("tgi_batch_current_size",),  # TGI's running requests are its current batch
        batch_size=("tgi_batch_current_size",),
        queue_time=("tgi_request_queue_duration",),
    ),
    MetricNames(
        "vllm",
        waiting=("vllm:num_requests_waiting",),
        running=("vllm:num_requests_running",),
        kv_cache=("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        ttft=("vllm:time_to_first_token_seconds",),
        queue_time=("vllm:request_queue_time_seconds",),
    ),
    MetricNames(
        "llama.cpp",
        waiting=("llamacpp:requests_deferred",),
        running=("llamacpp:requests_processing",),
        kv_cache=("llamacpp:kv_cache_usage_ratio",),
    ),
)


@dataclass(frozen=True, slots=True)
class Histogram:
    """A histogram's running totals: the sum of its observations (seconds) and their count."""

    sum_s: float
    count: float


@dataclass(frozen=True, slots=True)
class LoadPage:
    backend: str
    waiting: float | None = None
    running: float | None = None
    batch_size: float | None = None
    kv_cache_use: float | None = None
    ttft: Histogram | None = None
    queue_time: Histogram | None = None


def read_load_page(text: str) -> LoadPage | None:
    """The common set from one ``/metrics`` page; ``None`` when the page has none of the known names (a server
    that publishes nothing we read). Raises ``ValueError`` on text that is not Prometheus exposition."""
    values: dict[str, list[float]] = defaultdict(list)
    for family in text_string_to_metric_families(_wanted_lines(text)):
        for sample in family.samples:
            if math.isfinite(sample.value):
                values[sample.name].append(float(sample.value))
    for names in BACKENDS:
        histograms = (*names.ttft, *names.queue_time)
        if any(name in values for name in names.gauges) or any(f"{name}_count" in values for name in histograms):
            return LoadPage(
                backend=names.backend,
                waiting=_total(values, names.waiting),
                running=_total(values, names.running),
                batch_size=_total(values, names.batch_size),
                kv_cache_use=_fraction(values, names.kv_cache),
                ttft=_histogram(values, names.ttft),
                queue_time=_histogram(values, names.queue_time),
            )
    return None


def _sample_names() -> frozenset[str]:
    gauges = {name for names in BACKENDS for name in names.gauges}
    histograms = {name for names in BACKENDS for name in (*names.ttft, *names.queue_time)}
    return frozenset(gauges | {f"{name}_{part}" for name in histograms for part in ("sum", "count")})


SAMPLE_NAMES = _sample_names()


def _wanted_lines(text: str) -> str:
    """Only the sample lines of the names read here, for the parser: a vLLM page is mostly histogram buckets and
    metrics we do not read, and prometheus_client's parser is pure Python (a 56 KB page: ~19 ms to parse whole).
    Without their ``# TYPE`` lines the samples parse as untyped, under their own names, which is how they are read."""
    wanted = [
        line
        for line in text.splitlines()
        if line and line[0] != "#" and line.split("{", 1)[0].split(" ", 1)[0] in SAMPLE_NAMES
    ]
    return "\n".join(wanted) + "\n"


def interval_mean_ms(before: Histogram | None, after: Histogram | None) -> float | None:
    """The mean of the observations made between two pages, in ms; ``None`` without any (or when the server
    restarted in between and its counters started again)."""
    if before is None or after is None:
        return None
    count = after.count - before.count
    total_s = after.sum_s - before.sum_s
    if count <= 0 or total_s < 0:
        return None
    return total_s / count * 1000


def _first(values: dict[str, list[float]], names: tuple[str, ...]) -> list[float] | None:
    return next((values[name] for name in names if name in values), None)


def _total(values: dict[str, list[float]], names: tuple[str, ...]) -> float | None:
    found = _first(values, names)
    return max(sum(found), 0.0) if found else None


def _fraction(values: dict[str, list[float]], names: tuple[str, ...]) -> float | None:
    found = _first(values, names)
    return min(max(sum(found) / len(found), 0.0), 1.0) if found else None


def _histogram(values: dict[str, list[float]], names: tuple[str, ...]) -> Histogram | None:
    for name in names:
        if f"{name}_count" in values and f"{name}_sum" in values:
            return Histogram(sum_s=sum(values[f"{name}_sum"]), count=sum(values[f"{name}_count"]))
    return None
