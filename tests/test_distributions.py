"""Distributions and the browser's view in the Analytics tab's reads, checked to the number against the seed
(``tests/support/seeds.py``) on a real DuckDB file and PostgreSQL.

In the seed's day (rows 1–6): model A answered in 100, 200, 400 and 6000 ms at 10, 20, 30 and 5 tokens/s; model B
once in 800 ms at 40 tokens/s and failed once (no first token). Users U1 (rows 1, 2, 6) and U2 (rows 3, 4, 5).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import insert, update

from analytics import browser_queries, distributions, queries
from analytics.queries import Filters
from storage.schema import BrowserError, BrowserReply, Generation
from storage.store import Store
from tests.support.seeds import DAY, MESSAGE, NOW, U1, U2, at, seed


def records(frame: Any) -> list[dict[str, Any]]:
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict("records")]


def test_ttft_histogram_and_cdf_per_model(store: Store) -> None:
    seed(store)
    with store.engine.connect() as connection:
        ttft, rate = distributions.histograms(connection, DAY)
    a = ttft[ttft["model"] == "A"]
    assert len(a) == len(distributions.TTFT_HISTOGRAM_MS)  # every bucket, zeros included
    counts = dict(zip(a["bucket"], a["replies"], strict=True))
    assert {label: n for label, n in counts.items() if n} == {
        "100–200 ms": 1, "200–300 ms": 1, "300–500 ms": 1, "5,000–10,000 ms": 1,
    }  # fmt: skip
    cdf = dict(zip(a["upper"], a["cumulative"], strict=True))
    assert (cdf[100.0], cdf[200.0], cdf[300.0], cdf[500.0], cdf[5000.0], cdf[10_000.0]) == (0, 0.25, 0.5, 0.75, 0.75, 1)
    assert a["share"].sum() == pytest.approx(1.0)
    b = ttft[(ttft["model"] == "B") & (ttft["replies"] > 0)]
    assert list(b["bucket"]) == ["750–1,000 ms"] and list(b["share"]) == [1.0]  # the failed reply had no TTFT
    a_rate = rate[(rate["model"] == "A") & (rate["replies"] > 0)]
    assert dict(zip(a_rate["bucket"], a_rate["replies"], strict=True)) == {
        "5–10 tok/s": 1, "10–15 tok/s": 1, "20–30 tok/s": 1, "30–40 tok/s": 1,
    }  # fmt: skip


def test_p50_p95_p99_and_the_tokens_per_s_spread_by_model_source_and_user(store: Store) -> None:
    seed(store)
    with store.sessions() as session:  # row 3 came through /v1, row 4 through /chat; the rest from the page
        session.execute(update(Generation).where(Generation.message_id == MESSAGE[3]).values(source="openai_api"))
        session.execute(update(Generation).where(Generation.message_id == MESSAGE[4]).values(source="gradio_api"))
        session.commit()
    with store.engine.connect() as connection:
        by_model = records(distributions.percentiles_by(connection, DAY, "model"))
        by_source = records(distributions.percentiles_by(connection, DAY, "source"))
        by_user = records(distributions.percentiles_by(connection, DAY, "user"))
        top_user = records(distributions.percentiles_by(connection, DAY, "user", limit=1))
        chart = distributions.tokens_per_s_p50(distributions.percentiles_by(connection, DAY, "model"))
        as_before = queries.tokens_per_s_by_model(connection, DAY)
    a, b = by_model
    assert (a["model"], a["replies"], a["ttft_p50_ms"], a["errors"]) == ("A", 4, 300, 0)
    assert a["ttft_p95_ms"] == pytest.approx(5160) and a["ttft_p99_ms"] == pytest.approx(5832)
    assert (a["tokens_per_s_p5"], a["tokens_per_s_p50"], a["tokens_per_s_p95"]) == pytest.approx((5.75, 15, 28.5))
    assert (b["model"], b["replies"], b["ttft_p50_ms"], b["ttft_p99_ms"], b["errors"]) == ("B", 2, 800, 800, 1)
    assert [(r["source"], r["replies"], r["ttft_p50_ms"]) for r in by_source] == [
        ("page", 4, 200), ("/chat", 1, 800), ("/v1", 1, 400),
    ]  # fmt: skip
    assert [(r["user"], r["replies"], r["ttft_p50_ms"], r["errors"]) for r in by_user] == [
        (str(U1), 3, 200, 0), (str(U2), 3, 600, 1),
    ]  # fmt: skip
    assert [(r["user"], r["ttft_p50_ms"]) for r in top_user] == [(str(U1), 200)]  # ties: the lower id
    # The tokens/s chart now reads the by-model table: the same numbers as its own query gave.
    assert chart.to_dict("list") == as_before[["model", "tokens_per_s_p50"]].to_dict("list")


def test_felt_ttft_beside_server_ttft_by_connection_and_the_browser_errors(store: Store) -> None:
    seed(store)
    with store.sessions() as session:
        ids = dict(session.query(Generation.message_id, Generation.id).all())

        def seen(row: int, felt_ms: float, connection: str, user: uuid.UUID = U1) -> dict[str, Any]:
            return {
                "generation_id": ids[MESSAGE[row]], "user_id": user, "felt_ttft_ms": felt_ms,
                "felt_last_token_ms": felt_ms + 500, "frames": 40, "long_frames": 2, "fps": 50.0,
                "heap_bytes": None, "connection": connection, "created_at": NOW,
            }  # fmt: skip

        session.execute(
            insert(BrowserReply),
            [seen(1, 150, "local"), seen(2, 260, "local"), seen(3, 700, "remote", U2), seen(9, 99, "remote")],
        )  # row 9 is outside the day
        errors = [
            ("boom", 5, at(10, 9), at(10, 11)),
            ("bang", 9, at(1, 9), at(2, 9)),  # not seen in the day
            ("old but again", 2, at(1, 9), at(9, 13)),
        ]
        session.execute(
            insert(BrowserError),
            [
                {"fingerprint": message, "kind": "error", "message": message, "stack": "", "version": "0.1.0",
                 "page": "/", "count": count, "first_seen": first, "last_seen": last}
                for message, count, first, last in errors
            ],
        )  # fmt: skip
        session.commit()
    with store.engine.connect() as connection:
        felt = records(browser_queries.felt_vs_server_ttft(connection, DAY))
        just_u2 = records(browser_queries.felt_vs_server_ttft(connection, Filters(DAY.start, DAY.end, user_id=U2)))
        shown = records(browser_queries.browser_errors(connection, DAY))
    local, remote = felt
    assert (local["connection"], local["replies"], local["felt_ttft_p50_ms"], local["server_ttft_p50_ms"]) == (
        "local", 2, 205, 150,
    )  # fmt: skip
    assert (local["gap_p50_ms"], local["fps_p50"], local["long_frame_share"]) == (55, 50, 0.05)
    assert (remote["connection"], remote["replies"], remote["felt_ttft_p50_ms"], remote["gap_p95_ms"]) == (
        "remote", 1, 700, 300,
    )  # fmt: skip
    assert [(r["connection"], r["replies"]) for r in just_u2] == [("remote", 1)]
    assert [(r["message"], r["count"]) for r in shown] == [("boom", 5), ("old but again", 2)]
