"""The analytics seed: generations and votes with known values, so that queries can be checked to the number.

The seed (current period = the day before NOW; previous period = the day before that):

| # | at (UTC)      | model | user | conv | status  | ttft | prompt | out | tok/s | in flight | feedback (latest)  |
|---|---------------|-------|------|------|---------|------|--------|-----|-------|-----------|--------------------|
| 1 | 01-09 12:00   | A     | U1   | C1   | ok      | 100  | 100    | 50  | 10    | 0         | U1 −1 (was +1), U2 +1 |
| 2 | 01-10 10:30   | A     | U1   | C1   | ok      | 200  | 300    | 50  | 20    | 1         | U1 +1              |
| 3 | 01-10 11:00   | A     | U2   | C2   | ok      | 400  | 2000   | 50  | 30    | 2         |                    |
| 4 | 01-10 11:10   | B     | U2   | C2   | ok      | 800  | 5000   | 50  | 40    | 5         | U2 +1              |
| 5 | 01-10 11:20   | B     | U2   | C3   | error   | —    | 50     | 0   | —     | 0         |                    |
| 6 | 01-10 11:30   | A     | U1   | C1   | stopped | 6000 | 100    | 5   | 5     | 40        | U1 −1              |
| 7 | 01-09 10:00   | A     | U1   | C4   | ok      | 1000 | 10     | 20  | 20    | 0         | U1 +1 (previous)   |
| 8 | 01-09 11:00   | A     | U1   | C4   | error   | —    | 10     | 0   | —     | 0         | (previous)         |
| 9 | 01-08 10:00   | A     | U1   | C5   | ok      | 50   | 10     | 10  | 10    | 0         | (outside)          |
|10 | 01-10 12:00   | A     | U1   | C1   | ok      | 9    | 10     | 10  | 10    | 0         | (at the end: out)  |
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from analytics.queries import Filters
from storage.schema import Feedback, Generation
from storage.store import Store

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
DAY = Filters.last(timedelta(days=1), now=NOW)
U1, U2 = uuid.UUID(int=1), uuid.UUID(int=2)
C = {n: uuid.UUID(int=100 + n) for n in range(1, 6)}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


ROWS: list[dict[str, Any]] = [
    dict(at=at(9, 12), model="A", user=U1, conv=1, status="complete", ttft=100, prompt=100, out=50, tps=10, fl=0),
    dict(at=at(10, 10, 30), model="A", user=U1, conv=1, status="complete", ttft=200, prompt=300, out=50, tps=20, fl=1),
    dict(at=at(10, 11), model="A", user=U2, conv=2, status="complete", ttft=400, prompt=2000, out=50, tps=30, fl=2),
    dict(at=at(10, 11, 10), model="B", user=U2, conv=2, status="complete", ttft=800, prompt=5000, out=50, tps=40, fl=5),
    dict(
        at=at(10, 11, 20),
        model="B",
        user=U2,
        conv=3,
        status="error",
        ttft=None,
        prompt=50,
        out=0,
        tps=None,
        fl=0,
        error="overloaded",
        duration=300,
    ),
    dict(at=at(10, 11, 30), model="A", user=U1, conv=1, status="stopped", ttft=6000, prompt=100, out=5, tps=5, fl=40),
    dict(at=at(9, 10), model="A", user=U1, conv=4, status="complete", ttft=1000, prompt=10, out=20, tps=20, fl=0),
    dict(
        at=at(9, 11),
        model="A",
        user=U1,
        conv=4,
        status="error",
        ttft=None,
        prompt=10,
        out=0,
        tps=None,
        fl=0,
        error="timeout",
    ),
    dict(at=at(8, 10), model="A", user=U1, conv=5, status="complete", ttft=50, prompt=10, out=10, tps=10, fl=0),
    dict(at=at(10, 12), model="A", user=U1, conv=1, status="complete", ttft=9, prompt=10, out=10, tps=10, fl=0),
]
MESSAGE = {i: uuid.UUID(int=1000 + i) for i in range(1, len(ROWS) + 1)}
# (row, user, value, minutes after the reply)
VOTES = [(1, U1, 1, 1), (1, U1, -1, 2), (1, U2, 1, 1), (2, U1, 1, 1), (4, U2, 1, 1), (6, U1, -1, 1), (7, U1, 1, 1)]


def seed(store: Store) -> None:
    generations = [
        {
            "id": uuid.uuid4(),
            "message_id": MESSAGE[i],
            "conversation_id": C[row["conv"]],
            "user_id": row["user"],
            "model_id": row["model"],
            "backend": "tgi",
            "server_url": "http://tgi",
            "params": {"max_tokens": 64},
            "status": row["status"],
            "queue_wait_ms": 1.0,
            "time_to_first_token_ms": row["ttft"],
            "duration_ms": row.get("duration", 1000.0),
            "prompt_tokens": row["prompt"],
            "output_tokens": row["out"],
            "tokens_per_s": row["tps"],
            "finish_reason": "stop",
            "error_type": row.get("error"),
            "in_flight_at_start": row["fl"],
            "created_at": row["at"],
        }
        for i, row in enumerate(ROWS, start=1)
    ]
    votes = [
        {
            "id": uuid.uuid4(),
            "message_id": MESSAGE[n],
            "generation_id": None,
            "user_id": user,
            "value": value,
            "comment": "",
            "created_at": ROWS[n - 1]["at"] + timedelta(minutes=minutes),
        }
        for n, user, value, minutes in VOTES
    ]
    with store.sessions() as session:
        session.execute(insert(Generation), generations)
        session.execute(insert(Feedback), votes)
        session.commit()
