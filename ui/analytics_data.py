"""The data-access part of the Analytics tab: the read-only SQL console and exports of the filtered range.

Every handler checks the admin itself (Gradio runs any fn_index it is sent). Both run on the analytics thread pool;
files are written to a private temporary folder and handed to Gradio for download.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import gradio as gr

import locales
from access.downloads import Downloads
from access.identity import Identities
from analytics import exports
from analytics.console import ConsoleRefused, SqlConsole
from analytics.dashboard import AnalyticsReader
from analytics.queries import Filters
from ui.downloads import owned_download
from ui.errors import request_language
from ui.i18n import choice, say, t

EXAMPLE_SQL = """SELECT model_id,
       count(*) AS replies,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY time_to_first_token_ms) AS ttft_p50_ms
FROM generations
WHERE created_at > now() - INTERVAL 1 DAY
GROUP BY model_id
ORDER BY replies DESC"""


@dataclass
class DataControls:
    sql: gr.Code
    run: gr.Button
    note: gr.HTML
    result: gr.Dataframe
    download: gr.File
    table: gr.Radio
    fmt: gr.Radio
    export: gr.Button
    exported: gr.File


class DataPanel:
    controls: DataControls  # once rendered

    def __init__(
        self,
        *,
        reader: AnalyticsReader,
        console: SqlConsole,
        identities: Identities,
        require_admin: Callable[[Identities, gr.Request | None], None],
        filters_of: Callable[..., Filters],
        downloads: Downloads,
    ) -> None:
        self._downloads = downloads
        self._reader = reader
        self._console = console
        self._identities = identities
        self._require_admin = require_admin
        self._filters_of = filters_of
        self._folder = Path(tempfile.mkdtemp(prefix="chatlens-analytics-"))

    def render(self) -> DataControls:
        with gr.Accordion(t("console_label"), open=False, elem_id="cl-console") as console:
            about = gr.Markdown(self.console_note(), elem_classes=["cl-note"])  # in English until opened
            sql = gr.Code(EXAMPLE_SQL, language="sql", label="SQL", elem_id="cl-console-sql", interactive=True)
            run = gr.Button(t("console_run"), size="sm", elem_id="cl-console-run")
            note = gr.HTML("", elem_id="cl-console-note")
            result = gr.Dataframe(interactive=False, elem_id="cl-console-result", max_height=360)
            download = gr.File(label=t("console_csv"), elem_id="cl-console-csv", interactive=False)
        with gr.Accordion(t("export_label"), open=False, elem_id="cl-data-export"):
            with gr.Row():
                table = gr.Radio(
                    [choice("export_generations", "generations"), choice("export_messages", "messages")],
                    value="generations", label=t("export_rows"),
                )  # fmt: skip
                fmt = gr.Radio(["csv", "parquet"], value="csv", label=t("export_format"))
                export = gr.Button(t("export_run"), size="sm", elem_id="cl-export-run")
            exported = gr.File(label=t("export_file"), elem_id="cl-export-file", interactive=False)
        self.controls = DataControls(sql, run, note, result, download, table, fmt, export, exported)
        # The note holds numbers, which the browser's catalogue cannot: written in the request's language on opening.
        console.expand(lambda: self.console_note(request_language()), None, [about], api_visibility="private")
        return self.controls

    def console_note(self, language: str = locales.SOURCE) -> str:
        """What the console runs, and its limits."""
        seconds = f"{self._console.time_limit_s:g}".replace(".", locales.text("number_decimal", language))
        return locales.text(
            "console_note", language, rows=locales.number(self._console.max_rows, language), seconds=seconds
        )

    def wire(self, controls: DataControls, filters: list[Any]) -> None:
        c = controls
        c.run.click(
            self.run_sql, [c.sql], [c.note, c.result, c.download], api_name="analytics_sql", api_visibility="private"
        )
        c.export.click(
            self.export, [c.table, c.fmt, *filters], [c.exported], api_name="analytics_export",
            api_visibility="private",
        )  # fmt: skip

    async def run_sql(self, sql: str, request: gr.Request) -> dict[Any, Any]:
        self._require_admin(self._identities, request)
        try:
            result = await self._reader.run(self._console.run, sql)
        except ConsoleRefused as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = await self._reader.run(exports.write_csv, result.frame, self._folder / f"chatlens-query-{stamp}.csv")
        language = request_language()
        line = locales.text(
            "console_result_capped" if result.truncated else "console_result", language,
            rows=locales.number(len(result.frame), language), shown=locales.number(self._console.max_rows, language),
            ms=locales.number(result.elapsed_ms, language),
        )  # fmt: skip
        note = f'<span class="cl-note">{html.escape(line)}</span>'
        c = self.controls
        download = owned_download(self._downloads, path, self._identities.of(request).user_id)
        return {c.note: note, c.result: result.frame, c.download: download}

    async def export(
        self,
        table: str,
        fmt: str,
        range_name: str,
        start: Any,
        end: Any,
        model: Any,
        user: Any,
        with_deleted: bool,
        source: Any,
        request: gr.Request,
    ) -> str:
        self._require_admin(self._identities, request)
        if table not in ("generations", "messages") or fmt not in ("csv", "parquet"):
            raise gr.Error(say("export_choose"))
        filters = self._filters_of(range_name, start, end, model, user, with_deleted, source)
        what = cast(exports.Table, table)
        how = cast(exports.Format, fmt)
        path = await self._reader.run(exports.export, self._reader.engine, what, how, filters, self._folder)
        return owned_download(self._downloads, path, self._identities.of(request).user_id)
