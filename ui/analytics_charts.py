"""The Analytics tab's charts, laid out in rows: what each plots and how its axes read. Values come from
``ui.analytics_render.charts_of`` at each refresh, keyed by the same names.

Every value axis starts at zero (``y_lim``; the refresh sets its top): Gradio's plots otherwise fit it to the data,
which exaggerates differences and draws a lone bar with no height at all. Charts over time share one time axis
(the filtered range), so the model server's queue and KV-cache lines sit under the TTFT chart, interval for interval.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import gradio as gr

from analytics.load_queries import WAITING_BUCKETS
from analytics.queries import IN_FLIGHT_BUCKETS, PROMPT_BUCKETS, TTFT_BUCKETS_MS

FROM_ZERO: dict[str, Any] = {"y_lim": [0, None]}
SHARE: dict[str, Any] = {"y_lim": [0, 1], "y_axis_format": ".0%"}
OVER_TIME: dict[str, Any] = {"x": "time", "x_title": "UTC", **FROM_ZERO}


def _labels(buckets: tuple[tuple[int | None, str], ...]) -> list[str]:
    return [label for _, label in buckets]


@dataclass
class Plots:
    ttft: gr.LinePlot
    requests: gr.LinePlot
    server_queue: gr.LinePlot
    server_kv_cache: gr.LinePlot
    tokens_per_s: gr.BarPlot
    errors: gr.BarPlot
    ttft_by_prompt: gr.BarPlot
    ttft_by_in_flight: gr.BarPlot
    ttft_by_server_queue: gr.BarPlot
    client_vs_server_ttft: gr.LinePlot
    feedback_by_ttft: gr.BarPlot
    stop_rate: gr.BarPlot
    ttft_cdf: gr.LinePlot
    tokens_per_s_cdf: gr.LinePlot

    def all(self) -> list[Any]:
        return [getattr(self, f.name) for f in fields(self)]


# The model server's charts start hidden: a refresh shows them when there are readings to draw.
HIDDEN: dict[str, Any] = {"visible": False}


def _line(name: str, y: str, title: str, **options: Any) -> gr.LinePlot:
    return gr.LinePlot(y=y, title=title, elem_id=f"cl-chart-{name.replace('_', '-')}", **{**OVER_TIME, **options})


def _bar(name: str, x: str, y: str, title: str, **options: Any) -> gr.BarPlot:
    return gr.BarPlot(x=x, y=y, title=title, elem_id=f"cl-chart-{name.replace('_', '-')}", **options)


def render_plots() -> Plots:
    ttft_order = _labels(TTFT_BUCKETS_MS)
    with gr.Row():
        ttft = _line("ttft", "ttft_ms", "Time to first token (ms)", color="stat", y_title="ms", color_title="")
        requests = _line("requests", "replies", "Replies per interval", y_title="replies")
    with gr.Row():
        server_queue = _line(
            "server_queue", "requests", "Model server: requests waiting and running", color="state",
            y_title="requests", color_title="", **HIDDEN,
        )  # fmt: skip
        server_kv_cache = _line(
            "server_kv_cache", "kv_cache", "Model server: KV-cache use", y_title="KV cache", **SHARE, **HIDDEN
        )
    with gr.Row():
        tokens_per_s = _bar(
            "tokens_per_s", "model", "tokens_per_s_p50", "Tokens/s p50 by model", x_title="", y_title="tokens/s",
            x_label_angle=-20, **FROM_ZERO,
        )  # fmt: skip
        errors = _bar(
            "errors", "time", "errors", "Errors by type", color="error_type", x_title="UTC", y_title="errors",
            color_title="", **FROM_ZERO,
        )  # fmt: skip
    with gr.Row():
        ttft_by_prompt = _bar(
            "ttft_by_prompt", "bucket", "ttft_p50_ms", "TTFT p50 by prompt length (tokens)",
            x_title="prompt tokens", y_title="ms", sort=_labels(PROMPT_BUCKETS), **FROM_ZERO,
        )  # fmt: skip
        ttft_by_in_flight = _bar(
            "ttft_by_in_flight", "bucket", "ttft_p50_ms", "TTFT p50 by streams in flight at request start",
            x_title="streams in flight", y_title="ms", sort=_labels(IN_FLIGHT_BUCKETS), **FROM_ZERO,
        )  # fmt: skip
    with gr.Row():
        ttft_by_server_queue = _bar(
            "ttft_by_server_queue", "bucket", "ttft_p50_ms", "TTFT p50 by requests waiting at the model server",
            x_title="requests waiting at the start", y_title="ms", sort=_labels(WAITING_BUCKETS), **FROM_ZERO, **HIDDEN,
        )  # fmt: skip
        client_vs_server_ttft = _line(
            "client_vs_server_ttft", "ttft_ms", "Mean TTFT: ChatLens vs the model server's own (ms)", color="side",
            y_title="ms", color_title="", **HIDDEN,
        )  # fmt: skip
    with gr.Row():
        feedback_by_ttft = _bar(
            "feedback_by_ttft", "bucket", "thumbs_up_ratio", "Thumbs-up ratio by time to first token",
            x_title="time to first token", y_title="thumbs-up share", sort=ttft_order, **SHARE,
        )  # fmt: skip
        stop_rate = _bar(
            "stop_rate", "bucket", "stop_rate", "Stop rate by wait for first token",
            x_title="wait for first token", y_title="stopped", sort=ttft_order, **SHARE,
        )  # fmt: skip
    with gr.Row():  # distributions: the share of each model's replies at or under a value (the CDF)
        ttft_cdf = _cdf("ttft_cdf", "TTFT distribution by model: share of replies at or under", "ms")
        tokens_per_s_cdf = _cdf("tokens_per_s_cdf", "Tokens/s distribution by model: share at or under", "tokens/s")
    return Plots(
        ttft, requests, server_queue, server_kv_cache, tokens_per_s, errors, ttft_by_prompt, ttft_by_in_flight,
        ttft_by_server_queue, client_vs_server_ttft, feedback_by_ttft, stop_rate, ttft_cdf, tokens_per_s_cdf,
    )  # fmt: skip


def _cdf(name: str, title: str, unit: str) -> gr.LinePlot:
    """A cumulative distribution per model over the histogram's bucket bounds (``analytics.distributions``)."""
    return gr.LinePlot(
        x="upper", y="cumulative", color="model", title=title, x_title=unit, y_title="share of replies",
        color_title="", elem_id=f"cl-chart-{name.replace('_', '-')}", **SHARE,
    )  # fmt: skip
