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

import locales
from analytics.load_queries import WAITING_BUCKETS
from analytics.queries import IN_FLIGHT_BUCKETS, PROMPT_BUCKETS, TTFT_BUCKETS_MS
from ui.i18n import t

FROM_ZERO: dict[str, Any] = {"y_lim": [0, None]}
SHARE: dict[str, Any] = {"y_lim": [0, 1], "y_axis_format": ".0%"}
OVER_TIME: dict[str, Any] = {"x": "time", **FROM_ZERO}


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


# Each chart's axis titles: a catalogue key (``axis_…``) or a unit, the same in every language. Gradio translates a
# plot's title in the browser but not its axes: a refresh writes them in the request's language (``axis_titles``).
AXES: dict[str, dict[str, str]] = {
    "ttft": {"x_title": "UTC", "y_title": "ms"},
    "requests": {"x_title": "UTC", "y_title": "axis_replies"},
    "server_queue": {"x_title": "UTC", "y_title": "axis_requests"},
    "server_kv_cache": {"x_title": "UTC", "y_title": "axis_kv_cache"},
    "tokens_per_s": {"x_title": "", "y_title": "tokens/s"},
    "errors": {"x_title": "UTC", "y_title": "axis_errors"},
    "ttft_by_prompt": {"x_title": "axis_prompt_tokens", "y_title": "ms"},
    "ttft_by_in_flight": {"x_title": "axis_in_flight", "y_title": "ms"},
    "ttft_by_server_queue": {"x_title": "axis_waiting", "y_title": "ms"},
    "client_vs_server_ttft": {"x_title": "UTC", "y_title": "ms"},
    "feedback_by_ttft": {"x_title": "axis_ttft", "y_title": "axis_thumbs_up"},
    "stop_rate": {"x_title": "axis_wait", "y_title": "axis_stopped"},
    "ttft_cdf": {"x_title": "ms", "y_title": "axis_share"},
    "tokens_per_s_cdf": {"x_title": "tokens/s", "y_title": "axis_share"},
}


def axis_titles(language: str = locales.SOURCE) -> dict[str, dict[str, Any]]:
    """Every chart's axis titles in ``language`` (as ``gr.update`` keywords), by its field name in ``Plots``."""
    return {
        name: {
            axis: locales.text(title, language) if title.startswith("axis_") else title for axis, title in axes.items()
        }
        for name, axes in AXES.items()
    }


def _line(name: str, y: str, **options: Any) -> gr.LinePlot:
    return gr.LinePlot(
        y=y, title=str(t(f"chart_{name}")), elem_id=f"cl-chart-{name.replace('_', '-')}",
        **{**OVER_TIME, **AXIS_TITLES[name], **options},
    )  # fmt: skip


def _bar(name: str, x: str, y: str, **options: Any) -> gr.BarPlot:
    return gr.BarPlot(
        x=x, y=y, title=str(t(f"chart_{name}")), elem_id=f"cl-chart-{name.replace('_', '-')}", **AXIS_TITLES[name],
        **options,
    )  # fmt: skip


AXIS_TITLES = axis_titles()  # as the page is laid out: English until the first refresh


def render_plots() -> Plots:
    ttft_order = _labels(TTFT_BUCKETS_MS)
    with gr.Row():
        ttft = _line("ttft", "ttft_ms", color="stat", color_title="")
        requests = _line("requests", "replies")
    with gr.Row():
        server_queue = _line("server_queue", "requests", color="state", color_title="", **HIDDEN)
        server_kv_cache = _line("server_kv_cache", "kv_cache", **SHARE, **HIDDEN)
    with gr.Row():
        tokens_per_s = _bar("tokens_per_s", "model", "tokens_per_s_p50", x_label_angle=-20, **FROM_ZERO)
        errors = _bar("errors", "time", "errors", color="error_type", color_title="", **FROM_ZERO)
    with gr.Row():
        ttft_by_prompt = _bar("ttft_by_prompt", "bucket", "ttft_p50_ms", sort=_labels(PROMPT_BUCKETS), **FROM_ZERO)
        ttft_by_in_flight = _bar(
            "ttft_by_in_flight", "bucket", "ttft_p50_ms", sort=_labels(IN_FLIGHT_BUCKETS), **FROM_ZERO
        )
    with gr.Row():
        ttft_by_server_queue = _bar(
            "ttft_by_server_queue", "bucket", "ttft_p50_ms", sort=_labels(WAITING_BUCKETS), **FROM_ZERO, **HIDDEN
        )
        client_vs_server_ttft = _line("client_vs_server_ttft", "ttft_ms", color="side", color_title="", **HIDDEN)
    with gr.Row():
        feedback_by_ttft = _bar("feedback_by_ttft", "bucket", "thumbs_up_ratio", sort=ttft_order, **SHARE)
        stop_rate = _bar("stop_rate", "bucket", "stop_rate", sort=ttft_order, **SHARE)
    with gr.Row():  # distributions: the share of each model's replies at or under a value (the CDF)
        ttft_cdf = _cdf("ttft_cdf")
        tokens_per_s_cdf = _cdf("tokens_per_s_cdf")
    return Plots(
        ttft, requests, server_queue, server_kv_cache, tokens_per_s, errors, ttft_by_prompt, ttft_by_in_flight,
        ttft_by_server_queue, client_vs_server_ttft, feedback_by_ttft, stop_rate, ttft_cdf, tokens_per_s_cdf,
    )  # fmt: skip


def _cdf(name: str) -> gr.LinePlot:
    """A cumulative distribution per model over the histogram's bucket bounds (``analytics.distributions``)."""
    return gr.LinePlot(
        x="upper", y="cumulative", color="model", title=str(t(f"chart_{name}")), color_title="",
        elem_id=f"cl-chart-{name.replace('_', '-')}", **AXIS_TITLES[name], **SHARE,
    )  # fmt: skip
