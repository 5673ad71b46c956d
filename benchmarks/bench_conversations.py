"""The conversation sidebar at scale: one user with 10,000 conversations and 200,000 messages.

Seeds a fresh store (DuckDB file, and PostgreSQL with ``--postgres``) with that user plus a second user of the same
size (so every query has to scope), then times what the sidebar does through ``Store``: list (newest 200), search
(titles and message text; a rare word, a common word, a word found nowhere) and open (a 20-message conversation).
Targets (issue #3): list ≤ 100 ms, search ≤ 300 ms. Prints the median and the worst of ``--runs`` runs.
Run from the repo root: ``.venv/bin/python -m benchmarks.bench_conversations [--postgres]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from storage.schema import Conversation, Message, User
from storage.store import Store

WORDS = [
    "model", "token", "latency", "stream", "server", "answer", "question", "python", "data", "graph", "cache",
    "queue", "prompt", "window", "reply", "user", "system", "memory", "error", "retry", "context", "vector",
    "batch", "score", "train", "test", "deploy", "config", "metric", "chart", "table",
]  # fmt: skip


def seed(store: Store, user_id: uuid.UUID, conversations: int, messages_each: int, rng: random.Random) -> uuid.UUID:
    """Returns one conversation id of the user (for the open timing). Rows go in with bulk statements."""
    start = datetime.now(UTC) - timedelta(days=365)
    with store.sessions() as session:
        session.execute(insert(User), [{"id": user_id, "auth_provider": "bench", "subject": str(user_id)}])
        session.commit()
    ids = [uuid.uuid4() for _ in range(conversations)]
    for chunk in range(0, conversations, 1000):
        batch = ids[chunk : chunk + 1000]
        conversation_rows: list[dict[str, Any]] = []
        message_rows: list[dict[str, Any]] = []
        for n, cid in enumerate(batch, start=chunk):
            at = start + timedelta(minutes=50 * n)
            conversation_rows.append(
                {"id": cid, "user_id": user_id, "title": " ".join(rng.choices(WORDS, k=4)), "model_id": "m",
                 "created_at": at, "updated_at": at}
            )  # fmt: skip
            for seq in range(1, messages_each + 1):
                text = " ".join(rng.choices(WORDS, k=rng.randint(8, 60)))
                if rng.random() < 0.0005:
                    text += " zanzibar"
                message_rows.append(
                    {"id": uuid.uuid4(), "conversation_id": cid, "seq": seq, "role": "user" if seq % 2 else "assistant",
                     "content": text, "status": "complete", "created_at": at}
                )  # fmt: skip
        with store.sessions() as session:
            session.execute(insert(Conversation), conversation_rows)
            session.execute(insert(Message), message_rows)
            session.commit()
    return ids[-1]


def timed(runs: int, action: Callable[[], object]) -> tuple[float, float]:
    action()  # warm caches once, as a user's first list does
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def bench(label: str, url: str, args: argparse.Namespace) -> None:
    store = Store.open(url)
    rng = random.Random(7)
    user, other = uuid.uuid4(), uuid.uuid4()
    started = time.perf_counter()
    some = seed(store, user, args.conversations, args.messages // args.conversations, rng)
    seed(store, other, args.conversations, args.messages // args.conversations, rng)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as connection:  # what autovacuum does after a bulk load
            connection.execute(text("ANALYZE"))
            connection.commit()
    print(f"{label}: seeded 2 users × {args.conversations:,} conversations, {args.messages:,} messages each "
          f"in {time.perf_counter() - started:.0f} s")  # fmt: skip
    checks = [
        ("list (newest 200)", lambda: store.list_conversations(user), 100),
        ("search, rare word", lambda: store.list_conversations(user, search="zanzibar"), 300),
        ("search, common word", lambda: store.list_conversations(user, search="latency"), 300),
        ("search, no match", lambda: store.list_conversations(user, search="xylophone"), 300),
        ("open a conversation", lambda: store.load_conversation(some, user), None),
    ]
    for name, action, target in checks:
        median, worst = timed(args.runs, action)
        verdict = "" if target is None else (" ✓" if median <= target else " ✗ over target") + f" (≤ {target} ms)"
        print(f"  {name:<22} median {median:7.1f} ms   worst {worst:7.1f} ms{verdict}")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL (Debian's binaries)")
    parser.add_argument("--postgres-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chatlens-bench-conversations-"))
    if not args.postgres_only:
        bench("DuckDB", f"duckdb:///{work / 'bench.duckdb'}", args)
    if args.postgres or args.postgres_only:
        from tests.support.postgres import TempPostgres

        server = TempPostgres().start()
        try:
            bench("PostgreSQL", server.new_database(), args)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
