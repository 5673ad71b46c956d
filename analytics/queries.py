"""Analytics reads: plain functions from (connection, filters) to pandas DataFrames, over the ``generations`` table.

Invariants:
* Portable SQL only: every statement runs unchanged on DuckDB and PostgreSQL (``percentile_cont … WITHIN GROUP``,
  ``count(*) FILTER (WHERE …)``, ``extract(epoch FROM …)`` cast to double precision). Rates are computed here from
  integer counts, so neither database's numeric types leak into the frames.
* Read-only: nothing here writes. Values are always bound parameters; the only SQL assembled from pieces is the
  fixed filter fragments below.
* Times: ``created_at`` is UTC; interval buckets are epoch-aligned (``floor(epoch / step) * step``).
* "Replies" are generation rows (one per model call): they carry the model and user, so every filter applies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from storage.server_state import LONGEST_REPLY, NEAREST_SAMPLE_S, STATE_COLUMNS

# Upper bounds (exclusive) and labels of the buckets; the last label takes everything above.
PROMPT_BUCKETS = ((256, "<256"), (1024, "256–1k"), (4096, "1k–4k"), (None, "≥4k"))
TTFT_BUCKETS_MS = ((500, "<0.5 s"), (1000, "0.5–1 s"), (2000, "1–2 s"), (5000, "2–5 s"), (None, "≥5 s"))
IN_FLIGHT_BUCKETS = ((1, "0"), (2, "1"), (4, "2–3"), (8, "4–7"), (16, "8–15"), (32, "16–31"), (None, "≥32"))
TTFT_OVER_TIME = (0.5, 0.95, 0.99)
NICE_STEPS_S = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400)
# A vote or a browser report on a reply comes after the reply's row was written, so only rows written since the
# range's start (less this, for the clocks of replicas that disagree) can be about its replies: the reads over them
# skip the older ones (the whole history of votes and reports otherwise, whatever the range).
LATER_ROWS_SLACK = timedelta(hours=1)
EPOCH = "CAST(floor(CAST(extract(epoch FROM created_at) AS double precision) / :step) * :step AS double precision)"
# A reply's server state is its server's latest reading of ``server_load`` at or before its start (``created_at``
# is when it ended, so the start is ``created_at - duration_ms``), if one is at most NEAREST_SAMPLE_S old: twice the
# default MODEL_METRICS_INTERVAL_S, so one missed reading still finds one. It is stored on the row when the row is
# written (``storage.server_state``, the same rule); the join below finds it for rows written without it. Readings
# are searched from LONGEST_REPLY before the range: a reply that ended in the range may have started before it.


@dataclass(frozen=True, slots=True)
class Filters:
    """A time range [start, end) in UTC, optionally one model (``generations.model_id``), one user and one source
    (``generations.source``: ``chat``, ``gradio_api``, ``openai_api``). ``without_deleted`` leaves out the replies of
    conversations their users deleted (the admin's choice)."""

    start: datetime
    end: datetime
    model: str | None = None
    user_id: uuid.UUID | None = None
    without_deleted: bool = False
    source: str | None = None

    @classmethod
    def last(cls, span: timedelta, *, now: datetime | None = None, **kwargs: Any) -> Filters:
        end = now or datetime.now(UTC)
        return cls(end - span, end, **kwargs)

    def previous(self) -> Filters:
        """The period of the same length just before this one (for "change vs previous period")."""
        span = self.end - self.start
        return replace(self, start=self.start - span, end=self.start)

    def interval_s(self, buckets: int = 60) -> int:
        """A round bucket size giving about ``buckets`` points over the range."""
        wanted = (self.end - self.start).total_seconds() / buckets
        return next((step for step in NICE_STEPS_S if step >= wanted), NICE_STEPS_S[-1])


def where_clause(
    filters: Filters, *, start: datetime | None = None, prefix: str = "", owner: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The filters as SQL over a table with ``created_at`` and ``conversation_id`` (``prefix``); ``model_id`` and
    ``user_id`` are read from ``owner`` (default: the same table)."""
    owner = prefix if owner is None else owner
    clauses = [f"{prefix}created_at >= :start", f"{prefix}created_at < :end"]
    params: dict[str, Any] = {"start": start or filters.start, "end": filters.end}
    if filters.model is not None:
        clauses.append(f"{owner}model_id = :model")
        params["model"] = filters.model
    if filters.user_id is not None:
        clauses.append(f"{owner}user_id = CAST(:user_id AS UUID)")
        params["user_id"] = str(filters.user_id)
    if filters.without_deleted:
        clauses.append(f"{prefix}conversation_id NOT IN (SELECT id FROM conversations WHERE deleted_at IS NOT NULL)")
    if filters.source is not None:
        if owner == prefix:  # the generations table itself
            clauses.append(f"{prefix}source = :source")
        else:  # messages: those of conversations answered through that source
            clauses.append(
                f"{prefix}conversation_id IN (SELECT conversation_id FROM generations WHERE source = :source)"
            )
        params["source"] = filters.source
    return " AND ".join(clauses), params


def _frame(connection: Connection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    result = connection.execute(text(sql), params)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def quantiles(column: str, fractions: tuple[float, ...]) -> str:
    """Several percentiles of ``column`` in one ordered-set aggregate (an array: one sort for all of them, not one
    each; measured 175 ms against 521 ms for six over a million rows on DuckDB). PostgreSQL and DuckDB both take an
    array of fractions."""
    listed = ", ".join(str(q) for q in fractions)
    return f"CAST(percentile_cont(ARRAY[{listed}]) WITHIN GROUP (ORDER BY {column}) AS double precision[])"


def spread(frame: pd.DataFrame, column: str, names: list[str]) -> pd.DataFrame:
    """An array column of ``quantiles`` as one float column per fraction (NaN where there was no value)."""
    values = [
        [float("nan") if x is None else float(x) for x in v] if isinstance(v, list | tuple) and v else
        [float("nan")] * len(names)
        for v in frame.pop(column)
    ]  # fmt: skip
    spread_out = pd.DataFrame(values, columns=names, index=frame.index, dtype="float64")
    return pd.concat([frame, spread_out], axis=1)


def _bucket_case(column: str, buckets: tuple[tuple[int | None, str], ...]) -> str:
    whens = " ".join(f"WHEN {column} < {upper} THEN {i}" for i, (upper, _) in enumerate(buckets) if upper is not None)
    return f"CASE {whens} ELSE {len(buckets) - 1} END"


def _label_buckets(
    frame: pd.DataFrame, buckets: tuple[tuple[int | None, str], ...], counts: tuple[str, ...]
) -> pd.DataFrame:
    """Every bucket appears, in order, with zero ``counts`` where there was nothing."""
    labels = [label for _, label in buckets]
    full = pd.DataFrame({"bucket_no": range(len(buckets)), "bucket": labels})
    merged = full.merge(frame.astype({"bucket_no": "int64"}), on="bucket_no", how="left").drop(columns="bucket_no")
    for column in counts:
        merged[column] = merged[column].fillna(0).astype("int64")
    merged["bucket"] = pd.Categorical(merged["bucket"], categories=labels, ordered=True)
    return merged


def _times(frame: pd.DataFrame) -> pd.DataFrame:
    frame["time"] = pd.to_datetime(frame.pop("epoch_s").astype("float64"), unit="s", utc=True)
    return frame


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator > 0)).astype("float64")


# -- KPIs --------------------------------------------------------------------------------------------------------

KPI_NAMES = (
    "conversations",
    "replies",
    "active_users",
    "tokens_in",
    "tokens_out",
    "error_rate",
    "stop_rate",
    "thumbs_up_ratio",
)
KPI_COUNTS = ("conversations", "replies", "active_users", "tokens_in", "tokens_out", "errors", "stopped")


def kpis(connection: Connection, filters: Filters) -> pd.DataFrame:
    """One row per KPI: ``kpi``, ``value`` (this period), ``previous`` (the period before), ``change`` (relative)."""
    previous = filters.previous()
    where, params = where_clause(filters, start=previous.start)
    # One scan for both periods; the distinct counts as distinct (period, id) pairs counted per period: a hash
    # aggregate each, where four ``count(DISTINCT …) FILTER`` took 2.5× as long (90 days, 1M replies, DuckDB).
    sql = f"""
        WITH picked AS (
          SELECT CASE WHEN created_at >= :split THEN 'now' ELSE 'before' END AS period, conversation_id, user_id,
                 prompt_tokens, output_tokens, status
          FROM generations WHERE {where}
        )
        SELECT period, 'totals' AS part, count(*) AS replies,
               CAST(coalesce(sum(prompt_tokens), 0) AS BIGINT) AS tokens_in,
               CAST(coalesce(sum(output_tokens), 0) AS BIGINT) AS tokens_out,
               count(*) FILTER (WHERE status = 'error') AS errors, count(*) FILTER (WHERE status = 'stopped') AS stopped
        FROM picked GROUP BY 1
        UNION ALL
        SELECT period, 'conversations', count(*), 0, 0, 0, 0
        FROM (SELECT DISTINCT period, conversation_id FROM picked) AS pairs GROUP BY 1
        UNION ALL
        SELECT period, 'active_users', count(*), 0, 0, 0, 0
        FROM (SELECT DISTINCT period, user_id FROM picked) AS pairs GROUP BY 1"""
    row = {f"{name}_{s}": 0 for name in KPI_COUNTS for s in ("now", "before")}
    for period, part, count, tokens_in, tokens_out, errors, stopped in connection.execute(
        text(sql), {**params, "split": filters.start}
    ).fetchall():
        if part == "totals":
            counts = {"replies": count, "tokens_in": tokens_in, "tokens_out": tokens_out}
            row.update({f"{name}_{period}": int(value) for name, value in counts.items()})
            row.update({f"errors_{period}": int(errors), f"stopped_{period}": int(stopped)})
        else:
            row[f"{part}_{period}"] = int(count)
    feedback = _feedback_totals(connection, filters, previous)

    def values(s: str) -> dict[str, float]:
        replies = int(row[f"replies_{s}"])
        up, down = feedback[s]
        return {
            "conversations": int(row[f"conversations_{s}"]),
            "replies": replies,
            "active_users": int(row[f"active_users_{s}"]),
            "tokens_in": int(row[f"tokens_in_{s}"]),
            "tokens_out": int(row[f"tokens_out_{s}"]),
            "error_rate": int(row[f"errors_{s}"]) / replies if replies else float("nan"),
            "stop_rate": int(row[f"stopped_{s}"]) / replies if replies else float("nan"),
            "thumbs_up_ratio": up / (up + down) if up + down else float("nan"),
        }

    now, before_values = values("now"), values("before")
    frame = pd.DataFrame(
        {
            "kpi": list(KPI_NAMES),
            "value": [float(now[k]) for k in KPI_NAMES],
            "previous": [float(before_values[k]) for k in KPI_NAMES],
        }
    )
    frame["change"] = _ratio(frame["value"] - frame["previous"], frame["previous"])
    return frame


def _latest_feedback_sql(where: str) -> str:
    """Feedback on the filtered replies: the latest vote per (message, user) counts. The latest is picked over the
    votes cast since ``:votes_since`` (every vote on a reply of the range; ``LATER_ROWS_SLACK``), then joined to the
    replies: restricting the votes first with ``IN (SELECT message_id FROM replies)`` hashed every reply of the range
    once more."""
    return f"""
        WITH replies AS (SELECT message_id, created_at, time_to_first_token_ms FROM generations WHERE {where}),
        votes AS (
          SELECT f.message_id, f.value,
                 row_number() OVER (PARTITION BY f.message_id, f.user_id ORDER BY f.created_at DESC, f.id) AS nth
          FROM feedback f WHERE f.created_at >= :votes_since
        )"""


def _feedback_totals(connection: Connection, filters: Filters, previous: Filters) -> dict[str, tuple[int, int]]:
    where, params = where_clause(filters, start=previous.start)
    sql = (
        _latest_feedback_sql(where)
        + """
        SELECT CASE WHEN r.created_at >= :split THEN 'now' ELSE 'before' END AS period,
               count(*) FILTER (WHERE v.value > 0) AS up, count(*) FILTER (WHERE v.value < 0) AS down
        FROM votes v JOIN replies r ON r.message_id = v.message_id
        WHERE v.nth = 1 GROUP BY 1"""
    )
    totals = {"now": (0, 0), "before": (0, 0)}
    votes_since = previous.start - LATER_ROWS_SLACK
    for period, up, down in connection.execute(
        text(sql), {**params, "split": filters.start, "votes_since": votes_since}
    ).fetchall():
        totals[period] = (int(up), int(down))
    return totals


# -- over time ---------------------------------------------------------------------------------------------------


def over_time(connection: Connection, filters: Filters, step_s: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``requests_over_time`` and ``ttft_over_time`` in one pass (one scan, one group per interval, the three
    percentiles in one ordered-set aggregate): ``percentile_cont`` leaves out the replies without a TTFT, and an
    interval where none had one is left out of the TTFT frame, as a separate read gave them."""
    where, params = where_clause(filters)
    sql = f"""
        SELECT {EPOCH} AS epoch_s, count(*) AS replies, count(*) FILTER (WHERE status = 'error') AS errors,
               count(*) FILTER (WHERE status = 'stopped') AS stopped, count(time_to_first_token_ms) AS timed,
               {quantiles("time_to_first_token_ms", TTFT_OVER_TIME)} AS ttft
        FROM generations WHERE {where} GROUP BY 1 ORDER BY 1"""
    both = _times(_frame(connection, sql, {**params, "step": step_s or filters.interval_s()}))
    requests = both[["replies", "errors", "stopped", "time"]].reset_index(drop=True)
    timed = both[both["timed"] > 0][["ttft", "time"]].reset_index(drop=True)
    wide = spread(timed, "ttft", ["p50", "p95", "p99"])
    ttft = wide.melt(id_vars="time", value_vars=["p50", "p95", "p99"], var_name="stat", value_name="ttft_ms")
    return requests, ttft


def requests_over_time(connection: Connection, filters: Filters, step_s: int | None = None) -> pd.DataFrame:
    """``time``, ``replies``, ``errors``, ``stopped`` per interval (only intervals that had replies)."""
    return over_time(connection, filters, step_s)[0]


def ttft_over_time(connection: Connection, filters: Filters, step_s: int | None = None) -> pd.DataFrame:
    """Long form for one line per statistic: ``time``, ``stat`` (p50 / p95 / p99), ``ttft_ms``."""
    return over_time(connection, filters, step_s)[1]


def errors_over_time(connection: Connection, filters: Filters, step_s: int | None = None) -> pd.DataFrame:
    """``time``, ``error_type``, ``errors`` for failed replies."""
    where, params = where_clause(filters)
    sql = f"""
        SELECT {EPOCH} AS epoch_s, coalesce(error_type, 'unknown') AS error_type, count(*) AS errors
        FROM generations WHERE {where} AND status = 'error' GROUP BY 1, 2 ORDER BY 1, 2"""
    return _times(_frame(connection, sql, {**params, "step": step_s or filters.interval_s()}))


def usage_by_caller(connection: Connection, filters: Filters, limit: int = 50) -> pd.DataFrame:
    """Who uses the model server, and through what: ``user_id``, ``token`` (the API token's prefix and name; empty
    without one), ``source``, ``replies``, ``tokens_in``, ``tokens_out``, ``ttft_p50_ms``, ``errors``; the most
    active first."""
    where, params = where_clause(filters)
    # Grouped by the token's id, then named: the cast and the token's label made once per caller, not per reply
    # (two tokens of one user with the same prefix and name would be two rows; prefixes are random).
    sql = f"""
        WITH callers AS (
          SELECT user_id, token_id, source, count(*) AS replies,
                 CAST(coalesce(sum(prompt_tokens), 0) AS BIGINT) AS tokens_in,
                 CAST(coalesce(sum(output_tokens), 0) AS BIGINT) AS tokens_out,
                 CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY time_to_first_token_ms) AS double precision)
                     AS ttft_p50_ms,
                 count(*) FILTER (WHERE status = 'error') AS errors
          FROM generations WHERE {where} GROUP BY 1, 2, 3
        )
        SELECT CAST(c.user_id AS VARCHAR) AS user_id, coalesce(t.prefix || '… ' || t.name, '') AS token,
               c.source AS source, c.replies, c.tokens_in, c.tokens_out, c.ttft_p50_ms, c.errors
        FROM callers c LEFT JOIN api_tokens t ON t.id = c.token_id
        ORDER BY 4 DESC, 1, 2, 3 LIMIT :limit"""
    return _frame(connection, sql, {**params, "limit": limit})


# -- by model and by bucket --------------------------------------------------------------------------------------


def tokens_per_s_by_model(connection: Connection, filters: Filters) -> pd.DataFrame:
    """``model``, ``tokens_per_s_p50``, ``replies`` (replies that measured a rate)."""
    where, params = where_clause(filters)
    sql = f"""
        SELECT coalesce(model_id, '(unknown)') AS model,
               CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY tokens_per_s) AS double precision) AS tokens_per_s_p50,
               count(*) AS replies
        FROM generations WHERE {where} AND tokens_per_s IS NOT NULL GROUP BY 1 ORDER BY 1"""
    return _frame(connection, sql, params)


def thinking_by_model(connection: Connection, filters: Filters) -> pd.DataFrame:
    """How each model thinks, beside when its answers start: ``model``, ``replies`` (that produced a token),
    ``thought_share`` (of those, the share that thought), ``thinking_p50_ms`` / ``thinking_p95_ms`` (replies that
    thought), ``answer_ttft_p50_ms`` / ``answer_ttft_p95_ms`` (time to the first answer token; a row written before
    thinking was measured counts its time to first token), ``thinking_tokens_per_reply`` (replies that thought)."""
    where, params = where_clause(filters)
    answer = "coalesce(time_to_first_answer_ms, time_to_first_token_ms)"
    sql = f"""
        SELECT coalesce(model_id, '(unknown)') AS model,
               count(*) AS replies,
               count(reasoning_tokens) AS thought,
               {quantiles("thinking_ms", (0.5, 0.95))} AS thinking, {quantiles(answer, (0.5, 0.95))} AS answer,
               CAST(avg(reasoning_tokens) AS double precision) AS thinking_tokens_per_reply
        FROM generations WHERE {where} AND time_to_first_token_ms IS NOT NULL GROUP BY 1 ORDER BY 1"""
    frame = spread(_frame(connection, sql, params), "thinking", ["thinking_p50_ms", "thinking_p95_ms"])
    frame = spread(frame, "answer", ["answer_ttft_p50_ms", "answer_ttft_p95_ms"])
    frame = frame[[
        "model", "replies", "thought", "thinking_p50_ms", "thinking_p95_ms", "answer_ttft_p50_ms",
        "answer_ttft_p95_ms", "thinking_tokens_per_reply",
    ]]  # fmt: skip
    frame.insert(2, "thought_share", _ratio(frame["thought"], frame["replies"]))
    return frame.drop(columns=["thought"])


def latency_buckets(connection: Connection, filters: Filters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``ttft_by_prompt_length`` and ``ttft_by_in_flight`` in one scan (two grouping sets); a reply counts in a
    bucket when it has a TTFT and the bucketed value (a NULL bucket is dropped, as a separate read left it out)."""
    where, params = where_clause(filters)
    ttft = "time_to_first_token_ms"

    def bucket(column: str, buckets: Any) -> str:
        return f"CASE WHEN {column} IS NULL OR {ttft} IS NULL THEN NULL ELSE {_bucket_case(column, buckets)} END"

    sql = f"""
        SELECT GROUPING(prompt_no) AS by_in_flight, coalesce(prompt_no, in_flight_no) AS bucket_no,
               {quantiles(ttft, (0.5, 0.95))} AS ttft, count({ttft}) AS n
        FROM (
          SELECT {bucket("prompt_tokens", PROMPT_BUCKETS)} AS prompt_no,
                 {bucket("in_flight_at_start", IN_FLIGHT_BUCKETS)} AS in_flight_no, {ttft}
          FROM generations WHERE {where} AND {ttft} IS NOT NULL
        ) AS picked
        GROUP BY GROUPING SETS ((prompt_no), (in_flight_no))"""
    both = _frame(connection, sql, params)
    both = both[both["bucket_no"].notna()]
    return (
        _latency_frame(both[both["by_in_flight"] == 0], PROMPT_BUCKETS),
        _latency_frame(both[both["by_in_flight"] == 1], IN_FLIGHT_BUCKETS),
    )


def _latency_frame(counted: pd.DataFrame, buckets: Any) -> pd.DataFrame:
    wide = spread(counted[["bucket_no", "ttft", "n"]].reset_index(drop=True), "ttft", ["p50", "p95"])
    wide = _label_buckets(wide[["bucket_no", "p50", "p95", "n"]], buckets, ("n",))
    return wide.rename(columns={"p50": "ttft_p50_ms", "p95": "ttft_p95_ms", "n": "replies"})


def ttft_by_prompt_length(connection: Connection, filters: Filters) -> pd.DataFrame:
    """``bucket`` (prompt tokens), ``ttft_p50_ms``, ``ttft_p95_ms``, ``replies``."""
    return latency_buckets(connection, filters)[0]


def ttft_by_in_flight(connection: Connection, filters: Filters) -> pd.DataFrame:
    """``bucket`` (streams in flight when the request started), ``ttft_p50_ms``, ``ttft_p95_ms``, ``replies``."""
    return latency_buckets(connection, filters)[1]


def feedback_by_ttft(connection: Connection, filters: Filters) -> pd.DataFrame:
    """``bucket`` (TTFT), ``up``, ``down``, ``thumbs_up_ratio`` (latest vote per message and user)."""
    where, params = where_clause(filters)
    sql = (
        _latest_feedback_sql(where)
        + f"""
        SELECT {_bucket_case("r.time_to_first_token_ms", TTFT_BUCKETS_MS)} AS bucket_no,
               count(*) FILTER (WHERE v.value > 0) AS up, count(*) FILTER (WHERE v.value < 0) AS down
        FROM votes v JOIN replies r ON r.message_id = v.message_id
        WHERE v.nth = 1 AND r.time_to_first_token_ms IS NOT NULL GROUP BY 1"""
    )
    params["votes_since"] = filters.start - LATER_ROWS_SLACK
    frame = _label_buckets(_frame(connection, sql, params), TTFT_BUCKETS_MS, ("up", "down"))
    frame["thumbs_up_ratio"] = _ratio(frame["up"], frame["up"] + frame["down"])
    return frame


def stop_rate_by_latency(connection: Connection, filters: Filters) -> pd.DataFrame:
    """``bucket`` of the wait for the first token (or, if none came, until the reply ended), ``replies``,
    ``stopped``, ``stop_rate``: do people give up on slow replies?"""
    wait = "coalesce(time_to_first_token_ms, duration_ms)"
    where, params = where_clause(filters)
    sql = f"""
        SELECT {_bucket_case(wait, TTFT_BUCKETS_MS)} AS bucket_no, count(*) AS replies,
               count(*) FILTER (WHERE status = 'stopped') AS stopped
        FROM generations WHERE {where} GROUP BY 1"""
    frame = _label_buckets(_frame(connection, sql, params), TTFT_BUCKETS_MS, ("replies", "stopped"))
    frame["stop_rate"] = _ratio(frame["stopped"], frame["replies"])
    return frame


# -- recent generations ------------------------------------------------------------------------------------------

_RECENT_METRICS = """created_at, model_id AS model, status, error_type, time_to_first_token_ms AS ttft_ms,
    duration_ms, tokens_per_s, prompt_tokens, output_tokens, in_flight_at_start, CAST(params AS VARCHAR) AS params"""
# The ids come last: the tab opens the conversation of a selected row from its last two cells.
_RECENT_IDS = "CAST(conversation_id AS VARCHAR) AS conversation_id, CAST(user_id AS VARCHAR) AS user_id"
RECENT_COLUMNS = f"{_RECENT_METRICS}, {_RECENT_IDS}"


def slowest_generations(
    connection: Connection, filters: Filters, limit: int = 20, near_s: float = NEAREST_SAMPLE_S
) -> pd.DataFrame:
    """The replies with the longest time to first token in the range, slowest first, each with the model server's
    state at its start (``server_waiting``, ``server_running``, ``server_kv_cache``; NULL without a reading): as
    stored on the row, or joined for a row written without it."""
    where, params = where_clause(filters)
    slowest = f"""SELECT * FROM generations WHERE {where} AND time_to_first_token_ms IS NOT NULL
                  ORDER BY time_to_first_token_ms DESC, created_at DESC LIMIT :limit"""
    unstored = "SELECT * FROM slowest WHERE server_sampled_at IS NULL"
    sql = f"""
        WITH slowest AS ({slowest}), state AS ({server_state_sql(unstored, few=True)})
        SELECT {_RECENT_METRICS}, {
        _stored_or_joined("slowest", "state", ("server_waiting", "server_running", "server_kv_cache"))
    }, {_RECENT_IDS}
        FROM slowest LEFT JOIN state ON state.generation_id = slowest.id
        ORDER BY slowest.time_to_first_token_ms DESC, slowest.created_at DESC"""
    return _frame(connection, sql, {**params, "limit": limit, **_state_params(filters, near_s)})


def failed_generations(connection: Connection, filters: Filters, limit: int = 20) -> pd.DataFrame:
    """The most recent failed replies in the range, newest first."""
    where, params = where_clause(filters)
    sql = f"""SELECT {RECENT_COLUMNS} FROM generations WHERE {where} AND status = 'error'
              ORDER BY created_at DESC LIMIT :limit"""
    return _frame(connection, sql, {**params, "limit": limit})


def models_and_users(connection: Connection, filters: Filters, limit: int = 200) -> tuple[list[str], list[str]]:
    """Choices for the filters: models seen in the range, and the most active users' ids."""
    where, params = where_clause(replace(filters, model=None, user_id=None))
    models = connection.execute(
        text(f"SELECT DISTINCT model_id FROM generations WHERE {where} AND model_id IS NOT NULL ORDER BY 1"), params
    ).fetchall()  # before the next statement: DuckDB's cursor holds one result at a time
    users = connection.execute(
        text(
            f"SELECT CAST(user_id AS VARCHAR) FROM generations WHERE {where} "
            "GROUP BY user_id ORDER BY count(*) DESC, 1 LIMIT :limit"
        ),
        {**params, "limit": limit},
    ).fetchall()
    return [m for (m,) in models], [u for (u,) in users]


# -- the model server's state at each reply's start ---------------------------------------------------------------


def server_state_sql(
    generations: str, *, carry: tuple[str, ...] = (), state: tuple[str, ...] = (), few: bool = False
) -> str:
    """SQL giving ``generation_id``, ``server_waiting``, ``server_running``, ``server_kv_cache``,
    ``server_sampled_at`` for each row of ``generations`` (a SELECT with ``id``, ``server_url``, ``created_at`` and
    ``duration_ms``) that has a reading at most ``:near_s`` before its start; binds ``:near_s``, ``:load_start``,
    ``:load_end``. ``state`` names fewer of the server columns; ``carry`` names columns of ``generations`` to pass
    through (a caller that needs only those then needs no join back to its rows by id). ``few``: ``generations``
    is a handful of rows (the slowest replies), so only the readings in their slots are hashed, not the range's.

    The rule of ``storage.server_state`` (which fills the row's own columns when it is written): the server's latest
    reading at or before the start, at most ``:near_s`` old. Portable and hash-joinable: readings and starts are put
    in slots of ``:near_s`` seconds, each start is joined with its own slot and the one before (an equi-join on
    server and slot, no per-row range scan), then the latest reading in the window wins."""
    epoch = "CAST(extract(epoch FROM {0}) AS double precision)"
    wanted = {name: STATE_COLUMNS[name] for name in (state or tuple(STATE_COLUMNS))}
    carried = "".join(f", {column}" for column in carry)
    near_few = f"""
            AND CAST(floor({epoch.format("sampled_at")} / :near_s) AS BIGINT) IN (
              SELECT CAST(floor(started_s / :near_s) AS BIGINT) + o.d FROM g CROSS JOIN (VALUES (-1), (0)) AS o(d)
            )"""
    return f"""
        WITH g AS (
          SELECT id, server_url, {epoch.format("created_at")} - duration_ms / 1000.0 AS started_s{carried}
          FROM ({generations}) AS picked WHERE server_url IS NOT NULL
        ),
        s AS (
          SELECT server_url, {", ".join(wanted.values())}, {epoch.format("sampled_at")} AS at_s,
                 CAST(floor({epoch.format("sampled_at")} / :near_s) AS BIGINT) AS slot
          FROM server_load WHERE sampled_at >= :load_start AND sampled_at < :load_end{near_few if few else ""}
        ),
        near AS (
          SELECT g.id AS generation_id{"".join(f", g.{column}" for column in carry)},
                 {", ".join(f"s.{column}" for column in wanted.values())},
                 row_number() OVER (PARTITION BY g.id ORDER BY s.at_s DESC) AS nth
          FROM (
            SELECT * FROM g WHERE started_s >= (SELECT min(at_s) FROM s)
                              AND started_s <= (SELECT max(at_s) FROM s) + :near_s
          ) AS g
          CROSS JOIN (VALUES (-1), (0)) AS o(d)
          JOIN s ON s.server_url = g.server_url AND s.slot = CAST(floor(g.started_s / :near_s) AS BIGINT) + o.d
          WHERE s.at_s <= g.started_s AND s.at_s >= g.started_s - :near_s
        )
        SELECT generation_id{carried}, {", ".join(f"{column} AS {name}" for name, column in wanted.items())}
        FROM near WHERE nth = 1"""


def _stored_or_joined(rows: str, joined: str, names: tuple[str, ...]) -> str:
    """The state columns of ``rows`` where the row has them stored, else those of ``joined`` (the join over the
    rows without: ``server_sampled_at`` NULL; a stored reading may lack a value its server does not publish)."""
    return ", ".join(
        f"CASE WHEN {rows}.server_sampled_at IS NULL THEN {joined}.{name} ELSE {rows}.{name} END AS {name}"
        for name in names
    )


def _state_params(filters: Filters, near_s: float) -> dict[str, Any]:
    return {
        "near_s": near_s,
        "load_start": filters.start - LONGEST_REPLY - timedelta(seconds=near_s),
        "load_end": filters.end + timedelta(seconds=near_s),
    }


def with_server_state_sql(
    filters: Filters, columns: str, near_s: float = NEAREST_SAMPLE_S
) -> tuple[str, dict[str, Any]]:
    """SQL and parameters for every reply in the range, oldest first: ``columns`` (of ``generations g``), then
    ``server_waiting``, ``server_running``, ``server_kv_cache`` and ``server_sampled_at`` at its start — as stored
    on the row, or joined to ``server_load`` for a row written without it; NULL where no reading was near."""
    where, params = where_clause(filters)
    outer, _ = where_clause(filters, prefix="g.")
    unstored = (
        f"SELECT id, server_url, created_at, duration_ms FROM generations WHERE {where} AND server_sampled_at IS NULL"
    )
    sql = f"""
        WITH state AS ({server_state_sql(unstored)})
        SELECT {columns}, {_stored_or_joined("g", "state", tuple(STATE_COLUMNS))}
        FROM generations g LEFT JOIN state ON state.generation_id = g.id
        WHERE {outer}
        ORDER BY g.created_at, g.id"""
    return sql, {**params, **_state_params(filters, near_s)}


def generations_with_server_state(
    connection: Connection, filters: Filters, near_s: float = NEAREST_SAMPLE_S
) -> pd.DataFrame:
    """Every reply in the range with the model server's state at its start: ``generation_id``, ``created_at``,
    ``model``, ``server_url``, ``ttft_ms``, ``server_waiting``, ``server_running``, ``server_kv_cache`` (0–1) and
    ``server_sampled_at``; the server columns are NULL where no reading was near (a server without ``/metrics``).
    As stored on each row; joined to ``server_load`` for rows written without it."""
    columns = """CAST(g.id AS VARCHAR) AS generation_id, g.created_at, g.model_id AS model, g.server_url,
               g.time_to_first_token_ms AS ttft_ms"""
    sql, params = with_server_state_sql(filters, columns, near_s)
    return _frame(connection, sql, params)
