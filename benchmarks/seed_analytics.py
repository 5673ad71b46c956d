"""Seed a DuckDB store with synthetic, plausible generations for the analytics tab (benchmarks and screenshots).

    python -m benchmarks.seed_analytics data/bench.duckdb --generations 1000000 --days 90 --users 2000 [--messages]
        [--load-days 30 --load-servers 4] [--browser-share 0.1]

Deterministic (``--seed``). Five models with their own speed; TTFT grows with prompt length and load; slow replies
are stopped more often and get fewer 👍; ~2% of replies fail with a typed error. Optionally: the model servers'
load readings (``server_load``) as the retention keeps them (every 5 s for the last 3 days, one per 20 s before;
the replies' own server is the first, and every reply carries that server's state at its start as the app stores
it, taken from its readings before they were merged or deleted), and the browsers' reports of a share of the
replies (``browser_replies``, felt TTFT a little above the server's; ``browser_errors``). Rows are generated with
numpy and written by DuckDB in bulk (one INSERT … SELECT per table), so a million rows take seconds. DuckDB files only.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from storage.server_state import NEAREST_SAMPLE_S
from storage.store import Store

MODELS = (  # name, TTFT median (ms), tokens/s median
    ("meta-llama/Llama-3.1-8B-Instruct", 180, 95.0),
    ("mistralai/Mistral-7B-Instruct-v0.3", 220, 85.0),
    ("Qwen/Qwen2.5-14B-Instruct", 320, 55.0),
    ("google/gemma-3-27b-it", 450, 38.0),
    ("meta-llama/Llama-3.3-70B-Instruct", 700, 22.0),
)
ERROR_TYPES = np.array(["overloaded", "timeout", "validation", "generation", "unreachable"])


def _ids(prefix: int, numbers: np.ndarray) -> np.ndarray:
    """Stable UUID strings from integers (same number, same id)."""
    return np.array([str(uuid.UUID(int=(prefix << 96) | int(n))) for n in numbers])


def synthetic_generations(n: int, *, days: int, users: int, seed: int, end: datetime) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    span_s = days * 86400
    # Busier in the day (UTC) than at night: accept/reject on a daily sine.
    offsets = np.sort(rng.uniform(0, span_s, int(n * 1.6)))
    keep = rng.uniform(0, 1, offsets.size) < 0.6 + 0.4 * np.sin(2 * np.pi * (offsets % 86400) / 86400)
    offsets = np.sort(rng.choice(offsets[keep], n, replace=offsets[keep].size < n))
    created = pd.to_datetime((end.timestamp() - span_s + offsets) * 1e9, utc=True)
    model = rng.choice(len(MODELS), n, p=[0.35, 0.25, 0.2, 0.12, 0.08])
    ttft_median = np.array([m[1] for m in MODELS])[model]
    tps_median = np.array([m[2] for m in MODELS])[model]
    prompt = np.clip(rng.lognormal(6.3, 1.1, n), 5, 30_000).astype(np.int64)
    in_flight = rng.poisson(3 + 4 * (np.sin(2 * np.pi * (offsets % 86400) / 86400) + 1), n)
    ttft = ttft_median * rng.lognormal(0, 0.45, n) * (1 + prompt / 6000) * (1 + in_flight / 12)
    output = np.clip(rng.lognormal(5.2, 0.8, n), 1, 4096).astype(np.int64)
    tps = tps_median * rng.lognormal(0, 0.2, n) / (1 + in_flight / 40)
    duration = ttft + output / tps * 1000
    status = np.where(rng.uniform(0, 1, n) < 0.02, "error", "complete").astype(object)
    stopped = (status == "complete") & (rng.uniform(0, 1, n) < 0.02 + np.clip(ttft / 20_000, 0, 0.4))
    status[stopped] = "stopped"
    error = status == "error"
    user = rng.integers(0, users, n)
    conversation = user * 1000 + rng.integers(0, 40, n)
    frame = pd.DataFrame(
        {
            "id": _ids(1, np.arange(n)),
            "message_id": _ids(2, np.arange(n)),
            "conversation_id": _ids(3, conversation),
            "user_id": _ids(4, user),
            "model_id": np.array([m[0] for m in MODELS])[model],
            "backend": "tgi",
            "server_url": "http://tgi:80",
            "params": '{"max_tokens": 1024, "temperature": 0.7}',
            "status": status,
            "queue_wait_ms": rng.exponential(2.0, n),
            "time_to_first_token_ms": np.where(error, np.nan, ttft),
            "duration_ms": np.where(error, ttft * rng.uniform(0.1, 3, n), duration),
            "prompt_tokens": prompt,
            "output_tokens": np.where(error, 0, np.where(stopped, output // 3, output)),
            "tokens_per_s": np.where(error, np.nan, tps),
            "finish_reason": np.where(error, None, np.where(rng.uniform(0, 1, n) < 0.8, "stop", "length")),
            "error_type": np.where(error, rng.choice(ERROR_TYPES, n, p=[0.4, 0.25, 0.2, 0.1, 0.05]), None),
            "in_flight_at_start": in_flight,
            "created_at": created,
        }
    )
    frame["_ttft"] = ttft
    return frame


def synthetic_feedback(generations: pd.DataFrame, *, seed: int, share: float = 0.05) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    voted = generations[(generations["status"] != "error") & (rng.uniform(0, 1, len(generations)) < share)]
    p_up = np.clip(0.9 - voted["_ttft"].to_numpy() / 8000, 0.2, 0.9)
    return pd.DataFrame(
        {
            "id": _ids(5, np.arange(len(voted))),
            "message_id": voted["message_id"].to_numpy(),
            "generation_id": voted["id"].to_numpy(),
            "user_id": voted["user_id"].to_numpy(),
            "value": np.where(rng.uniform(0, 1, len(voted)) < p_up, 1, -1),
            "comment": "",
            "created_at": (voted["created_at"] + pd.Timedelta(seconds=30)).to_numpy(),
        }
    )


SAMPLE_EVERY_S, MERGED_EVERY_S, FULL_DAYS = 5, 20, 3


def full_readings(*, start_s: float, end_s: float, rng: np.random.Generator) -> pd.DataFrame:
    """One server's readings every ``SAMPLE_EVERY_S`` as the scraper takes them: ``at_s`` (epoch) and the values."""
    times = np.arange(start_s, end_s, SAMPLE_EVERY_S, dtype="float64")
    busy = 1 + np.sin(2 * np.pi * (times % 86400) / 86400)
    return pd.DataFrame(
        {
            "at_s": times,
            "waiting": rng.poisson(2 * busy).astype("float64"),
            "running": rng.poisson(8 * busy).astype("float64"),
            "kv_cache_use": np.clip(rng.normal(0.3 * busy, 0.05), 0, 1),
        }
    )


def as_kept(full: pd.DataFrame, *, end_s: float, days: int) -> pd.DataFrame:
    """What the retention leaves of ``full``: the last ``days``, each reading of the last ``FULL_DAYS`` and the
    readings before merged to one per ``MERGED_EVERY_S`` (their means, stamped at the bucket's middle)."""
    kept = full[full["at_s"] >= end_s - days * 86400]
    cut = end_s - FULL_DAYS * 86400
    old = kept[kept["at_s"] < cut]
    bucket = np.floor(old["at_s"] / MERGED_EVERY_S)
    merged = old.drop(columns="at_s").groupby(bucket.to_numpy()).mean()
    merged.insert(0, "at_s", merged.index.to_numpy() * MERGED_EVERY_S + MERGED_EVERY_S / 2)
    return pd.concat([merged.reset_index(drop=True), kept[kept["at_s"] >= cut]], ignore_index=True)


def synthetic_load(
    *, days: int, servers: int, seed: int, end: datetime, first: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``server_load`` rows for ``servers`` servers over the last ``days``, as the retention leaves them; ``first``:
    the first server's (the replies' own) full readings, from which the replies' stored state was taken."""
    rng = np.random.default_rng(seed + 2)
    end_s = end.timestamp()
    frames = []
    for number in range(servers):
        full = first if number == 0 and first is not None else None
        if full is None:
            full = full_readings(start_s=end_s - days * 86400, end_s=end_s, rng=rng)
        kept = as_kept(full, end_s=end_s, days=days)
        n = len(kept)
        frames.append(
            pd.DataFrame(
                {
                    "id": _ids(6 + number, np.arange(n)),
                    "server_url": "http://tgi:80" if number == 0 else f"http://tgi-{number + 1}:80",
                    "backend": "vllm",
                    "sampled_at": pd.to_datetime(kept["at_s"].to_numpy() * 1e9, utc=True),
                    "waiting": kept["waiting"].to_numpy(),
                    "running": kept["running"].to_numpy(),
                    "batch_size": None,
                    "kv_cache_use": kept["kv_cache_use"].to_numpy(),
                    "server_ttft_ms": rng.lognormal(5.0, 0.4, n),
                    "server_queue_ms": rng.lognormal(3.0, 0.6, n),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def with_server_state(generations: pd.DataFrame, full: pd.DataFrame) -> None:
    """The replies' state at their start as the app stores it when it writes a row (``storage.server_state``): the
    latest of ``full`` (their server's readings as scraped, before any was merged or deleted) at or before the start
    (``created_at`` less the duration), at most ``NEAREST_SAMPLE_S`` old."""
    started_s = generations["created_at"].astype("int64").to_numpy() / 1e9 - generations["duration_ms"].to_numpy() / 1e3
    times = full["at_s"].to_numpy()
    index = np.searchsorted(times, started_s, side="right") - 1
    found = (index >= 0) & (started_s - times[np.maximum(index, 0)] <= NEAREST_SAMPLE_S)
    picked = full.iloc[np.maximum(index, 0)]
    for name, column in (
        ("server_waiting", "waiting"),
        ("server_running", "running"),
        ("server_kv_cache", "kv_cache_use"),
    ):
        generations[name] = np.where(found, picked[column].to_numpy(), np.nan)
    generations["server_sampled_at"] = pd.to_datetime(
        np.where(found, times[np.maximum(index, 0)], np.nan) * 1e9, utc=True
    )


def synthetic_browser_replies(generations: pd.DataFrame, *, seed: int, share: float) -> pd.DataFrame:
    """Reports for ``share`` of the replies that had a first token: felt TTFT = server TTFT + the way to the screen."""
    rng = np.random.default_rng(seed + 3)
    seen = generations[generations["time_to_first_token_ms"].notna() & (rng.uniform(0, 1, len(generations)) < share)]
    n = len(seen)
    remote = rng.uniform(0, 1, n) < 0.7
    felt = seen["time_to_first_token_ms"].to_numpy() + np.where(remote, 120.0, 30.0) * rng.lognormal(0, 0.5, n)
    frames = rng.integers(5, 600, n)
    return pd.DataFrame(
        {
            "generation_id": seen["id"].to_numpy(),
            "user_id": seen["user_id"].to_numpy(),
            "felt_ttft_ms": felt,
            "felt_last_token_ms": felt + seen["duration_ms"].to_numpy(),
            "frames": frames,
            "long_frames": (frames * rng.uniform(0, 0.05, n)).astype(np.int64),
            "fps": rng.normal(55, 5, n),
            "heap_bytes": rng.integers(20_000_000, 200_000_000, n),
            "connection": np.where(remote, "remote", "local"),
            "created_at": seen["created_at"].to_numpy(),
        }
    )


def synthetic_browser_errors(*, end: datetime, count: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "fingerprint": [f"{n:064x}" for n in range(count)],
            "kind": ["error" if n % 3 else "rejection" for n in range(count)],
            "message": [f"TypeError: synthetic error {n}" for n in range(count)],
            "stack": "at synthetic (page.js:1:1)",
            "version": "0.1.0",
            "page": "/",
            "count": [1 + (n * 37) % 500 for n in range(count)],
            "first_seen": [end - timedelta(days=1 + n) for n in range(count)],
            "last_seen": [end - timedelta(hours=n) for n in range(count)],
        }
    )


def seed_store(
    path: Path,
    *,
    generations: int,
    days: int,
    users: int,
    seed: int,
    messages: bool,
    load_days: int = 0,
    load_servers: int = 4,
    browser_share: float = 0.0,
) -> None:
    Store.open(f"duckdb:///{path}").close()  # the schema, exactly as the app creates it
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    started = time.monotonic()
    frame = synthetic_generations(generations, days=days, users=users, seed=seed, end=end)
    # The replies' server was scraped all along (only the last ``load_days`` of its readings are kept): each row has
    # the state at its start, as the app writes it.
    first = None
    if load_days:
        rng = np.random.default_rng(seed + 4)
        first = full_readings(start_s=end.timestamp() - max(days, load_days) * 86400, end_s=end.timestamp(), rng=rng)
        with_server_state(frame, first)
    votes = synthetic_feedback(frame, seed=seed)
    rows = frame.drop(columns="_ttft")  # noqa: F841 — read by DuckDB below
    browser_errors_frame = synthetic_browser_errors(end=end)  # noqa: F841 — read by DuckDB below
    print(f"generated {len(frame):,} generations and {len(votes):,} votes in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO generations BY NAME SELECT * FROM rows")
        con.execute("INSERT INTO feedback BY NAME SELECT * FROM votes")
        if load_days:
            load = synthetic_load(days=load_days, servers=load_servers, seed=seed, end=end, first=first)
            con.execute("INSERT INTO server_load BY NAME SELECT * FROM load")
            print(f"{len(load):,} model server load readings ({load_servers} servers, {load_days} days)")
        if browser_share:
            seen = synthetic_browser_replies(frame, seed=seed, share=browser_share)
            con.execute("INSERT INTO browser_replies BY NAME SELECT * FROM seen")
            con.execute("INSERT INTO browser_errors BY NAME SELECT * FROM browser_errors_frame")
            print(f"{len(seen):,} browser reports")
        if messages:
            con.execute(
                """CREATE TEMP TABLE turns AS
                   SELECT *, row_number() OVER (PARTITION BY conversation_id ORDER BY created_at) AS turn FROM rows"""
            )
            con.execute(
                """INSERT INTO conversations BY NAME
                   SELECT conversation_id AS id, any_value(user_id) AS user_id,
                          'Synthetic conversation ' || right(CAST(conversation_id AS VARCHAR), 6) AS title,
                          any_value(model_id) AS model_id, '' AS system_prompt, '{}' AS settings,
                          min(created_at) AS created_at, max(created_at) AS updated_at
                   FROM turns GROUP BY conversation_id"""
            )
            con.execute(
                """INSERT INTO messages BY NAME
                   SELECT uuid() AS id, conversation_id, 2 * turn - 1 AS seq, 'user' AS role,
                          'Synthetic question ' || turn AS content, 'complete' AS status, created_at FROM turns
                   UNION ALL
                   SELECT message_id, conversation_id, 2 * turn, 'assistant', 'Synthetic reply ' || turn,
                          status, created_at FROM turns"""
            )
        con.execute("CHECKPOINT")
    print(f"written to {path} in {time.monotonic() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--generations", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--messages", action="store_true", help="also write conversations and their messages")
    parser.add_argument("--load-days", type=int, default=0, help="days of model server load readings (0: none)")
    parser.add_argument("--load-servers", type=int, default=4)
    parser.add_argument("--browser-share", type=float, default=0.0, help="share of replies the browser reported")
    args = parser.parse_args()
    args.path.parent.mkdir(parents=True, exist_ok=True)
    seed_store(
        args.path, generations=args.generations, days=args.days, users=args.users, seed=args.seed,
        messages=args.messages, load_days=args.load_days, load_servers=args.load_servers,
        browser_share=args.browser_share,
    )  # fmt: skip


if __name__ == "__main__":
    main()
