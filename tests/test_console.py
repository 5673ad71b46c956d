"""The read-only SQL console on a real store (a DuckDB file, and PostgreSQL): what runs, and each refusal."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from analytics.console import ConsoleRefused, SqlConsole, checked_select
from inference.turns import NewMessage
from storage.schema import Generation
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.records import reply
from tests.support.seeds import seed


@pytest.fixture
def store(store: Store) -> Store:
    """The store, seeded with ``tests/support/seeds.py``."""
    seed(store)
    return store


def test_a_select_runs_and_returns_a_table(store: Store) -> None:
    result = SqlConsole(store.engine).run(
        "SELECT model_id, count(*) AS replies FROM generations GROUP BY model_id ORDER BY model_id;"
    )
    assert result.frame.to_dict("records") == [{"model_id": "A", "replies": 8}, {"model_id": "B", "replies": 2}]
    assert not result.truncated


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("", "Type a SELECT statement first"),
        ("DELETE FROM generations", "only SELECT queries run here (this is DELETE)"),
        ("UPDATE generations SET status = 'x'", "this is UPDATE"),
        ("INSERT INTO feedback (id) VALUES (gen_random_uuid())", "this is INSERT"),
        ("DROP TABLE generations", "this is DROP"),
        ("CREATE TABLE x AS SELECT 1", "this is CREATE"),
        ("SELECT 1; DELETE FROM generations", "one statement at a time"),
        ("COPY generations TO '/tmp/stolen.csv'", "this is COPY"),
        ("ATTACH '/tmp/other.duckdb' AS other", "this is ATTACH"),
        ("INSTALL httpfs", "this is LOAD"),
        ("LOAD httpfs", "this is LOAD"),
        ("SET enable_external_access = true", "this is SET"),
        ("PRAGMA version", "this is PRAGMA"),
        ("CALL pragma_version()", "this is CALL"),
        ("SELEC 1", "not valid SQL"),
    ],
)
def test_anything_but_one_select_is_refused_before_it_runs(sql: str, reason: str) -> None:
    with pytest.raises(ConsoleRefused) as refused:
        checked_select(sql)
    assert reason in str(refused.value)


def test_a_write_hidden_in_a_select_is_refused(store: Store) -> None:
    with pytest.raises(ConsoleRefused):
        SqlConsole(store.engine).run("SELECT * FROM query('DELETE FROM generations')")
    assert SqlConsole(store.engine).run("SELECT count(*) AS n FROM generations").frame["n"].iloc[0] == 10


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_parquet('https://example.com/x.parquet')",
    ],
)
def test_duckdb_files_and_urls_are_out_of_reach(tmp_path, sql: str) -> None:  # type: ignore[no-untyped-def]
    store = Store.open(f"duckdb:///{tmp_path / 'store.duckdb'}")
    try:
        with pytest.raises(ConsoleRefused) as refused:
            SqlConsole(store.engine).run(sql)
        assert "cannot reach files" in str(refused.value) or "does not exist" in str(refused.value)
    finally:
        store.close()


def test_rows_are_capped(store: Store) -> None:
    result = SqlConsole(store.engine, max_rows=4).run("SELECT created_at FROM generations ORDER BY created_at")
    assert len(result.frame) == 4 and result.truncated


def test_a_long_query_is_stopped_at_the_time_limit(store: Store) -> None:
    sql = (
        "SELECT pg_sleep(5)"
        if store.engine.dialect.name == "postgresql"
        else "SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b"
    )
    with pytest.raises(ConsoleRefused, match=r"longer than 0\.5 s"):
        SqlConsole(store.engine, time_limit_s=0.5).run(sql)
    assert SqlConsole(store.engine).run("SELECT 1 AS one").frame["one"].iloc[0] == 1  # the pool is fine after it


def test_the_chat_still_records_turns_once_the_console_locked_the_database(store: Store) -> None:
    SqlConsole(store.engine)
    recorder = WriteBehindRecorder(store)
    user = uuid.uuid4()

    async def turn() -> uuid.UUID:
        start = await recorder.begin(NewMessage("still fine?"), user_id=user, model_id="m")
        await recorder.finish_turn(reply(start.conversation_id, user, "yes"))
        return start.conversation_id

    try:
        cid = asyncio.run(turn())
    finally:
        recorder.close()
    view = store.load_conversation(cid, user)
    assert view is not None and [m.content for m in view.messages] == ["still fine?", "yes"]
    with store.sessions() as session:
        assert session.query(Generation).filter_by(conversation_id=cid).one().params == {"max_tokens": 10}
