"""Load and soak: many users streaming through ChatLens for minutes on end — does it stay correct and bounded?

Three processes on 127.0.0.1, as in ``bench_stream``: a fake TGI child, the app child (``python app.py``, fresh DuckDB
file, rate limits and automatic titles off) and this load generator. ``--users`` users each stream one reply after
another (a new conversation each) for ``--minutes``; every ``--sample-s`` the app's RSS, open file descriptors,
threads, DuckDB WAL size and ``/metrics`` (group-commit p99, streams in flight) are sampled.

Reported against issue #9's targets: ≥ 99 % of streams complete and exact; TTFT p95 ≤ 1 s (the 128-user target of
``bench_stream``); database group-commit p99 < 200 ms; over a soak, RSS growth < 10 % after warm-up (first fifth of
the run), a bounded WAL, no growth in file descriptors or threads, and the idle app holding as many event-loop tasks
(``chatlens_event_loop_tasks``), file descriptors and threads after the load as before it.

Exits non-zero when the run tested nothing: fewer streams than users, or under 99 % of them complete and exact.

Run from the repo root:
``.venv/bin/python -m benchmarks.soak --users 128 --minutes 10`` (load) or ``--users 32 --minutes 60`` (soak).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.bench_stream import StreamResult, app_stream, child, free_port, wait_until_ready


@dataclass
class Sample:
    at_s: float
    rss_mb: float
    fds: int
    threads: int
    wal_mb: float
    commit_p99_ms: float
    streams: int
    tasks: int


def sample(pid: int, wal: Path, base: str, started: float) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", status)[1])  # type: ignore[index]
    threads = int(re.search(r"Threads:\s+(\d+)", status)[1])  # type: ignore[index]
    metrics = httpx.get(f"{base}/metrics", timeout=5).text

    def gauge(name: str) -> float:
        found = re.search(rf"^{name} (\S+)$", metrics, re.M)
        return float(found[1]) if found else float("nan")

    return Sample(
        at_s=time.monotonic() - started,
        rss_mb=rss_kb / 1024,
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=threads,
        wal_mb=wal.stat().st_size / 1e6 if wal.exists() else 0.0,
        commit_p99_ms=gauge("chatlens_db_commit_ms_p99"),
        streams=int(gauge("chatlens_streams_active")),
        tasks=int(gauge("chatlens_event_loop_tasks")),
    )


async def load(base: str, fn: int, cookie: str, args: argparse.Namespace, results: list[StreamResult]) -> None:
    end = time.monotonic() + args.minutes * 60

    async def user(index: int) -> None:
        await asyncio.sleep(index * 2.0 / args.users)  # arrivals spread over 2 s, as scenario (e) of bench_stream
        turn = 0
        while time.monotonic() < end:
            result = await app_stream(base, fn, f"user {index} turn {turn}", "", args.tokens, cookie)
            result.check(args.tokens)
            results.append(result)
            turn += 1

    await asyncio.gather(*(user(i) for i in range(args.users)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=128)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--tokens", type=int, default=100)
    parser.add_argument("--tokens-per-s", type=float, default=20)
    parser.add_argument("--sample-s", type=float, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chatlens-soak-"))
    fake_port, app_port = free_port(), free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    fake_cmd = [sys.executable, "-m", "tests.support.fake_tgi", "--port", str(fake_port), "--tokens", str(args.tokens),
                "--tokens-per-s", str(args.tokens_per_s), "--first-token-ms", "50"]  # fmt: skip
    app_env = {
        **env, "TGI_URL": f"http://127.0.0.1:{fake_port}", "DATABASE_URL": f"duckdb:///{work / 'soak.duckdb'}",
        "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(app_port), "AUTO_TITLE": "false",
        "RATE_LIMIT_USER_PER_MIN": "0", "RATE_LIMIT_IP_PER_MIN": "0",
    }  # fmt: skip
    base = f"http://127.0.0.1:{app_port}"
    with (
        child(fake_cmd, env, work / "fake.log") as fake,
        child([sys.executable, "app.py"], app_env, work / "app.log") as app,
    ):
        wait_until_ready("fake TGI", fake, f"http://127.0.0.1:{fake_port}/health", lambda r: r.status_code == 200)
        wait_until_ready("app", app, f"{base}/healthz", lambda r: r.status_code == 200)
        config = httpx.get(f"{base}/config", timeout=10)
        cookie = "; ".join(c.split(";", 1)[0] for c in config.headers.get_list("set-cookie"))
        fn = next(d["id"] for d in config.json()["dependencies"] if d.get("api_name") == "chat")
        results: list[StreamResult] = []
        samples: list[Sample] = []
        started = time.monotonic()

        idle: list[Sample] = []

        async def run() -> None:
            idle.append(await asyncio.to_thread(sample, app.pid, work / "soak.duckdb.wal", base, started))
            task = asyncio.create_task(load(base, fn, cookie, args, results))
            while not task.done():
                samples.append(await asyncio.to_thread(sample, app.pid, work / "soak.duckdb.wal", base, started))
                await asyncio.wait({task}, timeout=args.sample_s)
            await task
            samples.append(await asyncio.to_thread(sample, app.pid, work / "soak.duckdb.wal", base, started))
            # The last replies are committed; anyio's idle worker threads retire after 10 s, when the next
            # thread-pool call (here /healthz) looks at them.
            await asyncio.sleep(12)
            await asyncio.to_thread(httpx.get, f"{base}/healthz", timeout=10)
            await asyncio.sleep(1)
            idle.append(await asyncio.to_thread(sample, app.pid, work / "soak.duckdb.wal", base, started))

        asyncio.run(run())
    ok = [r for r in results if r.error is None]
    ttfts = [r.ttft_s for r in ok if r.ttft_s is not None]
    warm = next((s for s in samples if s.at_s >= args.minutes * 60 / 5), samples[0])
    last = samples[-1]
    print(f"{args.users} users × {args.minutes:g} min, {args.tokens}-token replies at {args.tokens_per_s:g} tok/s "
          f"(logs in {work})")  # fmt: skip
    print(f"  streams: {len(results):,}, complete and exact {len(ok) / max(len(results), 1):.2%} (target ≥ 99 %)")
    print(f"  TTFT p50 {statistics.median(ttfts) * 1000:.0f} ms, p95 {percentile(ttfts, 0.95) * 1000:.0f} ms "
          "(target p95 ≤ 1,000 ms)")  # fmt: skip
    print(f"  group commit p99, worst sample: {max(s.commit_p99_ms for s in samples):.1f} ms (target < 200 ms)")
    print(f"  RSS {warm.rss_mb:.0f} MB after warm-up → {last.rss_mb:.0f} MB at the end "
          f"({(last.rss_mb / warm.rss_mb - 1):+.1%}; target < +10 %)")  # fmt: skip
    print(f"  file descriptors {warm.fds} → {last.fds}, threads {warm.threads} → {last.threads}, "
          f"WAL max {max(s.wal_mb for s in samples):.1f} MB")  # fmt: skip
    before, after = idle
    print(f"  idle before → after the load: event-loop tasks {before.tasks} → {after.tasks}, "
          f"file descriptors {before.fds} → {after.fds}, threads {before.threads} → {after.threads}")  # fmt: skip
    errors = sorted({r.error for r in results if r.error})[:5]
    if errors:
        print("  first errors:", *errors, sep="\n    ")
    # A load run that streamed nothing, or whose streams mostly failed, measured nothing: say so in the exit code.
    if len(results) < args.users or len(ok) < 0.99 * len(results):
        print(f"  FAILED: {len(ok)} of {len(results)} streams complete and exact ({args.users} users)")
        sys.exit(1)


if __name__ == "__main__":
    main()
