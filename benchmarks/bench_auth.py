"""What the access layer costs: the gate's work per request, and the rate-limit check per message.

    python -m benchmarks.bench_auth [--database-url URL]

Prints, on this machine: µs of event-loop time the gate (access.gate) spends on a request with a live session cookie,
without one (a new anonymous session is minted) and with a renewal due; and the latency of ``RateLimits.admit`` for
messages one at a time and 64 at once, on a table already holding 50,000 events: as the app counts on that store (in
memory on DuckDB; one round trip through the single writer, count in the window then append, on PostgreSQL) and,
on DuckDB, the writer's way beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from access.gate import Guard
from access.identity import Identities
from access.rate_limits import RateLimits
from access.sessions import COOKIE
from storage.schema import RateEvent, utcnow
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.config import settings_without_env_file


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def gate_us(guard: Guard, cookie: str | None, rounds: int) -> float:
    headers = [(b"host", b"x"), (b"accept", b"*/*")] + ([(b"cookie", cookie.encode())] if cookie else [])
    scope = {"type": "http", "method": "POST", "path": "/gradio_api/queue/join", "headers": headers, "scheme": "http"}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    started = time.perf_counter()
    for _ in range(rounds):
        await guard(dict(scope), receive, send)
    return (time.perf_counter() - started) / rounds * 1e6


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"p50 {statistics.median(ordered):.2f} ms  p95 {p95:.2f} ms"


async def admit_latencies(limits: RateLimits, users: int, per_user: int) -> list[float]:
    samples: list[float] = []

    async def one_user() -> None:
        user = uuid.uuid4()
        for _ in range(per_user):
            started = time.perf_counter()
            await limits.admit(user, "10.1.2.3")
            samples.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(one_user() for _ in range(users)))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chatlens-bench-auth-"))
    settings = settings_without_env_file(session_secret="b" * 40)
    identities = Identities(settings)
    guard = Guard(_ok, identities=identities)
    sessions = identities.sessions
    live = sessions.encode(sessions.anonymous())
    due = sessions.encode(sessions.anonymous(now=time.time() - 120))
    rounds = 20_000
    print(f"gate, µs per request ({rounds:,} requests):")
    print(f"  live session cookie        {asyncio.run(gate_us(guard, f'{COOKIE}={live}', rounds)):.1f}")
    print(f"  no cookie (mint a session) {asyncio.run(gate_us(guard, None, rounds)):.1f}")
    print(f"  renewal due (new cookie)   {asyncio.run(gate_us(guard, f'{COOKIE}={due}', rounds)):.1f}")

    url = args.database_url or f"duckdb:///{work / 'bench.duckdb'}"
    store = Store.open(url)
    recorder = WriteBehindRecorder(store)
    try:
        old = utcnow()
        rows = [{"id": uuid.uuid4(), "user_id": uuid.uuid4(), "ip": f"10.0.{i % 250}.{i % 200}", "created_at": old}
                for i in range(50_000)]  # fmt: skip
        with store.sessions() as session:
            session.execute(RateEvent.__table__.insert(), rows)
            session.commit()
        dialect = store.engine.dialect.name
        # As the app counts on this store (app.py): in memory on DuckDB (one process owns the file), on the writer
        # on PostgreSQL (replicas share the table); on DuckDB the writer's way too, in the same run, to compare.
        ways = [("in memory (as deployed)", True), ("on the writer", False)] if dialect == "duckdb" else []
        for name, here in ways or [("on the writer (as deployed)", False)]:
            limits = RateLimits(recorder, per_user_per_min=10**6, per_ip_per_min=10**6, counted_here=here)
            one = asyncio.run(admit_latencies(limits, users=1, per_user=500))
            many = asyncio.run(admit_latencies(limits, users=64, per_user=10))
            print(f"rate-limit check per message, {name} ({dialect}, 50,000 events in the table):")
            print(f"  one at a time (500)  {percentiles(one)}")
            print(f"  64 at once (640)     {percentiles(many)}")
    finally:
        recorder.close()
        store.close()


if __name__ == "__main__":
    main()
