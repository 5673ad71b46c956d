"""Fake ``/metrics`` pages of TGI and vLLM, with the real metric names, whose values tests change on command.

* ``TgiLoad``: the page TGI's router writes (metrics-exporter-prometheus, Rust): ``tgi_queue_size`` and
  ``tgi_batch_current_size`` gauges, and ``tgi_request_queue_duration`` as a histogram with TGI's buckets
  (``router/src/server.rs``: 35 geometric buckets from 0.1 ms × 1.5 for every metric ending in ``duration``). Names:
  TGI's ``docs/source/reference/metrics.md``.
* ``VllmLoad``: written by prometheus_client, as vLLM does (``vllm/v1/metrics/loggers.py``): gauges
  ``vllm:num_requests_waiting``, ``vllm:num_requests_running``, ``vllm:kv_cache_usage_perc`` and the deprecated
  ``vllm:gpu_cache_usage_perc``, histograms ``vllm:time_to_first_token_seconds`` and
  ``vllm:request_queue_time_seconds`` with vLLM's buckets, every series labelled ``model_name`` and ``engine``.

``FakeTgi.metrics`` serves one of them at ``/metrics`` (``None``: 404, a server without metrics).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

TGI_DURATION_BUCKETS = [0.0001 * 1.5 ** (k + 1) for k in range(35)]
VLLM_TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                     20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]  # fmt: skip
VLLM_LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0,
                        240.0, 480.0, 960.0, 1920.0, 7680.0]  # fmt: skip


@dataclass
class TgiLoad:
    queue_size: int = 0
    batch_size: int = 0
    queue_durations_s: list[float] = field(default_factory=list)  # every request's time in the queue so far

    def set(self, *, waiting: int, running: int) -> None:
        self.queue_size, self.batch_size = waiting, running

    def page(self) -> str:
        lines = [
            "# TYPE tgi_request_count counter",
            f"tgi_request_count {len(self.queue_durations_s)}",
            "# TYPE tgi_queue_size gauge",
            f"tgi_queue_size {self.queue_size}",
            "# TYPE tgi_batch_current_size gauge",
            f"tgi_batch_current_size {self.batch_size}",
            "# TYPE tgi_batch_current_max_tokens gauge",
            f"tgi_batch_current_max_tokens {self.batch_size * 512}",
            "# TYPE tgi_request_queue_duration histogram",
        ]
        for bound in TGI_DURATION_BUCKETS:
            below = sum(1 for d in self.queue_durations_s if d <= bound)
            lines.append(f'tgi_request_queue_duration_bucket{{le="{bound}"}} {below}')
        lines += [
            f'tgi_request_queue_duration_bucket{{le="+Inf"}} {len(self.queue_durations_s)}',
            f"tgi_request_queue_duration_sum {sum(self.queue_durations_s)}",
            f"tgi_request_queue_duration_count {len(self.queue_durations_s)}",
        ]
        return "\n".join(lines) + "\n"


class VllmLoad:
    def __init__(self, model_name: str = "fake-org/fake-llama-3-8b-instruct") -> None:
        self.registry = CollectorRegistry()
        labels = ["model_name", "engine"]

        def gauge(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, labels, registry=self.registry)

        def histogram(name: str, documentation: str, buckets: list[float]) -> Histogram:
            return Histogram(name, documentation, labels, registry=self.registry, buckets=buckets)

        key = (model_name, "0")
        self._waiting = gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.").labels(*key)
        self._running = gauge("vllm:num_requests_running", "Number of requests in model execution batches.").labels(
            *key
        )
        self._gpu_cache = gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. DEPRECATED.").labels(*key)
        self._kv_cache = gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.").labels(*key)
        self._ttft = histogram(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", VLLM_TTFT_BUCKETS
        ).labels(*key)
        self._queue = histogram(
            "vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase.", VLLM_LATENCY_BUCKETS
        ).labels(*key)

    def set(self, *, waiting: int, running: int, kv_cache: float = 0.0) -> None:
        self._waiting.set(waiting)
        self._running.set(running)
        self._gpu_cache.set(kv_cache)
        self._kv_cache.set(kv_cache)

    def observe(self, *, ttft_s: float, queue_s: float = 0.0) -> None:
        """One request's time to first token and time waiting, as vLLM records them."""
        self._ttft.observe(ttft_s)
        self._queue.observe(queue_s)

    def page(self) -> str:
        return generate_latest(self.registry).decode()


LoadPage = TgiLoad | VllmLoad
