"""Pure formatting for the analytics tab: KPI cards as HTML, frames shaped for Gradio's native plots and tables.

No I/O and no state; every string that came from the database is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from analytics.queries import PROMPT_BUCKETS
from analytics.slo import SloState

KPI_LABELS = {
    "conversations": ("Conversations", "count"),
    "replies": ("Replies", "count"),
    "active_users": ("Active users", "count"),
    "tokens_in": ("Tokens in", "count"),
    "tokens_out": ("Tokens out", "count"),
    "error_rate": ("Error rate", "pct"),
    "stop_rate": ("Stop rate", "pct"),
    "thumbs_up_ratio": ("Thumbs-up ratio", "pct"),
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
.cl-kpi .cl-kpi-name { font-size:.78rem; opacity:.7; }
.cl-kpi .cl-kpi-value { font-size:1.35rem; font-variant-numeric: tabular-nums; }
.cl-kpi .cl-kpi-change { font-size:.78rem; font-variant-numeric: tabular-nums; opacity:.85; }
.cl-kpi .cl-good { color:#15803d; } .cl-kpi .cl-bad { color:#b91c1c; }
.cl-banner { border-radius: var(--radius-lg); padding:.5rem .8rem; background:#fef2f2; color:#991b1b;
  border:1px solid #fecaca; }
.cl-note { font-size:.85rem; opacity:.75; }
"""


def _number(value: float, kind: str) -> str:
    if math.isnan(value):
        return "–"
    if kind == "pct":
        return f"{value * 100:.1f}%"
    return f"{value:,.0f}"


def kpi_html(kpis: pd.DataFrame) -> str:
    cards = []
    for row in kpis.to_dict("records"):
        name, kind = KPI_LABELS[row["kpi"]]
        change = row["change"]
        if math.isnan(change):
            delta = "no previous data" if row["previous"] == 0 or math.isnan(row["previous"]) else "–"
            tone = ""
        else:
            arrow = "▲" if change > 0 else "▼" if change < 0 else "＝"
            worse = change > 0 if row["kpi"] in LOWER_IS_BETTER else change < 0
            tone = (
                ""
                if change == 0 or row["kpi"] not in (*LOWER_IS_BETTER, "thumbs_up_ratio")
                else ("cl-bad" if worse else "cl-good")
            )
            delta = f"{arrow} {abs(change) * 100:.0f}% vs previous period"
        cards.append(
            f'<div class="cl-kpi" data-kpi="{row["kpi"]}"><div class="cl-kpi-name">{html.escape(name)}</div>'
            f'<div class="cl-kpi-value">{_number(row["value"], kind)}</div>'
            f'<div class="cl-kpi-change {tone}">{html.escape(delta)}</div></div>'
        )
    return f'<div class="cl-kpis">{"".join(cards)}</div>'


def for_plot(frame: pd.DataFrame) -> pd.DataFrame:
    """Gradio's plots want naive timestamps and plain strings (no categoricals)."""
    out = frame.copy()
    if "time" in out:
        out["time"] = out["time"].dt.tz_convert("UTC").dt.tz_localize(None)
    if "bucket" in out:
        out["bucket"] = out["bucket"].astype(str)
    return out


def prompt_bucket_order() -> list[str]:
    return [label for _, label in PROMPT_BUCKETS]


def table(frame: pd.DataFrame) -> pd.DataFrame:
    """Recent generations for display: rounded numbers, UTC times as text."""
    out = frame.copy()
    if "created_at" in out and not out.empty:
        out["created_at"] = pd.to_datetime(out["created_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    for column in ("ttft_ms", "duration_ms", "tokens_per_s", "ttft_p50_ms"):
        if column in out:
            out[column] = out[column].astype("float64").round(1)
    return out


def thinking_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Thinking by model for display: the share as a percentage, times in seconds, tokens rounded."""
    out = pd.DataFrame({"model": frame["model"], "replies": frame["replies"]})
    out["thought %"] = (frame["thought_share"].astype("float64") * 100).round(0)
    for name, column in (
        ("thinking p50 s", "thinking_p50_ms"), ("thinking p95 s", "thinking_p95_ms"),
        ("answer TTFT p50 s", "answer_ttft_p50_ms"), ("answer TTFT p95 s", "answer_ttft_p95_ms"),
    ):  # fmt: skip
        out[name] = (frame[column].astype("float64") / 1000).round(2)
    out["thinking tokens / reply"] = frame["thinking_tokens_per_reply"].astype("float64").round(0)
    return out


def summary_line(elapsed_ms: float, step_s: int, replies: Any) -> str:
    step = f"{step_s // 3600} h" if step_s >= 3600 else f"{step_s // 60} min"
    return f'<span class="cl-note">{int(replies):,} replies · one point per {step} · read in {elapsed_ms:.0f} ms</span>'


def slo_banner(state: SloState, window_s: float) -> str:
    """A red banner listing the SLOs breached now; empty when none is."""
    breaches = state.breaches
    if not breaches:
        return ""
    lines = "".join(f"<li>{html.escape(slo.sentence(window_s))}</li>" for slo in breaches)
    return f'<div class="cl-banner" role="alert"><strong>SLO breached</strong><ul>{lines}</ul></div>'
