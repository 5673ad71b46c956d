"""Distributions, not only medians: TTFT and tokens/s per model as histograms (with their cumulative shares, the CDF),
and p50 / p95 / p99 of TTFT with the spread of tokens/s by model, by source (page, ``/chat``, ``/v1``) and by user.

Plain functions from (connection, filters) to DataFrames, portable between DuckDB and PostgreSQL like
``analytics.queries``: one pass per histogram (a ``CASE`` over fixed bounds), percentiles with
``percentile_cont … WITHIN GROUP``.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from sqlalchemy import Connection

from analytics.queries import Filters, _bucket_case, _frame, where_clause

# Upper bounds (exclusive) of the histograms' buckets, roughly logarithmic; the last bucket takes everything above.
TTFT_HISTOGRAM_MS = (100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, None)
TOKENS_PER_S_HISTOGRAM = (5, 10, 15, 20, 30, 40, 60, 80, 120, 160, None)
SOURCE_NAMES = {"chat": "page", "gradio_api": "/chat", "openai_api": "/v1"}
Key = Literal["model", "source", "user"]
_KEYS = {
    "model": "coalesce(model_id, '(unknown)')",
    "source": "source",
    "user": "CAST(user_id AS VARCHAR)",
}


def _labels(bounds: tuple[int | None, ...], unit: str) -> list[str]:
    labels, low = [], 0
    for upper in bounds:
        labels.append(f"{low:,}–{upper:,} {unit}" if upper is not None else f"≥{low:,} {unit}")
        low = upper if upper is not None else low
    return labels


def _histogram(
    connection: Connection, filters: Filters, column: str, bounds: tuple[int | None, ...], unit: str
) -> pd.DataFrame:
    """Long form: ``model``, ``bucket`` (label), ``upper`` (the bucket's upper bound; the last one's is the model's
    highest value), ``replies``, ``share`` (of the model's replies with a value) and ``cumulative`` (the CDF at
    ``upper``). Every bucket of every model appears, zeros included."""
    where, params = where_clause(filters)
    buckets = tuple((upper, label) for upper, label in zip(bounds, _labels(bounds, unit), strict=True))
    sql = f"""
        SELECT coalesce(model_id, '(unknown)') AS model, {_bucket_case(column, buckets)} AS bucket_no,
               count(*) AS replies, CAST(max({column}) AS double precision) AS highest
        FROM generations WHERE {where} AND {column} IS NOT NULL GROUP BY 1, 2"""
    counted = _frame(connection, sql, params)
    columns = ["model", "bucket", "upper", "replies", "share", "cumulative"]
    if counted.empty:
        return pd.DataFrame(columns=columns)
    counted = counted.astype({"bucket_no": "int64", "replies": "int64", "highest": "float64"})
    rows = []
    for model, group in counted.groupby("model", sort=True):
        per_bucket = dict(zip(group["bucket_no"], group["replies"], strict=True))
        total, running = int(group["replies"].sum()), 0
        for number, (upper, label) in enumerate(buckets):
            replies = int(per_bucket.get(number, 0))
            running += replies
            top = float(upper) if upper is not None else max(float(group["highest"].max()), float(bounds[-2] or 0))
            rows.append((model, label, top, replies, replies / total, running / total))
    return pd.DataFrame(rows, columns=columns)


def ttft_histogram(connection: Connection, filters: Filters) -> pd.DataFrame:
    """TTFT per model (``_histogram``'s columns), over the replies that produced a first token."""
    return _histogram(connection, filters, "time_to_first_token_ms", TTFT_HISTOGRAM_MS, "ms")


def tokens_per_s_histogram(connection: Connection, filters: Filters) -> pd.DataFrame:
    """Tokens/s per model (``_histogram``'s columns), over the replies that measured a rate."""
    return _histogram(connection, filters, "tokens_per_s", TOKENS_PER_S_HISTOGRAM, "tok/s")


def percentiles_by(connection: Connection, filters: Filters, key: Key, limit: int = 20) -> pd.DataFrame:
    """One row per model, source or user (``key``; users: the most active ``limit``): ``replies``,
    ``ttft_p50_ms`` / ``ttft_p95_ms`` / ``ttft_p99_ms``, ``tokens_per_s_p5`` / ``_p50`` / ``_p95`` (the slow tail
    first), ``errors``. Sources read as ``page``, ``/chat`` and ``/v1``."""
    where, params = where_clause(filters)

    def pct(q: float, column: str) -> str:
        return f"CAST(percentile_cont({q}) WITHIN GROUP (ORDER BY {column}) AS double precision)"

    order = "2 DESC, 1" if key == "user" else "1"
    sql = f"""
        SELECT {_KEYS[key]} AS {key}, count(*) AS replies,
               {pct(0.5, "time_to_first_token_ms")} AS ttft_p50_ms,
               {pct(0.95, "time_to_first_token_ms")} AS ttft_p95_ms,
               {pct(0.99, "time_to_first_token_ms")} AS ttft_p99_ms,
               {pct(0.05, "tokens_per_s")} AS tokens_per_s_p5, {pct(0.5, "tokens_per_s")} AS tokens_per_s_p50,
               {pct(0.95, "tokens_per_s")} AS tokens_per_s_p95,
               count(*) FILTER (WHERE status = 'error') AS errors
        FROM generations WHERE {where} GROUP BY 1 ORDER BY {order} LIMIT :limit"""
    frame = _frame(connection, sql, {**params, "limit": limit})
    if key == "source":
        frame["source"] = frame["source"].map(lambda name: SOURCE_NAMES.get(name, name))
    return frame
