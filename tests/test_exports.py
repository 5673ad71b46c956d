"""Exports on a real store (DuckDB file and PostgreSQL): CSV and Parquet round-trip, CSV cells cannot run formulas."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sqlalchemy import insert, update

from analytics.exports import export, neutralise
from analytics.queries import Filters
from storage.schema import Conversation, Generation, Message, ServerLoadSample
from storage.store import Store
from tests.support.seeds import DAY, MESSAGE, ROWS, U1, U2, C, seed

HOSTILE = ['=HYPERLINK("http://evil","x")', "+1+2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", 'plain, "quoted"\nline']


@pytest.fixture
def store(store: Store) -> Store:
    """The store, seeded with ``tests/support/seeds.py`` and messages whose text starts like a formula."""
    seed(store)
    with store.sessions() as session:
        session.execute(
            insert(Conversation),
            [{"id": C[1], "user_id": U1, "title": "t", "model_id": "A", "created_at": ROWS[0]["at"]},
             {"id": C[2], "user_id": U2, "title": "t", "model_id": "B", "created_at": ROWS[0]["at"]}],
        )  # fmt: skip
        session.execute(
            insert(Message),
            [
                {"id": uuid.UUID(int=5000 + i), "conversation_id": C[1 + i % 2], "seq": i, "role": "user",
                 "content": content, "status": "complete", "created_at": ROWS[1]["at"] + timedelta(seconds=i)}
                for i, content in enumerate(HOSTILE)
            ],
        )  # fmt: skip
        session.commit()
    return store


def test_neutralise_only_formula_starts() -> None:
    assert [neutralise(v) for v in HOSTILE] == ["'" + v for v in HOSTILE[:6]] + [HOSTILE[6]]
    assert neutralise(-2) == -2 and neutralise("a=b") == "a=b" and neutralise(None) is None


def generations_both_ways(store: Store, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day's generations exported as CSV and as Parquet, each read back."""
    csv = pd.read_csv(export(store.engine, "generations", "csv", DAY, tmp_path))
    parquet_path = export(store.engine, "generations", "parquet", DAY, tmp_path)
    return csv, duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(parquet_path)]).df()


def test_generations_round_trip_through_csv_and_parquet(store: Store, tmp_path: Path) -> None:
    csv, parquet = generations_both_ways(store, tmp_path)
    for frame in (csv, parquet):
        assert len(frame) == 6
        assert sorted(frame["time_to_first_token_ms"].dropna().tolist()) == [100, 200, 400, 800, 6000]
        assert frame["status"].value_counts().to_dict() == {"complete": 4, "error": 1, "stopped": 1}
    assert parquet["prompt_tokens"].sum() == 7550 and csv["output_tokens"].sum() == 205
    model_b = pd.read_csv(export(store.engine, "generations", "csv", Filters(DAY.start, DAY.end, model="B"), tmp_path))
    assert model_b["model_id"].tolist() == ["B", "B"]


def test_message_csv_cells_cannot_run_formulas_and_parquet_keeps_the_text(store: Store, tmp_path: Path) -> None:
    path = export(store.engine, "messages", "csv", DAY, tmp_path)
    csv = pd.read_csv(path, keep_default_na=False)
    assert csv["content"].tolist() == ["'" + v for v in HOSTILE[:6]] + [HOSTILE[6]]
    raw = path.read_text()
    assert "\n=" not in raw and ",=" not in raw and ",@" not in raw and ",+" not in raw
    parquet = (
        duckdb.connect()
        .execute(
            "SELECT content FROM read_parquet(?) ORDER BY created_at",
            [str(export(store.engine, "messages", "parquet", DAY, tmp_path))],
        )
        .df()
    )
    assert parquet["content"].tolist() == HOSTILE
    only_u2 = pd.read_csv(
        export(store.engine, "messages", "csv", Filters(DAY.start, DAY.end, user_id=U2), tmp_path),
        keep_default_na=False,
    )
    assert only_u2["user_id"].unique().tolist() == [str(U2)] and len(only_u2) == 3


def test_exports_leave_out_deleted_conversations_when_the_admin_asks(store: Store, tmp_path: Path) -> None:
    with store.sessions() as session:
        session.execute(update(Conversation).where(Conversation.id == C[2]).values(deleted_at=DAY.end))
        session.commit()
    kept = replace(DAY, without_deleted=True)
    messages = pd.read_csv(export(store.engine, "messages", "csv", kept, tmp_path), keep_default_na=False)
    assert messages["conversation_id"].unique().tolist() == [str(C[1])] and len(messages) == 4
    generations = pd.read_csv(export(store.engine, "generations", "csv", kept, tmp_path))
    assert str(C[2]) not in generations["conversation_id"].tolist() and len(generations) == 4
    assert len(pd.read_csv(export(store.engine, "generations", "csv", DAY, tmp_path))) == 6  # kept by default


def test_exported_replies_carry_their_source_and_the_servers_state_at_their_start(store: Store, tmp_path: Path) -> None:
    """As the tab reads them: the state stored on the row, or, for a row written without it, the server's latest
    reading at or before the reply's start (here 3 s before reply 2's, which ran for 1 s)."""
    reading_at = ROWS[1]["at"] - timedelta(seconds=4)
    stored_at = datetime(2026, 1, 10, 10, 59, 50, tzinfo=UTC)
    with store.sessions() as session:
        session.execute(
            insert(ServerLoadSample),
            [{"id": uuid.uuid4(), "server_url": "http://tgi", "backend": "tgi", "sampled_at": reading_at,
              "waiting": 4, "running": 2, "batch_size": None, "kv_cache_use": 0.5, "server_ttft_ms": None,
              "server_queue_ms": None}],
        )  # fmt: skip
        session.execute(
            update(Generation)
            .where(Generation.message_id == MESSAGE[3])
            .values(source="openai_api", server_waiting=7, server_running=1, server_kv_cache=0.25,
                    server_sampled_at=stored_at)
        )  # fmt: skip
        session.commit()
    csv, parquet = generations_both_ways(store, tmp_path)
    for frame in (csv, parquet):
        rows = {row["message_id"]: row for row in frame.to_dict("records")}
        joined, kept = rows[str(MESSAGE[2])], rows[str(MESSAGE[3])]
        assert (joined["server_waiting"], joined["server_running"], joined["server_kv_cache"]) == (4, 2, 0.5)
        assert (kept["server_waiting"], kept["server_running"], kept["server_kv_cache"]) == (7, 1, 0.25)
        assert (joined["source"], kept["source"]) == ("chat", "openai_api")
        assert frame["server_waiting"].notna().sum() == 2  # no reading near the others: empty, not invented
        assert frame["token_id"].isna().all()
    assert pd.Timestamp(parquet.set_index("message_id").loc[str(MESSAGE[2]), "server_sampled_at"]) == reading_at
