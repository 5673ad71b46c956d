"""The Analytics tab's distributions and browser sections: p50 / p95 / p99 by model, source and user; the TTFT the
users' browsers felt beside ChatLens's own, by connection; and the page's JavaScript errors. Laid out by ``render``,
filled at each refresh by ``outputs_of`` (the tab's ``refresh`` handler, admins only)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import gradio as gr
import pandas as pd

from analytics.dashboard import Dashboard
from ui import analytics_render as view
from ui.i18n import t

_ROUNDED = ("ttft_p50_ms", "ttft_p95_ms", "ttft_p99_ms", "tokens_per_s_p5", "tokens_per_s_p50", "tokens_per_s_p95")
_FELT = (
    "felt_ttft_p50_ms", "felt_ttft_p95_ms", "server_ttft_p50_ms", "server_ttft_p95_ms", "gap_p50_ms", "gap_p95_ms",
    "fps_p50",
)  # fmt: skip


@dataclass
class DistributionTables:
    by_model: gr.Dataframe
    by_source: gr.Dataframe
    by_user: gr.Dataframe
    felt_ttft: gr.Dataframe
    browser_errors: gr.Dataframe

    def all(self) -> list[Any]:
        return [getattr(self, f.name) for f in fields(self)]


def _table(elem_id: str) -> gr.Dataframe:
    return gr.Dataframe(interactive=False, elem_id=elem_id, max_height=280, wrap=False)


def render() -> DistributionTables:
    gr.Markdown(t("dist_heading"))
    with gr.Tabs():
        with gr.Tab(t("dist_by_model")):
            by_model = _table("cl-dist-model")
        with gr.Tab(t("dist_by_source")):
            by_source = _table("cl-dist-source")
        with gr.Tab(t("dist_by_user")):
            by_user = _table("cl-dist-user")
    gr.Markdown(t("dist_felt_heading"))
    felt_ttft = _table("cl-felt-ttft")
    gr.Markdown(t("dist_browser_errors_heading"))
    browser_errors = _table("cl-browser-errors")
    return DistributionTables(by_model, by_source, by_user, felt_ttft, browser_errors)


def _rounded(frame: pd.DataFrame, columns: tuple[str, ...], digits: int = 1) -> pd.DataFrame:
    out = frame.copy()
    for column in columns:
        if column in out:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64").round(digits)
    return out


def _utc_text(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    out = frame.copy()
    for column in columns:
        if column in out and not out.empty:
            out[column] = pd.to_datetime(out[column], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S")
    return out


def outputs_of(tables: DistributionTables, board: Dashboard) -> dict[Any, Any]:
    felt = _rounded(board.felt_ttft, _FELT)
    if "long_frame_share" in felt:
        felt["long_frames_%"] = (pd.to_numeric(felt.pop("long_frame_share")).astype("float64") * 100).round(1)
    return {
        tables.by_model: _rounded(view.short_model_names(board.by_model), _ROUNDED),
        tables.by_source: _rounded(board.by_source, _ROUNDED),
        tables.by_user: _rounded(board.by_user, _ROUNDED),
        tables.felt_ttft: felt,
        tables.browser_errors: _utc_text(board.browser_errors, ("first_seen", "last_seen")),
    }
