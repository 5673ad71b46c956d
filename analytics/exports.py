"""Exports of a filtered range: messages or generations, as CSV or Parquet files.

Invariants:
* CSV cells that a spreadsheet would run as a formula — text starting with ``= + - @``, a tab or a carriage
  return — are neutralised with a leading apostrophe (OWASP's advice for CSV injection). Parquet keeps values as
  they are (typed columns, not interpreted by spreadsheets).
* Parquet is written by a private in-memory DuckDB (the store's own database may have external access switched off
  by the SQL console), from the same frame as the CSV.
* Filters mean what they mean in the tab: time range on ``created_at``; model and user through the generation
  (generations) or the conversation (messages).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
from sqlalchemy import Engine, text

from analytics.queries import Filters, where_clause, with_server_state_sql

Table = Literal["generations", "messages"]
Format = Literal["csv", "parquet"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell that would start a formula gets a leading apostrophe; anything else is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise)
    return out


# Every column of a reply as the tab reads it, its source and API token, and the model server's state at its start
# (stored on the row, or joined to the readings for a row written without it, as the tab does).
GENERATIONS_COLUMNS = """
    CAST(g.id AS VARCHAR) AS id, CAST(g.message_id AS VARCHAR) AS message_id,
    CAST(g.conversation_id AS VARCHAR) AS conversation_id, CAST(g.user_id AS VARCHAR) AS user_id,
    g.model_id, g.backend, g.server_url, CAST(g.params AS VARCHAR) AS params, g.status, g.queue_wait_ms,
    g.time_to_first_token_ms, g.duration_ms, g.prompt_tokens, g.output_tokens, g.tokens_per_s, g.finish_reason,
    g.error_type, g.in_flight_at_start, g.created_at, g.time_to_first_answer_ms, g.thinking_ms, g.reasoning_tokens,
    g.source, CAST(g.token_id AS VARCHAR) AS token_id"""


MESSAGES_SQL = """
    SELECT CAST(m.id AS VARCHAR) AS id, CAST(m.conversation_id AS VARCHAR) AS conversation_id,
           CAST(c.user_id AS VARCHAR) AS user_id, c.model_id, m.seq, m.role, m.content, m.reasoning, m.status,
           m.created_at, m.superseded_at
    FROM messages m JOIN conversations c ON c.id = m.conversation_id
    WHERE {where} ORDER BY m.created_at, m.conversation_id, m.seq"""


def read_rows(engine: Engine, table: Table, filters: Filters) -> pd.DataFrame:
    if table == "generations":
        sql, params = with_server_state_sql(filters, GENERATIONS_COLUMNS)
    else:
        where, params = where_clause(filters, prefix="m.", owner="c.")
        sql = MESSAGES_SQL.format(where=where)
    with engine.connect() as connection:
        result = connection.execute(text(sql), params)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    # RFC 4180 line ends: cells holding a CR or LF are then quoted, so they stay one cell.
    neutralised(frame).to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%f%z", lineterminator="\r\n")
    return path


def write_parquet(frame: pd.DataFrame, path: Path) -> Path:
    with duckdb.connect(":memory:") as scratch:
        scratch.register("export_frame", frame)
        scratch.execute(f"COPY export_frame TO '{_quoted(path)}' (FORMAT parquet)")
    return path


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def export(engine: Engine, table: Table, fmt: Format, filters: Filters, directory: Path | None = None) -> Path:
    """Write the filtered rows to a new file (in ``directory``, default a fresh temporary one); returns its path."""
    frame = read_rows(engine, table, filters)
    folder = directory or Path(tempfile.mkdtemp(prefix="chatlens-export-"))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"chatlens-{table}-{stamp}.{fmt}"
    return write_csv(frame, path) if fmt == "csv" else write_parquet(frame, path)
