"""The writer's cost per chat turn on a DuckDB file, with the conversation cache and without it, in one run.

A turn here is what a browser's message costs the store: the user's message (``begin``), the reply with its
generation row (``finish_turn``) and, for a new conversation, its automatic title (``rename``); then a second
message and reply in the same conversation (what a follow-up costs once the conversation exists). ``--users`` turns
go at once (the writer groups what arrives together), ``--rounds`` times; each round uses new conversations.

Per variant (``cache``: the default on DuckDB, the writer keeps committed conversation state; ``no cache``: every
batch reads its conversations back, as on PostgreSQL): the process CPU per turn (``time.process_time``: the writer
thread plus the event loop handing jobs over) and the SQL statements per turn. Both variants run in each repeat,
alternating, over fresh DuckDB files; the table shows the median and min–max over ``--repeats``.

Run from the repo root: ``.venv/bin/python -m benchmarks.bench_writer [--users 1,8] [--rounds 30] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import event

from benchmarks.bench_stream import git_revision
from inference.turns import NewMessage
from inference.types import GenerationMetrics, GenerationParams, ModelInfo, TurnRecord
from storage.store import Store
from storage.writer import WriteBehindRecorder

MODEL = ModelInfo("bench-model", "tgi", "tgi", "http://127.0.0.1:9")
METRICS = GenerationMetrics(
    started_at=0.0, request_sent_at=0.01, ended_at=1.0, first_token_at=0.05, last_token_at=1.0, output_tokens=20
)


def reply(conversation_id: uuid.UUID, user: uuid.UUID, text: str) -> TurnRecord:
    return TurnRecord(conversation_id, user, text, "complete", METRICS, MODEL, GenerationParams(max_tokens=20))


async def conversation(recorder: WriteBehindRecorder, user: uuid.UUID) -> None:
    first = await recorder.begin(NewMessage("hello there"), user_id=user, model_id=MODEL.model_id)
    await recorder.finish_turn(reply(first.conversation_id, user, "w0 w1 w2"))
    await recorder.rename(
        user_id=user, conversation_id=first.conversation_id, title="A greeting", unless_changed_from="hello there"
    )
    await recorder.begin(NewMessage("and then?", conversation_id=first.conversation_id), user_id=user)
    await recorder.finish_turn(reply(first.conversation_id, user, "w3 w4"))


async def measure(db: Path, users: int, rounds: int, cache: bool) -> tuple[float, float]:
    """(CPU ms per turn, statements per turn); a turn is one message and its reply (two per conversation)."""
    store = Store.open(f"duckdb:///{db}")
    recorder = WriteBehindRecorder(store, cache_conversations=cache)
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    try:
        people = [uuid.uuid4() for _ in range(users)]
        await asyncio.gather(*(conversation(recorder, person) for person in people))  # warm: users exist
        event.listen(store.engine, "before_cursor_execute", count)
        cpu = time.process_time()
        for _ in range(rounds):
            await asyncio.gather(*(conversation(recorder, person) for person in people))
        cpu = time.process_time() - cpu
        event.remove(store.engine, "before_cursor_execute", count)
    finally:
        recorder.close()
        store.close()
    turns = 2 * users * rounds
    return cpu / turns * 1000, statements / turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="1,8", help="comma-separated: turns at once")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"ChatLens {git_revision()}, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load average at start "
          + " / ".join(f"{v:.2f}" for v in load))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-writer-") as tmp:
        for users in (int(u) for u in args.users.split(",")):
            results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
            for repeat in range(args.repeats):
                for cache in (True, False) if repeat % 2 == 0 else (False, True):
                    db = Path(tmp) / f"{users}-{repeat}-{cache}.duckdb"
                    results[cache].append(asyncio.run(measure(db, users, args.rounds, cache)))
            print(f"\n{users} at once, {args.rounds} rounds, {args.repeats} repeats: median [min–max]")
            for cache, label in ((False, "no cache (baseline)"), (True, "cache")):
                cpu = [r[0] for r in results[cache]]
                sql = [r[1] for r in results[cache]]
                print(
                    f"  {label:20}  CPU {statistics.median(cpu):6.2f} ms/turn [{min(cpu):.2f}–{max(cpu):.2f}]"
                    f"   statements {statistics.median(sql):5.2f}/turn"
                )


if __name__ == "__main__":
    main()
