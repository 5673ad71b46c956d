"""Analytics reads over what the users' browsers reported (``browser_replies``, ``browser_errors``): the TTFT people
felt beside the server-side TTFT ChatLens measured for the same replies, and the page's JavaScript errors.

* Felt vs server: per reply, felt TTFT (Send or Enter to the first token painted) minus ChatLens's TTFT (request to
  the first token) is what the network, the browser and ChatLens's own queue added; it is shown by connection
  (``local``: the browser on the ChatLens machine, ``remote``: anywhere else), so a slow network shows as a larger
  remote gap. Only replies the page reported (sent from the chat page with Send or Enter); every filter applies.
* Browser errors are counted per distinct error, not per occurrence (``storage.browser_reports``): the table lists
  those seen in the range (last seen in it or after its start), with their count over all time. They name no user,
  model or source, so only the time range applies.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection

from analytics.queries import LATER_ROWS_SLACK, Filters, _frame, quantiles, spread, where_clause


def felt_vs_server_ttft(connection: Connection, filters: Filters) -> pd.DataFrame:
    """One row per connection: ``connection``, ``replies``, ``felt_ttft_p50_ms`` / ``_p95_ms``,
    ``server_ttft_p50_ms`` / ``_p95_ms``, ``gap_p50_ms`` / ``gap_p95_ms`` (of each reply's felt minus server TTFT),
    ``fps_p50``, ``long_frame_share`` (of all frames painted while replies streamed)."""
    where, params = where_clause(filters, prefix="g.")
    gap = "(b.felt_ttft_ms - g.time_to_first_token_ms)"
    both = (0.5, 0.95)
    sql = f"""
        SELECT b.connection AS connection, count(*) AS replies,
               {quantiles("b.felt_ttft_ms", both)} AS felt, {quantiles("g.time_to_first_token_ms", both)} AS server,
               {quantiles(gap, both)} AS gap,
               CAST(percentile_cont(0.5) WITHIN GROUP (ORDER BY b.fps) AS double precision) AS fps_p50,
               CAST(sum(b.long_frames) AS double precision) / nullif(sum(b.frames), 0) AS long_frame_share
        FROM browser_replies b JOIN generations g ON g.id = b.generation_id
        WHERE {where} AND g.time_to_first_token_ms IS NOT NULL AND b.created_at >= :reports_since
        GROUP BY 1 ORDER BY 1"""
    frame = _frame(connection, sql, {**params, "reports_since": filters.start - LATER_ROWS_SLACK})
    for side in ("felt", "server", "gap"):
        names = [f"{side}_ttft_p50_ms", f"{side}_ttft_p95_ms"] if side != "gap" else ["gap_p50_ms", "gap_p95_ms"]
        frame = spread(frame, side, names)
    return frame[[
        "connection", "replies", "felt_ttft_p50_ms", "felt_ttft_p95_ms", "server_ttft_p50_ms", "server_ttft_p95_ms",
        "gap_p50_ms", "gap_p95_ms", "fps_p50", "long_frame_share",
    ]]  # fmt: skip


def browser_errors(connection: Connection, filters: Filters, limit: int = 50) -> pd.DataFrame:
    """``kind``, ``message``, ``count``, ``first_seen``, ``last_seen``, ``version``, ``page``: the errors seen in the
    range, the most frequent first."""
    sql = """
        SELECT kind, message, count, first_seen, last_seen, version, page FROM browser_errors
        WHERE last_seen >= :start AND first_seen < :end ORDER BY count DESC, last_seen DESC LIMIT :limit"""
    return _frame(connection, sql, {"start": filters.start, "end": filters.end, "limit": limit})
