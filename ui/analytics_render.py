"""Pure formatting for the analytics tab: KPI cards as HTML, frames shaped for Gradio's native plots and tables.

No I/O and no state; every string that came from the database is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from datetime import datetime
from typing import Any

import pandas as pd

import locales
from analytics.dashboard import Dashboard
from analytics.queries import PROMPT_BUCKETS
from analytics.slo import SloState

# Each KPI: its name in the catalogue (``kpi_<kpi>``) and how its value reads.
KPI_KINDS = {
    "conversations": "count",
    "replies": "count",
    "active_users": "count",
    "tokens_in": "count",
    "tokens_out": "count",
    "error_rate": "pct",
    "stop_rate": "pct",
    "thumbs_up_ratio": "pct",
}
# For these, a rise is bad news (drawn red).
LOWER_IS_BETTER = {"error_rate", "stop_rate"}

CSS = """
/* The Chat | Analytics switch takes no height of its own (the chat must fit one screen): it sits at the top right,
   and is not drawn at all when the Chat tab is the only one (everyone but admins). */
#cl-tabs { position: relative; }
#cl-tabs > .tab-wrapper { position: absolute; top: 0; right: 2.6rem; width: 13rem; z-index: 20; border-bottom: none;
  justify-content: flex-end; }
#cl-tabs > .tab-wrapper:not(:has([role=tablist] [role=tab] ~ [role=tab])) { display: none; }
#cl-tabs > .tabitem { padding-top: 0; }
.cl-kpis { display:grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap:.6rem; }
.cl-kpi { border:1px solid var(--border-color-primary); border-radius: var(--radius-lg); padding:.55rem .7rem; }
.cl-kpi .cl-kpi-name { font-size:.78rem; color: var(--body-text-color-subdued); }
.cl-kpi .cl-kpi-value { font-size:1.35rem; font-variant-numeric: tabular-nums; }
.cl-kpi .cl-kpi-change { font-size:.78rem; font-variant-numeric: tabular-nums; }
.cl-kpi .cl-good { color:#15803d; } .cl-kpi .cl-bad { color:#b91c1c; }  /* 5.0 and 6.5:1 on white */
.dark .cl-kpi .cl-good { color:#4ade80; } .dark .cl-kpi .cl-bad { color:#f87171; }
.cl-banner { border-radius: var(--radius-lg); padding:.5rem .8rem; background:#fef2f2; color:#991b1b;
  border:1px solid #fecaca; }
.cl-note { font-size:.85rem; color: var(--body-text-color-subdued); }
"""


def _number(value: float, kind: str, language: str = locales.SOURCE) -> str:
    if math.isnan(value):
        return "–"
    if kind == "pct":
        return f"{locales.number(value * 100, language, 1)}%"
    return locales.number(value, language)


def kpi_html(kpis: pd.DataFrame, language: str = locales.SOURCE) -> str:
    """The KPI cards, their names and changes in ``language``."""
    cards = []
    for row in kpis.to_dict("records"):
        name, kind = locales.text(f"kpi_{row['kpi']}", language), KPI_KINDS[row["kpi"]]
        change = row["change"]
        if math.isnan(change):
            no_data = row["previous"] == 0 or math.isnan(row["previous"])
            delta = locales.text("kpi_no_previous", language) if no_data else "–"
            tone = ""
        else:
            arrow = "▲" if change > 0 else "▼" if change < 0 else "＝"
            worse = change > 0 if row["kpi"] in LOWER_IS_BETTER else change < 0
            tone = (
                ""
                if change == 0 or row["kpi"] not in (*LOWER_IS_BETTER, "thumbs_up_ratio")
                else ("cl-bad" if worse else "cl-good")
            )
            delta = locales.text(
                "kpi_change", language, arrow=arrow, percent=locales.number(abs(change) * 100, language)
            )
        cards.append(
            f'<div class="cl-kpi" data-kpi="{row["kpi"]}"><div class="cl-kpi-name">{html.escape(name)}</div>'
            f'<div class="cl-kpi-value">{_number(row["value"], kind, language)}</div>'
            f'<div class="cl-kpi-change {tone}">{html.escape(delta)}</div></div>'
        )
    return f'<div class="cl-kpis">{"".join(cards)}</div>'


NOT_NUMBERS = frozenset({"time", "bucket", "stat", "state", "side", "model", "error_type"})


def for_plot(frame: pd.DataFrame) -> pd.DataFrame:
    """Gradio's plots want naive timestamps and plain strings (no categoricals)."""
    out = frame.copy()
    for column in out.columns:
        # An empty result's columns are objects: a plot takes them for categories, and an axis limit on a category
        # axis kept the page re-drawing its charts without end (seen in Chromium).
        if out[column].dtype == object and column not in NOT_NUMBERS:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    if "time" in out:
        out["time"] = out["time"].dt.tz_convert("UTC").dt.tz_localize(None)
    if "bucket" in out:
        out["bucket"] = out["bucket"].astype(str)
    return out


def time_axis(start: datetime, end: datetime, step_s: int) -> list[float]:
    """The x range of every chart over time: the whole filtered range, to the end of its last interval, so one reply
    sits where it happened (not alone in a range of its own), its interval is drawn whole, and the charts stacked
    under each other share their time axis."""
    return [start.timestamp(), math.ceil(end.timestamp() / step_s) * step_s]


def every_interval(
    frame: pd.DataFrame, start: datetime, end: datetime, step_s: int, counts: tuple[str, ...]
) -> pd.DataFrame:
    """Counts per interval with every interval of the range present, zero where nothing happened: the line is drawn
    from the first reply on, and an interval without replies reads as zero instead of being skipped."""
    first = math.floor(start.timestamp() / step_s) * step_s
    times = pd.to_datetime([t for t in range(first, math.ceil(end.timestamp()), step_s)], unit="s", utc=True)
    full = pd.DataFrame({"time": times})
    merged = full.merge(frame, on="time", how="left") if not frame.empty else full.assign(**dict.fromkeys(counts, 0))
    for column in counts:
        merged[column] = merged[column].fillna(0).astype("int64")
    return merged


def as_steps(frame: pd.DataFrame, step_s: int) -> pd.DataFrame:
    """Each interval's value drawn flat across the interval: a row at its start and one just before its end.

    A line mark draws nothing for a single point, so a lone interval (the first reply) would be blank; as a step it
    is a visible segment. The end stops 1 ms short of the next start, so no two points share an x."""
    if frame.empty:
        return frame
    ends = frame.assign(time=frame["time"] + pd.Timedelta(milliseconds=step_s * 1000 - 1))
    return pd.concat([frame, ends], ignore_index=True).sort_values("time", kind="stable", ignore_index=True)


def errors_for_plot(frame: pd.DataFrame, start: datetime, end: datetime, step_s: int) -> tuple[pd.DataFrame, list[str]]:
    """Failed replies per interval and type, over a zero for every interval (type ``none``, left out of the legend):
    the chart keeps its axes with no failure at all. Returns the frame and the types for the legend."""
    types = sorted(frame["error_type"].astype(str).unique()) if not frame.empty else []
    zeros = every_interval(pd.DataFrame(), start, end, step_s, ("errors",)).assign(error_type="none")
    both = pd.concat([zeros, frame], ignore_index=True)
    # An empty result's columns are objects, which the plot would take for categories, not counts.
    return both.astype({"errors": "int64", "error_type": str}), types


def short_model_names(frame: pd.DataFrame, column: str = "model") -> pd.DataFrame:
    """Model ids without their organisation (``meta-llama/Llama-3.1-8B-Instruct`` → ``Llama-3.1-8B-Instruct``) where
    that stays unique, so axis labels fit; the full ids are kept where two would read the same."""
    if frame.empty:
        return frame
    names = frame[column].astype(str)
    unique = names.drop_duplicates()
    shorts = unique.str.rsplit("/", n=1).str[-1]
    taken = shorts.value_counts()
    mapping = {name: short if taken[short] == 1 else name for name, short in zip(unique, shorts, strict=True)}
    return frame.assign(**{column: names.map(mapping)})


def value_axis(values: pd.Series) -> list[float]:
    """A value axis from zero to a round number above the highest value (Gradio's plots fit it to the data, which
    exaggerates differences, gives a lone bar no height and cuts the top label); [0, 1] with nothing above zero."""
    top = float(values.max()) if not values.dropna().empty else 0.0
    if not top > 0:
        return [0.0, 1.0]
    magnitude = 10 ** math.floor(math.log10(top * 1.05))
    return [0.0, next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= top * 1.05)]


def charts_of(board: Dashboard) -> dict[str, dict[str, Any]]:
    """Every chart's value and axes (as ``gr.update`` keywords), by its field name in the tab's ``_Charts``."""
    start, end, step_s = board.filters.start, board.filters.end, board.step_s
    axis = time_axis(start, end, step_s)
    requests = as_steps(every_interval(board.requests, start, end, step_s, ("replies", "errors", "stopped")), step_s)
    errors, error_types = errors_for_plot(board.errors, start, end, step_s)
    ttft = as_steps(board.ttft, step_s)
    share = [0.0, 1.0]
    return {
        "requests": {"value": for_plot(requests), "x_lim": axis, "y_lim": value_axis(requests["replies"])},
        "ttft": {"value": for_plot(ttft), "x_lim": axis, "y_lim": value_axis(ttft["ttft_ms"])},
        "tokens_per_s": {
            "value": for_plot(short_model_names(board.tokens_per_s)),
            "y_lim": value_axis(board.tokens_per_s["tokens_per_s_p50"]),
        },
        "errors": {
            "value": for_plot(errors),
            "x_lim": axis,
            "y_lim": value_axis(errors.groupby("time")["errors"].sum()),
            "colors_in_legend": error_types,
        },
        "ttft_by_prompt": {
            "value": for_plot(board.ttft_by_prompt),
            "y_lim": value_axis(board.ttft_by_prompt["ttft_p50_ms"]),
        },
        "ttft_by_in_flight": {
            "value": for_plot(board.ttft_by_in_flight),
            "y_lim": value_axis(board.ttft_by_in_flight["ttft_p50_ms"]),
        },
        **server_charts_of(board, axis),
        "feedback_by_ttft": {"value": for_plot(board.feedback_by_ttft), "y_lim": share},
        "stop_rate": {"value": for_plot(board.stop_rate), "y_lim": share},
        "ttft_cdf": cdf_of(board.ttft_histogram),
        "tokens_per_s_cdf": cdf_of(board.tokens_per_s_histogram),
    }


def cdf_of(histogram: pd.DataFrame) -> dict[str, Any]:
    """A histogram's cumulative shares as one line per model (short names), from zero at zero."""
    frame = histogram[["model", "upper", "cumulative"]]
    if not frame.empty:
        starts = pd.DataFrame({"model": frame["model"].unique(), "upper": 0.0, "cumulative": 0.0})
        frame = pd.concat([starts, frame], ignore_index=True).sort_values(["model", "upper"], kind="stable")
    frame = short_model_names(frame).astype({"upper": "float64", "cumulative": "float64"})
    top = float(frame["upper"].max()) if not frame.empty else 1.0
    return {"value": for_plot(frame), "x_lim": [0.0, top], "y_lim": [0.0, 1.0]}


def server_charts_of(board: Dashboard, axis: list[float]) -> dict[str, dict[str, Any]]:
    """The model server's load: queue and KV-cache lines on the tab's time axis, TTFT by its queue depth, and
    ChatLens's TTFT beside the server's own."""
    step_s = board.step_s
    load = board.server_load
    queue = as_steps(
        load.melt(id_vars="time", value_vars=["waiting", "running"], var_name="state", value_name="requests")
        .dropna(subset=["requests"])
        .astype({"requests": "float64"}),
        step_s,
    )
    kv_cache = as_steps(load[["time", "kv_cache"]].dropna().astype({"kv_cache": "float64"}), step_s)
    by_queue = board.ttft_by_server_queue
    sides = as_steps(board.client_vs_server_ttft.dropna(subset=["ttft_ms"]), step_s)
    # A chart with nothing to draw is not shown (an empty line chart draws broken axes): no readings (a server
    # without /metrics), no KV-cache use (TGI publishes none), no server TTFT (only vLLM publishes it).
    return {
        "server_queue": {
            "value": for_plot(queue), "x_lim": axis, "y_lim": value_axis(queue["requests"]), "visible": not queue.empty,
        },
        "server_kv_cache": {"value": for_plot(kv_cache), "x_lim": axis, "visible": not kv_cache.empty},
        "ttft_by_server_queue": {
            "value": for_plot(by_queue), "y_lim": value_axis(by_queue["ttft_p50_ms"]),
            "visible": int(by_queue["replies"].sum()) > 0,
        },
        "client_vs_server_ttft": {
            "value": for_plot(sides), "x_lim": axis, "y_lim": value_axis(sides["ttft_ms"]), "visible": not sides.empty,
        },
    }  # fmt: skip


def prompt_bucket_order() -> list[str]:
    return [label for _, label in PROMPT_BUCKETS]


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """Recent generations for display: rounded numbers, UTC times as text."""
    out = frame.copy()
    if "created_at" in out and not out.empty:
        out["created_at"] = pd.to_datetime(out["created_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    for column in ("ttft_ms", "duration_ms", "tokens_per_s", "ttft_p50_ms", "server_waiting", "server_running"):
        if column in out:
            out[column] = out[column].astype("float64").round(1)
    if "server_kv_cache" in out:  # as a percentage, like the chart
        out["server_kv_cache"] = (out["server_kv_cache"].astype("float64") * 100).round(0)
        out = out.rename(columns={"server_kv_cache": "server_kv_cache_%"})
    return out


def thinking_table(frame: pd.DataFrame, language: str = locales.SOURCE) -> pd.DataFrame:
    """Thinking by model for display: the share as a percentage, times in seconds, tokens rounded; the headers in
    ``language``."""

    def head(key: str) -> str:
        return locales.text(f"thinking_{key}", language)

    out = pd.DataFrame({head("model"): frame["model"], head("replies"): frame["replies"]})
    out[head("share")] = (frame["thought_share"].astype("float64") * 100).round(0)
    for key, column in (
        ("p50", "thinking_p50_ms"), ("p95", "thinking_p95_ms"),
        ("answer_p50", "answer_ttft_p50_ms"), ("answer_p95", "answer_ttft_p95_ms"),
    ):  # fmt: skip
        out[head(key)] = (frame[column].astype("float64") / 1000).round(2)
    out[head("tokens")] = frame["thinking_tokens_per_reply"].astype("float64").round(0)
    return out


def summary_line(elapsed_ms: float, step_s: int, replies: Any, language: str = locales.SOURCE) -> str:
    step = f"{step_s // 3600} h" if step_s >= 3600 else f"{step_s // 60} min"
    line = locales.text(
        "analytics_summary", language, replies=locales.number(int(replies), language), step=step,
        ms=locales.number(elapsed_ms, language),
    )  # fmt: skip
    return f'<span class="cl-note">{html.escape(line)}</span>'


def slo_banner(state: SloState, window_s: float, language: str = locales.SOURCE) -> str:
    """A red banner listing the SLOs breached now (the heading in ``language``; each SLO's sentence, written by
    ``analytics.slo``, in English); empty when none is."""
    breaches = state.breaches
    if not breaches:
        return ""
    lines = "".join(f"<li>{html.escape(slo.sentence(window_s))}</li>" for slo in breaches)
    heading = html.escape(locales.text("analytics_slo_breached", language))
    return f'<div class="cl-banner" role="alert"><strong>{heading}</strong><ul>{lines}</ul></div>'
