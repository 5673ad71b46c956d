"""The Analytics tab (admins only): filters, KPIs, charts over time and by bucket, slowest and failed replies.

Invariants:
* Every handler checks ``identities.of(request).is_admin`` itself and refuses otherwise: Gradio runs any
  ``fn_index`` it is sent, visible tab or not. The tab itself is shown per session, to admins only.
* Reads go through ``AnalyticsReader`` (own thread pool, brief cache): the chat's event loop never waits on them.
* Layout first (``_render``), then every event in ``_wire``; all events are private (not part of the API).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import gradio as gr

import locales
from access.downloads import Downloads
from access.identity import Identities
from analytics.console import SqlConsole
from analytics.dashboard import AnalyticsReader, Dashboard, aligned_range
from analytics.queries import Filters
from analytics.slo import SloMonitor
from inference.service import ChatService
from settings import Settings
from storage.store import Store
from ui import analytics_distributions, render
from ui import analytics_render as view
from ui.analytics_charts import Plots, axis_titles, render_plots
from ui.analytics_data import DataControls, DataPanel
from ui.errors import request_language
from ui.i18n import choice, say, t
from ui.speed_ab import SpeedAB

# A filter's values are English whatever the page's language (the API takes them so); each is shown in the
# browser's language (``choice``).
RANGES = {
    "Last hour": timedelta(hours=1),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90),
}
RANGE_KEYS = dict(zip(RANGES, ("hour", "day", "week", "month", "quarter"), strict=True))
CUSTOM = "Custom"
ALL_MODELS = "All models"
ALL_USERS = "All users"
ALL_SOURCES = "All sources"
# Where replies came from (generations.source), as the filter shows them.
SOURCES = [
    (ALL_SOURCES, ALL_SOURCES),
    ("Chat page", "chat"),
    ("Gradio /chat", "gradio_api"),
    ("OpenAI API /v1", "openai_api"),
]
SOURCE_KEYS = {ALL_SOURCES: "all_sources", "chat": "source_chat", "gradio_api": "source_gradio",
               "openai_api": "source_openai"}  # fmt: skip
REFUSED = locales.text("analytics_refused")  # in English: what the API's callers are told


def require_admin(identities: Identities, request: gr.Request | None) -> None:
    if not identities.of(request).is_admin:
        raise gr.Error(say("analytics_refused"), print_exception=False)


def _range_choices() -> list[tuple[str, str]]:
    ranges = [choice(f"analytics_range_{RANGE_KEYS[name]}", name) for name in RANGES]
    return [*ranges, choice("analytics_range_custom", CUSTOM)]


@dataclass
class _Charts:
    """What a refresh redraws above the tables."""

    banner: gr.HTML
    kpis: gr.HTML
    summary: gr.HTML
    plots: Plots
    thinking: gr.Dataframe
    distributions: analytics_distributions.DistributionTables

    def all(self) -> list[Any]:
        return [self.banner, self.kpis, self.summary, *self.plots.all(), self.thinking, *self.distributions.all()]


@dataclass
class _Parts:
    tab: gr.Tab
    range: gr.Dropdown
    start: gr.DateTime
    end: gr.DateTime
    model: gr.Dropdown
    user: gr.Dropdown
    source: gr.Dropdown
    refresh: gr.Button
    auto: gr.Checkbox
    deleted: gr.Checkbox
    timer: gr.Timer
    charts: _Charts
    slowest: gr.Dataframe
    failed: gr.Dataframe
    by_caller: gr.Dataframe
    viewer: gr.Chatbot
    data: DataControls

    @property
    def refreshed(self) -> list[Any]:
        """Everything a refresh may change: the charts, the tables, the filters' choices."""
        return [*self.charts.all(), self.slowest, self.failed, self.by_caller, self.model, self.user]


class AnalyticsTab:
    _p: _Parts  # once rendered

    def __init__(
        self,
        *,
        reader: AnalyticsReader,
        store: Store,
        identities: Identities,
        settings: Settings,
        slo: SloMonitor,
        service: ChatService,
        downloads: Downloads,
    ) -> None:
        self._reader = reader
        self._speed = SpeedAB(service=service, identities=identities, max_tokens=settings.max_new_tokens)
        self._slo = slo
        self._store = store
        self._identities = identities
        self._settings = settings
        self._data = DataPanel(
            reader=reader,
            console=SqlConsole(
                store.engine, max_rows=settings.sql_console_max_rows, time_limit_s=settings.sql_console_time_limit_s
            ),
            identities=identities,
            require_admin=require_admin,
            filters_of=self.filters_of,
            downloads=downloads,
        )

    def build(self, demo: gr.Blocks) -> gr.Tab:
        parts = self._render()
        self._wire(demo, parts)
        return parts.tab

    def _render(self) -> _Parts:
        with gr.Tab(t("analytics_tab"), id="analytics", elem_id="cl-tab-analytics", visible=False) as tab:
            banner = gr.HTML("", elem_id="cl-analytics-banner")
            with gr.Row(equal_height=True):
                range_ = gr.Dropdown(
                    _range_choices(), value="Last 24 hours", label=t("analytics_range"), elem_id="cl-range"
                )
                start = gr.DateTime(label=t("analytics_from"), type="datetime", timezone="UTC", visible=False)
                end = gr.DateTime(label=t("analytics_to"), type="datetime", timezone="UTC", visible=False)
                model = gr.Dropdown(
                    [choice("analytics_all_models", ALL_MODELS)], value=ALL_MODELS, label=t("analytics_model"),
                    elem_id="cl-filter-model", allow_custom_value=True,
                )  # fmt: skip
                user = gr.Dropdown(
                    [choice("analytics_all_users", ALL_USERS)], value=ALL_USERS, label=t("analytics_user"),
                    elem_id="cl-filter-user", allow_custom_value=True,
                )  # fmt: skip
                source = gr.Dropdown(
                    [choice(f"analytics_{SOURCE_KEYS[value]}", value) for _, value in SOURCES], value=ALL_SOURCES,
                    label=t("analytics_source"), elem_id="cl-filter-source",
                )  # fmt: skip
                with gr.Column(min_width=120):
                    refresh = gr.Button(t("analytics_refresh"), size="sm", elem_id="cl-analytics-refresh")
                    auto = gr.Checkbox(
                        False, label=f"{t('analytics_auto_refresh')} ({self._settings.analytics_refresh_s:.0f} s)"
                    )
                    deleted = gr.Checkbox(True, label=t("analytics_with_deleted"), elem_id="cl-filter-deleted")
            timer = gr.Timer(self._settings.analytics_refresh_s, active=False)
            kpis = gr.HTML("", elem_id="cl-kpis")
            summary = gr.HTML("", elem_id="cl-analytics-summary")
            plots = render_plots()
            gr.Markdown(t("analytics_thinking_heading"))
            thinking = gr.Dataframe(interactive=False, elem_id="cl-thinking", max_height=240, wrap=False)
            distributions = analytics_distributions.render()
            gr.Markdown(t("analytics_slowest_heading"))
            slowest = gr.Dataframe(interactive=False, elem_id="cl-slowest", max_height=320, wrap=False)
            gr.Markdown(t("analytics_failed_heading"))
            failed = gr.Dataframe(interactive=False, elem_id="cl-failed", max_height=320, wrap=False)
            gr.Markdown(t("analytics_callers_heading"))
            by_caller = gr.Dataframe(interactive=False, elem_id="cl-by-caller", max_height=320, wrap=False)
            viewer = gr.Chatbot(label=t("analytics_viewer"), elem_id="cl-analytics-viewer", height=360)
            data = self._data.render()
            self._ab = self._speed.render()
        charts = _Charts(banner, kpis, summary, plots, thinking, distributions)
        self._p = _Parts(
            tab,
            range_,
            start,
            end,
            model,
            user,
            source,
            refresh,
            auto,
            deleted,
            timer,
            charts,
            slowest,
            failed,
            by_caller,
            viewer,
            data,
        )
        return self._p

    def _wire(self, demo: gr.Blocks, p: _Parts) -> None:
        private: dict[str, Any] = {"api_visibility": "private"}
        demo.load(self.visibility, None, [p.tab], api_name="analytics_visibility", show_progress="hidden", **private)
        filters = [p.range, p.start, p.end, p.model, p.user, p.deleted, p.source]
        gr.on(
            [p.tab.select, p.refresh.click, p.range.input, p.model.input, p.user.input, p.start.change,
             p.end.change, p.deleted.input, p.source.input, p.timer.tick],
            self.refresh,
            filters,
            p.refreshed,
            api_name="analytics_refresh",
            show_progress="minimal",
            **private,
        )  # fmt: skip
        p.range.input(self.custom_fields, [p.range], [p.start, p.end], api_name="analytics_custom_range", **private)
        p.auto.change(self.auto_refresh, [p.auto], [p.timer], api_name="analytics_auto_refresh", **private)
        self._data.wire(p.data, filters)
        self._speed.wire(*self._ab, limit=self._settings.max_concurrent_streams)
        for name, frame in (("slowest", p.slowest), ("failed", p.failed)):
            frame.select(self.open_conversation, None, [p.viewer], api_name=f"analytics_open_{name}", **private)

    # -- handlers --------------------------------------------------------------------------------------------

    def visibility(self, request: gr.Request) -> Any:
        return gr.update(visible=self._identities.of(request).is_admin)

    def custom_fields(self, range_name: str, request: gr.Request) -> dict[Any, Any]:
        require_admin(self._identities, request)
        now = datetime.now(UTC).replace(microsecond=0)
        shown = range_name == CUSTOM
        return {
            self._p.start: gr.update(visible=shown, value=now - timedelta(days=1) if shown else None),
            self._p.end: gr.update(visible=shown, value=now if shown else None),
        }

    def auto_refresh(self, on: bool, request: gr.Request) -> Any:
        require_admin(self._identities, request)
        return gr.Timer(active=bool(on))

    def filters_of(
        self,
        range_name: str,
        start: Any,
        end: Any,
        model: str | None,
        user: str | None,
        with_deleted: bool = True,
        source: str | None = None,
    ) -> Filters:
        """Filters from the controls; a bad value is refused with a sentence saying what to fix."""
        if range_name == CUSTOM:
            if start is None or end is None:
                raise gr.Error(say("analytics_custom_both"), print_exception=False)
            low, high = _utc(start), _utc(end)
            if low >= high:
                raise gr.Error(say("analytics_custom_order"), print_exception=False)
        elif range_name in RANGES:
            low, high = aligned_range(RANGES[range_name], self._reader.ttl_s)
        else:
            raise gr.Error(say("analytics_unknown_range", range=repr(range_name)), print_exception=False)
        user_id = None
        if user and user != ALL_USERS:
            try:
                user_id = uuid.UUID(user)
            except ValueError:
                raise gr.Error(say("analytics_not_a_user", user=repr(user)), print_exception=False) from None
        model_id = None if not model or model == ALL_MODELS else model
        sources = [value for _, value in SOURCES]
        if source and source not in sources:
            raise gr.Error(
                say("analytics_unknown_source", source=repr(source), sources=", ".join(sources)), print_exception=False
            )
        source_name = None if not source or source == ALL_SOURCES else source
        return Filters(low, high, model=model_id, user_id=user_id, without_deleted=not with_deleted, source=source_name)

    async def refresh(
        self,
        range_name: str,
        start: Any,
        end: Any,
        model: str | None,
        user: str | None,
        with_deleted: bool,
        source: str | None,
        request: gr.Request,
    ) -> dict[Any, Any]:
        require_admin(self._identities, request)
        filters = self.filters_of(range_name, start, end, model, user, with_deleted, source)
        board = await self._reader.dashboard(filters)
        return self.outputs_of(board, model, user, request_language())

    def outputs_of(
        self, board: Dashboard, model: str | None, user: str | None, language: str = locales.SOURCE
    ) -> dict[Any, Any]:
        """What a refresh shows, written in ``language`` where the page does not translate it (the KPI cards, the
        summary, the charts' axes, the thinking table's headers)."""
        p, charts = self._p, self._p.charts
        replies = board.kpis.set_index("kpi").loc["replies", "value"]
        extra_model = [model] if model and model not in (ALL_MODELS, *board.models) else []
        extra_user = [user] if user and user not in (ALL_USERS, *board.users) else []
        models = [choice("analytics_all_models", ALL_MODELS), *board.models, *extra_model]
        users = [choice("analytics_all_users", ALL_USERS), *board.users, *extra_user]
        axes = axis_titles(language)
        shaped = {
            getattr(charts.plots, name): gr.update(**axes[name], **chart)
            for name, chart in view.charts_of(board).items()
        }
        return {
            charts.banner: view.slo_banner(self._slo.state, self._slo.thresholds.window_s, language),
            charts.kpis: view.kpi_html(board.kpis, language),
            charts.summary: view.summary_line(board.elapsed_ms, board.step_s, replies, language),
            **shaped,
            charts.thinking: view.thinking_table(board.thinking, language),
            **analytics_distributions.outputs_of(charts.distributions, board),
            p.slowest: view.table(board.slowest),
            p.failed: view.table(board.failed),
            p.by_caller: view.table(board.by_caller),
            p.model: gr.update(choices=models),
            p.user: gr.update(choices=users),
        }

    async def open_conversation(self, event: gr.SelectData, request: gr.Request) -> Any:
        """The conversation of the selected reply, read-only, whoever owns it (admins only)."""
        require_admin(self._identities, request)
        row = event.row_value if isinstance(event.row_value, list) else []
        if len(row) < 2:
            return []
        conversation_id, user_id = parse_ids(str(row[-2]), str(row[-1]))
        if conversation_id is None or user_id is None:
            return []
        view_ = await self._reader.run(self._store.load_conversation, conversation_id, user_id)
        if view_ is None:
            return [{"role": "assistant", "content": say("analytics_viewer_deleted")}]
        return render.conversation_messages(view_, request_language())


def parse_ids(conversation: str, user: str) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    try:
        return uuid.UUID(conversation), uuid.UUID(user)
    except ValueError:
        return None, None


def _utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(float(value), UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
