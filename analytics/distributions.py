"""Distributions, not only medians: TTFT and tokens/s per model as histograms (with their cumulative shares, the CDF),
and p50 / p95 / p99 of TTFT with the spread of tokens/s by model, by source (page, ``/chat``, ``/v1``) and by user.

Plain functions from (connection, filters) to DataFrames, portable between DuckDB and PostgreSQL like
``analytics.queries``: both histograms in one pass (a ``CASE`` over fixed bounds), percentiles with
``percentile_cont … WITHIN GROUP``.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from sqlalchemy import Connection

from analytics.queries import Filters, _bucket_case, _frame, quantiles, spread, where_clause

# Upper bounds (exclusive) of the histograms' buckets, roughly logarithmic; the last bucket takes everything above.
TTFT_HISTOGRAM_MS = (100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, None)
TOKENS_PER_S_HISTOGRAM = (5, 10, 15, 20, 30, 40, 60, 80, 120, 160, None)
TTFT_QUANTILES = (0.5, 0.95, 0.99)
TOKENS_PER_S_QUANTILES = (0.05, 0.5, 0.95)
TTFT_COLUMNS = [f"ttft_p{round(q * 100)}_ms" for q in TTFT_QUANTILES]
TOKENS_PER_S_COLUMNS = [f"tokens_per_s_p{round(q * 100)}" for q in TOKENS_PER_S_QUANTILES]
SOURCE_NAMES = {"chat": "page", "gradio_api": "/chat", "openai_api": "/v1"}
Key = Literal["model", "source", "user"]
_KEYS = {"model": "coalesce(model_id, '(unknown)')"}


def _labels(bounds: tuple[int | None, ...], unit: str) -> list[str]:
    labels, low = [], 0
    for upper in bounds:
        labels.append(f"{low:,}–{upper:,} {unit}" if upper is not None else f"≥{low:,} {unit}")
        low = upper if upper is not None else low
    return labels


def histograms(connection: Connection, filters: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TTFT and tokens/s per model, in one pass (grouped by model and both buckets at once, then added up here), as
    two long frames: ``model``, ``bucket`` (label), ``upper`` (the bucket's upper bound; the last one's is the
    model's highest value), ``replies``, ``share`` (of the model's replies with a value) and ``cumulative`` (the CDF
    at ``upper``). Every bucket of every model with a value appears, zeros included."""
    where, params = where_clause(filters)
    ttft, rate = "time_to_first_token_ms", "tokens_per_s"
    sql = f"""
        SELECT coalesce(model_id, '(unknown)') AS model,
               CASE WHEN {ttft} IS NULL THEN -1 ELSE {_bucket_case(ttft, _pairs(TTFT_HISTOGRAM_MS))} END AS t,
               CASE WHEN {rate} IS NULL THEN -1 ELSE {_bucket_case(rate, _pairs(TOKENS_PER_S_HISTOGRAM))} END AS r,
               count(*) AS replies, CAST(max({ttft}) AS double precision) AS t_highest,
               CAST(max({rate}) AS double precision) AS r_highest
        FROM generations WHERE {where} GROUP BY 1, 2, 3"""
    counted = _frame(connection, sql, params).astype({"t": "int64", "r": "int64", "replies": "int64"})
    return (
        _long(counted, "t", TTFT_HISTOGRAM_MS, "ms"),
        _long(counted, "r", TOKENS_PER_S_HISTOGRAM, "tok/s"),
    )


def _pairs(bounds: tuple[int | None, ...]) -> tuple[tuple[int | None, str], ...]:
    return tuple((upper, "") for upper in bounds)


def _long(counted: pd.DataFrame, side: str, bounds: tuple[int | None, ...], unit: str) -> pd.DataFrame:
    labels = _labels(bounds, unit)
    rows = []
    valued = counted[counted[side] >= 0]
    for model, group in valued.groupby("model", sort=True):
        per_bucket = group.groupby(side)["replies"].sum().to_dict()
        total, running = int(group["replies"].sum()), 0
        highest = float(group[f"{side}_highest"].max())
        for number, (upper, label) in enumerate(zip(bounds, labels, strict=True)):
            replies = int(per_bucket.get(number, 0))
            running += replies
            top = float(upper) if upper is not None else max(highest, float(bounds[-2] or 0))
            rows.append((model, label, top, replies, replies / total, running / total))
    return pd.DataFrame(rows, columns=["model", "bucket", "upper", "replies", "share", "cumulative"])


_AGGREGATES = f"""count(*) AS replies, {quantiles("time_to_first_token_ms", TTFT_QUANTILES)} AS ttft,
               {quantiles("tokens_per_s", TOKENS_PER_S_QUANTILES)} AS rate,
               count(*) FILTER (WHERE status = 'error') AS errors"""


def percentiles_by(connection: Connection, filters: Filters, key: Key, limit: int = 20) -> pd.DataFrame:
    """One row per model, source or user (``key``; users: the most active ``limit``): ``replies``,
    ``ttft_p50_ms`` / ``ttft_p95_ms`` / ``ttft_p99_ms``, ``tokens_per_s_p5`` / ``_p50`` / ``_p95`` (the slow tail
    first), ``errors``. Sources read as ``page``, ``/chat`` and ``/v1``. Users: the most active are picked first
    (a count, no sort of values), so only their replies are sorted for the percentiles."""
    if key != "user":
        by_model, by_source = percentiles_by_model_and_source(connection, filters, limit)
        return by_model if key == "model" else by_source
    where, params = where_clause(filters)
    where += (
        f" AND user_id IN (SELECT user_id FROM generations WHERE {where}"
        " GROUP BY user_id ORDER BY count(*) DESC, CAST(user_id AS VARCHAR) LIMIT :limit)"
    )
    sql = f"""
        SELECT CAST(user_id AS VARCHAR) AS user, {_AGGREGATES}
        FROM generations WHERE {where} GROUP BY user_id ORDER BY 2 DESC, 1 LIMIT :limit"""
    return _shaped(_frame(connection, sql, {**params, "limit": limit}), "user")


def percentiles_by_model_and_source(
    connection: Connection, filters: Filters, limit: int = 20
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``percentiles_by`` model and by source in one scan (two grouping sets, each ordered by its key)."""
    where, params = where_clause(filters)
    sql = f"""
        SELECT GROUPING(model) AS by_source, model, source, {_AGGREGATES}
        FROM (
          SELECT {_KEYS["model"]} AS model, source, time_to_first_token_ms, tokens_per_s, status
          FROM generations WHERE {where}
        ) AS picked
        GROUP BY GROUPING SETS ((model), (source)) ORDER BY 1, 2, 3"""
    both = _frame(connection, sql, params)
    by_model = both[both["by_source"] == 0].head(limit).reset_index(drop=True)
    by_source = both[both["by_source"] == 1].head(limit).reset_index(drop=True)
    return _shaped(by_model, "model"), _shaped(by_source, "source")


def _shaped(frame: pd.DataFrame, key: Key) -> pd.DataFrame:
    frame = spread(spread(frame, "ttft", TTFT_COLUMNS), "rate", TOKENS_PER_S_COLUMNS)
    frame = frame[[key, "replies", *TTFT_COLUMNS, *TOKENS_PER_S_COLUMNS, "errors"]]
    if key == "source":
        frame["source"] = frame["source"].map(lambda name: SOURCE_NAMES.get(name, name))
    return frame


def tokens_per_s_p50(by_model: pd.DataFrame) -> pd.DataFrame:
    """``analytics.queries.tokens_per_s_by_model``'s frame (``model``, ``tokens_per_s_p50``) from ``percentiles_by``
    by model, which computes it already (the tab's tokens/s chart; one sort of the range fewer)."""
    frame = by_model[["model", "tokens_per_s_p50"]].dropna(subset=["tokens_per_s_p50"])
    return frame.reset_index(drop=True).astype({"tokens_per_s_p50": "float64"})
