"""Analytics reads over the model servers' load (``server_load``), beside the replies: plain functions from
(connection, filters) to DataFrames, portable between DuckDB and PostgreSQL like ``analytics.queries``.

A model filter narrows the readings to the servers that answered that model's replies in the range; the user and
source filters apply to the replies only (a server's load is everyone's).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Connection

from analytics.queries import (
    IN_FLIGHT_BUCKETS,
    Filters,
    _bucket_case,
    _frame,
    _label_buckets,
    _state_params,
    _times,
    quantiles,
    server_state_sql,
    spread,
    where_clause,
)
from storage.server_state import NEAREST_SAMPLE_S

SAMPLE_EPOCH = (
    "CAST(floor(CAST(extract(epoch FROM sampled_at) AS double precision) / :step) * :step AS double precision)"
)
# Requests waiting at the server when a reply started, bucketed like ChatLens's own streams in flight.
WAITING_BUCKETS = IN_FLIGHT_BUCKETS
TTFT_P50_P95 = ["ttft_p50_ms", "ttft_p95_ms"]


def _readings_where(filters: Filters) -> tuple[str, dict[str, Any]]:
    clauses = "sampled_at >= :start AND sampled_at < :end"
    params: dict[str, Any] = {"start": filters.start, "end": filters.end}
    if filters.model is not None:
        clauses += (
            " AND server_url IN (SELECT DISTINCT server_url FROM generations"
            " WHERE model_id = :model AND created_at >= :start AND created_at < :end)"
        )
        params["model"] = filters.model
    return clauses, params


def server_load_over_time(connection: Connection, filters: Filters, step_s: int | None = None) -> pd.DataFrame:
    """``time``, ``waiting`` and ``running`` (each server's mean over the interval, summed over the servers),
    ``kv_cache`` (the servers' mean use, 0–1), per interval with readings."""
    where, params = _readings_where(filters)
    sql = f"""
        WITH per_server AS (
          SELECT {SAMPLE_EPOCH} AS epoch_s, server_url, avg(waiting) AS waiting, avg(running) AS running,
                 avg(kv_cache_use) AS kv_cache
          FROM server_load WHERE {where} GROUP BY 1, 2
        )
        SELECT epoch_s, CAST(sum(waiting) AS double precision) AS waiting,
               CAST(sum(running) AS double precision) AS running, CAST(avg(kv_cache) AS double precision) AS kv_cache
        FROM per_server GROUP BY 1 ORDER BY 1"""
    return _times(_frame(connection, sql, {**params, "step": step_s or filters.interval_s()}))


def ttft_by_server_queue(connection: Connection, filters: Filters, near_s: float = NEAREST_SAMPLE_S) -> pd.DataFrame:
    """``bucket`` (requests waiting at the model server when the reply started), ``ttft_p50_ms``, ``ttft_p95_ms``,
    ``replies`` (replies with a reading near their start): the waiting count stored on each row, joined to
    ``server_load`` for the rows written without it."""
    where, params = where_clause(filters)
    ttft = "time_to_first_token_ms"
    timed = f"FROM generations WHERE {where} AND {ttft} IS NOT NULL"
    picked = f"SELECT id, server_url, created_at, duration_ms, {ttft} {timed} AND server_sampled_at IS NULL"
    joined = server_state_sql(picked, carry=(ttft,), state=("server_waiting",))
    sql = f"""
        SELECT {_bucket_case("server_waiting", WAITING_BUCKETS)} AS bucket_no,
               {quantiles(ttft, (0.5, 0.95))} AS ttft, count(*) AS replies
        FROM (
          SELECT server_waiting, {ttft} {timed} AND server_sampled_at IS NOT NULL
          UNION ALL
          SELECT server_waiting, {ttft} FROM ({joined}) AS joined
        ) AS state WHERE server_waiting IS NOT NULL GROUP BY 1"""
    frame = spread(_frame(connection, sql, {**params, **_state_params(filters, near_s)}), "ttft", TTFT_P50_P95)
    frame = frame[["bucket_no", *TTFT_P50_P95, "replies"]]
    return _label_buckets(frame, WAITING_BUCKETS, ("replies",))


def client_vs_server_ttft(connection: Connection, filters: Filters, step_s: int | None = None) -> pd.DataFrame:
    """Long form, one line per side: ``time``, ``side`` (``ChatLens`` — what the user waited, measured here — or
    ``model server`` — its own histogram), ``ttft_ms`` (the mean over the interval: the server publishes sums and
    counts, so means are compared with means). Only servers that publish their TTFT (vLLM) and intervals where both
    sides have a value; the gap is the network and ChatLens."""
    where, params = where_clause(filters)
    readings, reading_params = _readings_where(filters)
    sql = f"""
        WITH server AS (
          SELECT {SAMPLE_EPOCH} AS epoch_s, server_url, avg(server_ttft_ms) AS server_ms
          FROM server_load WHERE {readings} AND server_ttft_ms IS NOT NULL GROUP BY 1, 2
        ),
        client AS (
          SELECT CAST(floor(CAST(extract(epoch FROM created_at) AS double precision) / :step) * :step
                      AS double precision) AS epoch_s,
                 server_url, avg(time_to_first_token_ms) AS client_ms
          FROM generations WHERE {where} AND time_to_first_token_ms IS NOT NULL GROUP BY 1, 2
        )
        SELECT client.epoch_s, CAST(avg(client.client_ms) AS double precision) AS chatlens,
               CAST(avg(server.server_ms) AS double precision) AS model_server
        FROM client JOIN server ON server.epoch_s = client.epoch_s AND server.server_url = client.server_url
        GROUP BY 1 ORDER BY 1"""
    wide = _times(_frame(connection, sql, {**reading_params, **params, "step": step_s or filters.interval_s()}))
    long = wide.melt(id_vars="time", value_vars=["chatlens", "model_server"], var_name="side", value_name="ttft_ms")
    long["side"] = long["side"].map({"chatlens": "ChatLens", "model_server": "model server"})
    return long
