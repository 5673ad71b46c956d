"""The analytics queries on a real store (a DuckDB file, and PostgreSQL) seeded with known values: exact numbers.

The seed, and its table of values: ``tests/support/seeds.py``.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update

from analytics import queries
from analytics.dashboard import AnalyticsReader, aligned_range
from analytics.queries import Filters
from storage.schema import ApiToken, Conversation, Feedback, Generation
from storage.store import Store
from tests.support.seeds import DAY, MESSAGE, NOW, ROWS, U1, U2, C, at, seed


@pytest.fixture
def store(store: Store) -> Store:
    """The store, seeded with ``tests/support/seeds.py``."""
    seed(store)
    return store


def run(store: Store, query: Any, *args: Any) -> Any:
    with store.engine.connect() as connection:
        return query(connection, *args)


def by(frame: Any, key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in frame.to_dict("records")}


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_kpis_this_period_and_the_previous_one(store: Store) -> None:
    kpis = by(run(store, queries.kpis, DAY), "kpi")
    expected = {
        "conversations": (3, 1),
        "replies": (6, 2),
        "active_users": (2, 1),
        "tokens_in": (7550, 20),
        "tokens_out": (205, 20),
        "error_rate": (1 / 6, 1 / 2),
        "stop_rate": (1 / 6, 0),
        "thumbs_up_ratio": (3 / 5, 1),
    }
    for name, (value, previous) in expected.items():
        assert same(kpis[name]["value"], value), (name, kpis[name])
        assert same(kpis[name]["previous"], previous), (name, kpis[name])
    assert same(kpis["replies"]["change"], 2.0)
    assert same(kpis["thumbs_up_ratio"]["change"], -0.4)
    assert math.isnan(kpis["stop_rate"]["change"])  # no stops before: no relative change


def test_kpis_follow_the_model_and_user_filters(store: Store) -> None:
    model_b = by(run(store, queries.kpis, Filters(DAY.start, DAY.end, model="B")), "kpi")
    assert (model_b["replies"]["value"], model_b["conversations"]["value"], model_b["active_users"]["value"]) == (
        2,
        2,
        1,
    )
    assert same(model_b["error_rate"]["value"], 0.5) and model_b["replies"]["previous"] == 0
    user_1 = by(run(store, queries.kpis, Filters(DAY.start, DAY.end, user_id=U1)), "kpi")
    assert user_1["replies"]["value"] == 3 and user_1["tokens_in"]["value"] == 500
    assert same(user_1["thumbs_up_ratio"]["value"], 2 / 4)  # votes on U1's replies: −1 and +1, +1, −1


def test_kpis_follow_the_source_filter(store: Store) -> None:
    with store.sessions() as session:  # conversation 2 (two replies today) came through the OpenAI-style API
        session.execute(update(Generation).where(Generation.conversation_id == C[2]).values(source="openai_api"))
        session.commit()
    api = by(run(store, queries.kpis, replace(DAY, source="openai_api")), "kpi")
    page = by(run(store, queries.kpis, replace(DAY, source="chat")), "kpi")
    assert (api["replies"]["value"], api["active_users"]["value"], api["tokens_in"]["value"]) == (2, 1, 7000)
    assert page["replies"]["value"] == 4 and page["replies"]["previous"] == 2
    assert by(run(store, queries.kpis, replace(DAY, source="gradio_api")), "kpi")["replies"]["value"] == 0


def test_usage_by_user_token_and_source(store: Store) -> None:
    token_id = uuid.UUID(int=77)
    with store.sessions() as session:  # conversation 2: U2's two replies today, through the API with a token
        session.execute(
            insert(ApiToken),
            [{"id": token_id, "user_id": U2, "name": "ci", "token_hash": "h" * 64, "prefix": "chatlens_abcdef"}],
        )
        session.execute(
            update(Generation).where(Generation.conversation_id == C[2]).values(source="openai_api", token_id=token_id)
        )
        session.commit()
    rows = run(store, queries.usage_by_caller, DAY).to_dict("records")
    assert [(r["user_id"], r["token"], r["source"], r["replies"], r["errors"]) for r in rows] == [
        (str(U1), "", "chat", 3, 0),
        (str(U2), "chatlens_abcdef… ci", "openai_api", 2, 0),
        (str(U2), "", "chat", 1, 1),
    ]
    api = rows[1]
    assert (api["tokens_in"], api["tokens_out"], api["ttft_p50_ms"]) == (7000, 100, 600.0)


def test_deleted_conversations_are_left_out_only_when_asked(store: Store) -> None:
    with store.sessions() as session:
        session.execute(
            insert(Conversation),
            [{"id": C[2], "user_id": U2, "title": "gone", "model_id": "A", "deleted_at": NOW - timedelta(hours=1)}],
        )
        session.commit()
    assert by(run(store, queries.kpis, DAY), "kpi")["replies"]["value"] == 6  # kept by default
    kept = by(run(store, queries.kpis, replace(DAY, without_deleted=True)), "kpi")
    assert (kept["replies"]["value"], kept["conversations"]["value"], kept["active_users"]["value"]) == (4, 2, 2)
    assert kept["tokens_in"]["value"] == 100 + 300 + 50 + 100


def test_ttft_percentiles_over_time(store: Store) -> None:
    frame = run(store, queries.ttft_over_time, DAY, 86400)
    got = {(row["time"].day, row["stat"]): row["ttft_ms"] for row in frame.to_dict("records")}
    assert got == {
        (9, "p50"): 100, (9, "p95"): 100, (9, "p99"): 100,
        (10, "p50"): 600, (10, "p95"): pytest.approx(5220), (10, "p99"): pytest.approx(5844),
    }  # fmt: skip


def test_requests_and_errors_per_interval(store: Store) -> None:
    requests = run(store, queries.requests_over_time, DAY, 3600)
    got = {
        row["time"].strftime("%d %H"): (row["replies"], row["errors"], row["stopped"]) for _, row in requests.iterrows()
    }
    assert got == {"09 12": (1, 0, 0), "10 10": (1, 0, 0), "10 11": (4, 1, 1)}
    errors = run(store, queries.errors_over_time, DAY, 3600)
    assert errors[["error_type", "errors"]].values.tolist() == [["overloaded", 1]]
    assert errors["time"].iloc[0] == at(10, 11)


def test_tokens_per_second_median_by_model(store: Store) -> None:
    frame = by(run(store, queries.tokens_per_s_by_model, DAY), "model")
    assert frame["A"]["tokens_per_s_p50"] == 15 and frame["A"]["replies"] == 4
    assert frame["B"]["tokens_per_s_p50"] == 40 and frame["B"]["replies"] == 1


def test_ttft_by_prompt_length_and_by_load(store: Store) -> None:
    prompt = by(run(store, queries.ttft_by_prompt_length, DAY), "bucket")
    assert [prompt[b]["replies"] for b in ("<256", "256–1k", "1k–4k", "≥4k")] == [2, 1, 1, 1]
    assert prompt["<256"]["ttft_p50_ms"] == 3050 and prompt["<256"]["ttft_p95_ms"] == pytest.approx(5705)
    assert (prompt["256–1k"]["ttft_p50_ms"], prompt["≥4k"]["ttft_p50_ms"]) == (200, 800)
    load = run(store, queries.ttft_by_in_flight, DAY)
    assert load["bucket"].astype(str).tolist() == ["0", "1", "2–3", "4–7", "8–15", "16–31", "≥32"]
    assert load["replies"].tolist() == [1, 1, 1, 1, 0, 0, 1]
    assert load["ttft_p50_ms"].tolist()[:4] == [100, 200, 400, 800] and load["ttft_p50_ms"].iloc[6] == 6000
    assert math.isnan(load["ttft_p50_ms"].iloc[4])


def test_feedback_ratio_by_ttft_counts_the_latest_vote(store: Store) -> None:
    frame = by(run(store, queries.feedback_by_ttft, DAY), "bucket")
    assert (frame["<0.5 s"]["up"], frame["<0.5 s"]["down"]) == (2, 1)
    assert same(frame["<0.5 s"]["thumbs_up_ratio"], 2 / 3)
    assert (frame["0.5–1 s"]["thumbs_up_ratio"], frame["≥5 s"]["thumbs_up_ratio"]) == (1.0, 0.0)
    assert math.isnan(frame["1–2 s"]["thumbs_up_ratio"]) and frame["1–2 s"]["up"] == 0


def test_a_vote_counts_even_when_its_clock_was_behind_the_replys(store: Store) -> None:
    """The reads skip votes older than the range (a vote comes after its reply), yet a vote stamped a little before
    its reply — another replica's clock behind — still counts, here on the range's very first reply."""
    first = ROWS[0]
    assert first["at"] == DAY.start
    late_clock = {
        "id": uuid.uuid4(), "message_id": MESSAGE[1], "generation_id": None, "user_id": uuid.UUID(int=3),
        "value": -1, "comment": "", "created_at": first["at"] - timedelta(minutes=20),
    }  # fmt: skip
    with store.sessions() as session:
        session.execute(insert(Feedback), [late_clock])
        session.commit()
    frame = by(run(store, queries.feedback_by_ttft, DAY), "bucket")
    assert (frame["<0.5 s"]["up"], frame["<0.5 s"]["down"]) == (2, 2)
    kpis = by(run(store, queries.kpis, DAY), "kpi")
    assert same(kpis["thumbs_up_ratio"]["value"], 3 / 6)


def test_stop_rate_by_wait_for_the_first_token(store: Store) -> None:
    frame = by(run(store, queries.stop_rate_by_latency, DAY), "bucket")
    assert [frame[b]["replies"] for b in ("<0.5 s", "0.5–1 s", "1–2 s", "2–5 s", "≥5 s")] == [4, 1, 0, 0, 1]
    assert frame["≥5 s"]["stop_rate"] == 1.0 and frame["<0.5 s"]["stop_rate"] == 0.0


def test_slowest_and_failed_generations(store: Store) -> None:
    slowest = run(store, queries.slowest_generations, DAY, 3)
    assert slowest["ttft_ms"].tolist() == [6000, 800, 400]
    assert slowest["conversation_id"].iloc[0] == str(C[1]) and '"max_tokens"' in slowest["params"].iloc[0]
    failed = run(store, queries.failed_generations, DAY)
    assert failed["error_type"].tolist() == ["overloaded"] and failed["user_id"].tolist() == [str(U2)]


def test_filter_choices_list_models_and_the_most_active_users(store: Store) -> None:
    models, users = run(store, queries.models_and_users, Filters(DAY.start, DAY.end, model="B"))
    assert models == ["A", "B"] and users == [str(U1), str(U2)]  # 3 replies each: ties by id


def test_an_empty_range_gives_empty_frames_not_errors(store: Store) -> None:
    empty = Filters.last(timedelta(hours=1), now=at(1, 0))
    board = AnalyticsReader(store.engine).dashboard_now(empty)
    assert board.requests.empty and board.ttft.empty and board.slowest.empty
    kpis = by(board.kpis, "kpi")
    assert kpis["replies"]["value"] == 0 and math.isnan(kpis["error_rate"]["value"])
    assert board.stop_rate["replies"].tolist() == [0, 0, 0, 0, 0]


def test_the_dashboard_is_cached_for_its_ttl(store: Store) -> None:
    reader = AnalyticsReader(store.engine, ttl_s=60)
    first = reader.dashboard_now(DAY)
    assert reader.dashboard_now(DAY) is first
    assert AnalyticsReader(store.engine, ttl_s=0).dashboard_now(DAY) is not first
    assert by(first.kpis, "kpi")["replies"]["value"] == 6


def test_aligned_ranges_share_their_end_within_the_alignment() -> None:
    a = aligned_range(timedelta(hours=1), 10, now=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))
    b = aligned_range(timedelta(hours=1), 10, now=datetime(2026, 1, 1, 0, 0, 9, tzinfo=UTC))
    assert a == b and a[1] == datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)


def test_thinking_by_model_puts_thinking_time_beside_the_answers_first_token(store: Store) -> None:
    """Rows 2 and 3 (model A) thought; rows 1 and 6 did not, and were written before thinking was measured."""
    thought = {2: (100, 1000.0, 1200.0), 3: (300, 3000.0, 3400.0)}  # reasoning tokens, thinking ms, answer ms
    with store.engine.begin() as connection:
        for row, (tokens, thinking_ms, answer_ms) in thought.items():
            connection.execute(
                update(Generation)
                .where(Generation.message_id == MESSAGE[row])
                .values(reasoning_tokens=tokens, thinking_ms=thinking_ms, time_to_first_answer_ms=answer_ms)
            )
    rows = by(run(store, queries.thinking_by_model, DAY), "model")
    a, b = rows["A"], rows["B"]
    assert (a["replies"], a["thought_share"], a["thinking_tokens_per_reply"]) == (4, 0.5, 200)
    assert same(a["thinking_p50_ms"], 2000) and same(a["thinking_p95_ms"], 2900)
    # Answers start at 100 (row 1, its first token), 1200, 3400 and 6000 ms (row 6, its first token).
    assert same(a["answer_ttft_p50_ms"], 2300) and same(a["answer_ttft_p95_ms"], 3400 + 0.85 * 2600)
    assert (b["replies"], b["thought_share"]) == (1, 0.0)  # row 5 failed before any token
    assert b["thinking_p50_ms"] is None or math.isnan(b["thinking_p50_ms"])
