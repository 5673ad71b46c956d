"""Several ChatLens processes on one PostgreSQL: the way to outgrow one machine (DuckDB allows one process)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from access.sessions import COOKIE
from benchmarks.bench_stream import StreamResult, app_stream
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.postgres import TempPostgres
from tests.support.processes import AppProcess

pytestmark = pytest.mark.process  # two `python app.py` on one PostgreSQL

SHARED_SECRET = "replicas-share-this-secret-0123456789"  # PostgreSQL without one is refused (tests/test_settings.py)


@pytest.fixture
def replicas(postgres: TempPostgres, tmp_path: Path) -> Iterator[tuple[list[AppProcess], FakeTgi, str]]:
    fake = FakeTgi(default=Behaviour(tokens=5, token_interval_s=0.01)).start()
    url = postgres.new_database()
    env = {"TGI_URL": fake.url, "DATABASE_URL": url, "SESSION_SECRET": SHARED_SECRET}
    apps = [AppProcess({**env, "DATA_DIR": str(tmp_path / f"data{i}")}, tmp_path / f"app{i}.log") for i in range(2)]
    try:
        for app in apps:
            app.wait_ready()
        yield apps, fake, url
    finally:
        for app in apps:
            app.kill()
        fake.stop()


async def chat_through(apps: list[AppProcess], turns: int) -> list[StreamResult]:
    async with httpx.AsyncClient() as http:
        config = (await http.get(f"{apps[0].url}/config")).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "chat")
    return await asyncio.gather(
        *(app_stream(apps[i % len(apps)].url, fn_index, f"turn {i}", "", 5) for i in range(turns))
    )


def test_two_processes_on_one_postgresql_lose_and_duplicate_nothing(replicas) -> None:  # type: ignore[no-untyped-def]
    apps, fake, url = replicas
    results = asyncio.run(chat_through(apps, 200))
    for result in results:
        result.check(5)
    assert [r.error for r in results if r.error] == []
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as db:
        counts = db.execute(
            "SELECT role, count(*), count(DISTINCT conversation_id), count(DISTINCT content) "
            "FROM messages GROUP BY role"
        ).fetchall()
        generations = db.execute("SELECT count(*), count(DISTINCT message_id) FROM generations").fetchone()
        duplicates = db.execute(
            "SELECT count(*) FROM (SELECT conversation_id, seq FROM messages GROUP BY 1, 2 HAVING count(*) > 1) d"
        ).fetchone()
    assert sorted(counts) == [("assistant", 200, 200, 1), ("user", 200, 200, 200)]
    assert generations == (200, 200)
    assert duplicates == (0,)
    assert len(fake.streams) == 200


def test_a_visitors_cookie_from_one_replica_is_theirs_on_the_other(replicas) -> None:  # type: ignore[no-untyped-def]
    """Behind a load balancer each request may reach another replica: the same key signs and checks every cookie."""
    apps, _fake, _url = replicas
    first = httpx.get(f"{apps[0].url}/config")
    cookie = first.cookies[COOKIE]
    again = httpx.get(f"{apps[1].url}/config", cookies={COOKIE: cookie})
    assert again.status_code == 200 and COOKIE not in again.cookies, "the other replica made the visitor a new identity"
    stranger = httpx.get(f"{apps[1].url}/config", cookies={COOKIE: cookie[:-4] + "AAAA"})
    assert COOKIE in stranger.cookies  # a cookie it cannot verify still gets a new identity there
