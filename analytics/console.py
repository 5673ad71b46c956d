"""The admins' read-only SQL console over the store: one SELECT, no writes, no outside world, capped and timed.

Layers, each enough on its own for its threat:
* The statement is parsed (DuckDB's parser, for both stores): exactly one statement, of type SELECT (this covers
  WITH, VALUES, FROM-first, DESCRIBE, SHOW, SUMMARIZE). Anything else — INSERT, COPY, ATTACH, SET, PRAGMA, CALL,
  INSTALL/LOAD, several statements — is refused before it reaches the store.
* It runs in a READ ONLY transaction that is rolled back (DuckDB and PostgreSQL both enforce it).
* DuckDB: external access is switched off for the whole database when the console is set up
  (``SET enable_external_access=false``): no ``read_csv('/etc/passwd')``, ``glob``, ``ATTACH``, ``COPY … TO``,
  ``INSTALL``/``LOAD``. It cannot be switched back on while the database is open. ChatLens's own reads and writes
  need none of it (measured: turns are recorded, conversations load, JSON columns work). PostgreSQL: file access
  needs roles the app's user should not have (``pg_read_server_files``); the read-only transaction stops the rest.
* At most ``max_rows`` rows are fetched; the statement is interrupted after ``time_limit_s``
  (DuckDB: ``interrupt()`` from a timer; PostgreSQL: ``statement_timeout``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import duckdb
import pandas as pd
from sqlalchemy import Engine


class ConsoleRefused(Exception):
    """A statement the console will not run; the message says why (safe to show)."""


@dataclass(frozen=True, slots=True)
class ConsoleResult:
    frame: pd.DataFrame
    truncated: bool
    elapsed_ms: float


_PARSER_LOCK = threading.Lock()
_PARSER = duckdb.connect(":memory:")  # parsing only: never reads or writes anything


def checked_select(sql: str) -> str:
    """The statement if it is exactly one SELECT; otherwise ``ConsoleRefused`` saying why."""
    text = (sql or "").strip().rstrip(";").strip()
    if not text:
        raise ConsoleRefused("Type a SELECT statement first.")
    try:
        with _PARSER_LOCK:
            statements = _PARSER.extract_statements(text)
    except duckdb.Error as exc:
        raise ConsoleRefused(f"This is not valid SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise ConsoleRefused("Run one statement at a time.")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = kind.name if hasattr(kind, "name") else str(kind)
        raise ConsoleRefused(f"The console is read-only: only SELECT queries run here (this is {name}).")
    return text


class SqlConsole:
    def __init__(self, engine: Engine, *, max_rows: int = 10_000, time_limit_s: float = 10.0) -> None:
        self._engine = engine
        self.max_rows = max_rows
        self.time_limit_s = time_limit_s
        self.dialect = engine.dialect.name
        if self.dialect == "duckdb":
            with engine.connect() as connection:
                connection.exec_driver_sql("SET enable_external_access = false")
                connection.commit()

    def run(self, sql: str) -> ConsoleResult:
        """Blocking: run it on a worker thread."""
        statement = checked_select(sql)
        started = time.monotonic()
        raw = self._engine.raw_connection()
        timer: threading.Timer | None = None
        try:
            cursor = raw.cursor()
            if self.dialect == "duckdb":
                cursor.execute("BEGIN TRANSACTION READ ONLY")
                timer = threading.Timer(self.time_limit_s, raw.dbapi_connection.interrupt)  # type: ignore[union-attr]
                timer.start()
            else:
                cursor.execute("BEGIN READ ONLY")
                cursor.execute(f"SET LOCAL statement_timeout = {int(self.time_limit_s * 1000)}")
            try:
                cursor.execute(statement)
                rows = cursor.fetchmany(self.max_rows + 1)
                columns = [column[0] for column in cursor.description or []]
            except Exception as exc:
                raise ConsoleRefused(self._explain(exc, started)) from None
            finally:
                if timer is not None:
                    timer.cancel()
                raw.rollback()
        finally:
            raw.close()
        truncated = len(rows) > self.max_rows
        frame = pd.DataFrame([tuple(row) for row in rows[: self.max_rows]], columns=columns)
        return ConsoleResult(frame, truncated, (time.monotonic() - started) * 1000)

    def _explain(self, exc: Exception, started: float) -> str:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if time.monotonic() - started >= self.time_limit_s * 0.95 or "interrupt" in first_line.lower():
            return f"The query ran longer than {self.time_limit_s:g} s and was stopped. Narrow it (WHERE, LIMIT)."
        if "disabled by configuration" in first_line or "permission" in first_line.lower():
            return f"The console cannot reach files, other databases or extensions. ({first_line})"
        if "read-only" in first_line or "read only" in first_line.lower():
            return f"The console is read-only. ({first_line})"
        return first_line
