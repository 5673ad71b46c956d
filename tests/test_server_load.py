"""The model servers' load: their ``/metrics`` pages read to the common set, scraped into ``server_load`` through the
writer, and joined to each reply's start — against the fake TGI's and fake vLLM's pages (real metric names), on a
real store (DuckDB file and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from gradio_client import Client
from sqlalchemy import insert, update

from analytics import load_queries, queries
from analytics.load_scraper import LoadScraper
from analytics.queries import Filters
from analytics.server_load import read_load_page
from inference.turns import NewMessage
from storage.load_samples import Downsample, SaveLoadSamples
from storage.schema import Generation, ServerLoadSample
from storage.server_state import RecentReadings
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.apps import Launch
from tests.support.config import make_settings
from tests.support.fake_metrics import TgiLoad, VllmLoad
from tests.support.fake_tgi import FakeTgi
from tests.support.records import MODEL, reply
from tests.support.seeds import DAY, U1, at, seed
from tests.support.wait import wait_until


@pytest.fixture
def own_tgi() -> Iterator[FakeTgi]:
    """A fake TGI of the test's own: its /metrics page is the test's to change."""
    fake = FakeTgi().start()
    yield fake
    fake.stop()


def test_tgi_and_vllm_pages_read_to_the_common_set() -> None:
    tgi = TgiLoad(queue_size=5, batch_size=3, queue_durations_s=[0.25, 0.75])
    page = read_load_page(tgi.page())
    assert page is not None and page.backend == "tgi"
    assert (page.waiting, page.running, page.batch_size, page.kv_cache_use) == (5, 3, 3, None)
    assert page.queue_time is not None and (page.queue_time.sum_s, page.queue_time.count) == (1.0, 2)
    assert page.ttft is None  # TGI publishes none

    vllm = VllmLoad()
    vllm.set(waiting=4, running=12, kv_cache=0.625)
    vllm.observe(ttft_s=0.5, queue_s=0.1)
    page = read_load_page(vllm.page())
    assert page is not None and page.backend == "vllm"
    assert (page.waiting, page.running, page.batch_size, page.kv_cache_use) == (4, 12, None, 0.625)
    assert page.ttft is not None and (page.ttft.sum_s, page.ttft.count) == (0.5, 1)
    # llama-server --metrics (tools/server/server-context.cpp writes it line by line, names prefixed llamacpp:)
    llama = "".join(
        f"# HELP llamacpp:{name} {name}\n# TYPE llamacpp:{name} {kind}\nllamacpp:{name} {value}\n"
        for name, kind, value in (
            ("prompt_tokens_total", "counter", 120), ("requests_processing", "gauge", 1),
            ("requests_deferred", "gauge", 2), ("n_busy_slots_per_decode", "gauge", 1),
        )
    )  # fmt: skip
    page = read_load_page(llama)
    assert page is not None and (page.backend, page.waiting, page.running, page.kv_cache_use) == (
        "llama.cpp",
        2,
        1,
        None,
    )
    assert read_load_page("# a page of some other program\nprocess_cpu_seconds_total 1.5\n") is None


def test_the_scraper_records_what_tgi_reports_and_follows_its_changes(
    own_tgi: FakeTgi, launch: Launch, tmp_path: Path
) -> None:
    own_tgi.metrics = load = TgiLoad()
    load.set(waiting=2, running=1)
    running = launch(make_settings(tmp_path, tgi_url=own_tgi.url, model_metrics_interval_s=0.2))

    def readings() -> list[ServerLoadSample]:
        return running.rows(ServerLoadSample)

    assert wait_until(lambda: len(readings()) >= 1, timeout_s=10)
    load.set(waiting=9, running=4)
    load.queue_durations_s += [0.5, 1.5]  # two requests waited 0.5 s and 1.5 s since the last reading
    assert wait_until(lambda: any(r.waiting == 9 for r in readings()), timeout_s=10)
    rows = sorted(readings(), key=lambda r: r.sampled_at)
    first, changed = rows[0], next(r for r in rows if r.waiting == 9)
    assert (first.server_url, first.backend, first.waiting, first.running, first.kv_cache_use) == (
        own_tgi.url, "tgi", 2, 1, None,
    )  # fmt: skip
    assert (changed.running, changed.batch_size, changed.server_queue_ms) == (4, 4, 1000.0)
    assert all(r.server_ttft_ms is None for r in rows)


def test_a_chat_turn_carries_the_server_state_the_scraper_read_before_it(
    own_tgi: FakeTgi, launch: Launch, tmp_path: Path
) -> None:
    own_tgi.metrics = load = VllmLoad()
    load.set(waiting=4, running=6, kv_cache=0.375)
    running = launch(make_settings(tmp_path, tgi_url=own_tgi.url, model_metrics_interval_s=0.2))
    client = Client(running.url, verbose=False)

    def turn_after_a_reading_of(waiting: int) -> Generation:
        assert wait_until(lambda: any(r.waiting == waiting for r in running.rows(ServerLoadSample)), timeout_s=10)
        client.predict("how busy are you?", api_name="/chat")
        return running.last(Generation)  # type: ignore[no-any-return]

    for waiting, running_now, kv_cache in ((4, 6, 0.375), (9, 2, 0.875)):
        load.set(waiting=waiting, running=running_now, kv_cache=kv_cache)
        row = turn_after_a_reading_of(waiting)
        assert (row.server_waiting, row.server_running, row.server_kv_cache) == (waiting, running_now, kv_cache)
        # The reading it names is in server_load, at most 10 s before the reply's start.
        (reading,) = running.rows(ServerLoadSample, sampled_at=row.server_sampled_at)
        assert (reading.waiting, reading.running, reading.kv_cache_use) == (waiting, running_now, kv_cache)
        started = row.created_at - timedelta(milliseconds=row.duration_ms)
        assert started - timedelta(seconds=10) <= reading.sampled_at <= started


def test_a_server_without_metrics_is_asked_once(own_tgi: FakeTgi, launch: Launch, tmp_path: Path) -> None:
    running = launch(make_settings(tmp_path, tgi_url=own_tgi.url, model_metrics_interval_s=0.1))
    assert wait_until(lambda: own_tgi.metrics_calls >= 1, timeout_s=10)
    assert wait_until(lambda: not running.chatlens.load_scraper.active_servers, timeout_s=5)
    own_tgi.metrics = TgiLoad(queue_size=3)  # too late: the scraper is off for this server
    wait_until(lambda: False, timeout_s=0.5)
    assert own_tgi.metrics_calls == 1 and running.rows(ServerLoadSample) == []


def test_vllm_server_ttft_is_the_mean_of_the_requests_between_two_readings(own_tgi: FakeTgi, tmp_path: Path) -> None:
    own_tgi.metrics = vllm = VllmLoad()
    store = Store.open(f"duckdb:///{tmp_path / 'load.duckdb'}")
    recorder = WriteBehindRecorder(store)
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    with store.sessions() as session:  # a reading from before the retention, and one within it
        old = [sample("http://old", now - timedelta(days=days), waiting=days) for days in (31, 29)]
        session.execute(insert(ServerLoadSample), old)
        session.commit()
    scraper = LoadScraper([(own_tgi.url, None)], writer=recorder, interval_s=1, keep_days=30, now=lambda: now)
    try:
        vllm.set(waiting=1, running=2, kv_cache=0.25)
        vllm.observe(ttft_s=2.0)
        scraper.scrape_round()
        vllm.set(waiting=6, running=8, kv_cache=0.75)
        for ttft_s in (0.1, 0.2, 0.6):  # three requests' first tokens since the first reading
            vllm.observe(ttft_s=ttft_s, queue_s=0.05)
        scraper.scrape_round()
        scraper.scrape_round()  # nothing new since: no mean
        recorder.barrier().result(timeout=10)
        with store.sessions() as session:
            rows = session.query(ServerLoadSample).order_by(ServerLoadSample.id).all()
    finally:
        scraper.stop()
        recorder.close()
        store.close()
    assert [r.waiting for r in rows if r.server_url == "http://old"] == [29]  # the 31-day-old one is gone
    mine = sorted((r for r in rows if r.server_url == own_tgi.url), key=lambda r: (r.waiting, r.server_ttft_ms or 0))
    assert [(r.backend, r.waiting, r.running, r.kv_cache_use) for r in mine] == [
        ("vllm", 1, 2, 0.25), ("vllm", 6, 8, 0.75), ("vllm", 6, 8, 0.75),
    ]  # fmt: skip
    assert mine[0].server_ttft_ms is None  # no reading before it to take a difference from
    assert sorted(r.server_ttft_ms is None for r in mine[1:]) == [False, True]
    measured = next(r for r in mine[1:] if r.server_ttft_ms is not None)
    assert measured.server_ttft_ms == pytest.approx(300.0) and measured.server_queue_ms == pytest.approx(50.0)


def sample(server_url: str, sampled_at: datetime, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"id": uuid.uuid4(), "server_url": server_url, "backend": "tgi", "sampled_at": sampled_at}
    row.update({name: values.get(name) for name in ("waiting", "running", "batch_size", "kv_cache_use")})
    return {**row, "server_ttft_ms": values.get("server_ttft_ms"), "server_queue_ms": None}


def test_each_reply_gets_its_servers_latest_reading_at_or_before_its_start(store: Store) -> None:
    """The seed's replies all ran on http://tgi for 1 s (one for 0.3 s): each started 1 s before its ``at``. Their
    rows have no stored state (as rows written before it was kept): the reads join them to ``server_load``."""
    seed(store)
    s = timedelta(seconds=1)
    readings = [
        sample("http://tgi", at(9, 11, 59) + 54 * s, waiting=2, running=1),  # row 1 started 11:59:59, before DAY
        sample("http://tgi", at(9, 12) + 4 * s, waiting=3, running=1),  # nearer, but after the start: never
        sample("http://tgi", at(10, 10, 29) + 50 * s, waiting=1),
        sample(
            "http://tgi", at(10, 10, 29) + 57 * s, waiting=7, running=3, kv_cache_use=0.5, server_ttft_ms=150
        ),  # row 2
        sample("http://tgi", at(10, 10, 30) + 10 * s, waiting=9),
        sample("http://tgi", at(10, 10, 59) + 51 * s, waiting=4, running=2),  # row 3 (10:59:59): 8 s before
        sample("http://tgi", at(10, 11) + 1 * s, waiting=6),  # 2 s after row 3's start: nearer, not taken
        sample("http://tgi", at(10, 11, 9) + 48 * s, waiting=8),  # row 4 (11:09:59): 11 s before, too far
        sample("http://other", at(10, 11, 29) + 59 * s, waiting=5),  # row 6's start, another server's
    ]
    with store.sessions() as session:
        session.execute(insert(ServerLoadSample), readings)
        session.commit()
    with store.engine.connect() as connection:
        frame = queries.generations_with_server_state(connection, DAY)
        slowest = queries.slowest_generations(connection, DAY)
        by_queue = load_queries.ttft_by_server_queue(connection, DAY)
        over_time = load_queries.server_load_over_time(connection, DAY, 86400)
        sides = load_queries.client_vs_server_ttft(connection, DAY, 86400)
    got = {
        row["created_at"].astimezone(UTC).strftime("%d %H:%M"): (row["server_waiting"], row["server_running"],
                                                                 row["server_kv_cache"])
        for row in frame.to_dict("records")
    }  # fmt: skip
    nothing = (None, None, None)
    assert {k: tuple(None if v != v else v for v in vals) for k, vals in got.items()} == {
        "09 12:00": (2, 1, None),
        "10 10:30": (7, 3, 0.5),
        "10 11:00": (4, 2, None),
        "10 11:10": nothing,
        "10 11:20": nothing,
        "10 11:30": nothing,
    }
    # The slowest replies carry the same state; the ids stay the last two columns (the tab opens a row by them).
    state = {row["ttft_ms"]: row["server_waiting"] for row in slowest.to_dict("records")}
    assert state[200] == 7 and state[400] == 4 and state[6000] != state[6000]  # NaN: no reading near it
    assert list(slowest.columns[-2:]) == ["conversation_id", "user_id"]
    # TTFT by the queue at the start: rows 1 (100 ms, 2 waiting), 2 (200 ms, 7) and 3 (400 ms, 4).
    buckets = {row["bucket"]: (row["replies"], row["ttft_p50_ms"]) for row in by_queue.to_dict("records")}
    assert buckets["2–3"] == (1, 100) and buckets["4–7"] == (2, 300) and buckets["0"][0] == 0
    # Per day: each server's mean, summed over servers (http://tgi's six readings on the 10th average 35/6 waiting,
    # http://other's one adds 5); the KV cache is the servers' mean of what was published.
    days = {row["time"].day: (row["waiting"], row["running"], row["kv_cache"]) for row in over_time.to_dict("records")}
    assert days[9] == (3, 1, None) or (days[9][:2] == (3, 1) and days[9][2] != days[9][2])
    assert days[10][0] == pytest.approx(35 / 6 + 5) and days[10][1:] == (2.5, 0.5)
    # ChatLens's mean TTFT on the 10th (200, 400, 800, 6000 ms) beside the server's own (150 ms).
    assert {row["side"]: row["ttft_ms"] for row in sides.to_dict("records")} == {"ChatLens": 1850, "model server": 150}


def test_stored_state_and_the_join_give_the_same_numbers(store: Store) -> None:
    """Replies written through the real writer, with the scraper's readings in memory, carry their server's state;
    the same reads over the same rows with those columns cleared (as rows written before they were kept) join
    ``server_load`` and give the same frames."""
    readings = RecentReadings()
    recorder = WriteBehindRecorder(store, readings=readings)
    wall = datetime.now(UTC)
    ago = [*range(200, 60, -5), *range(30, 0, -5)]  # every 5 s, but none from 60 s to 30 s ago
    load = [
        sample(MODEL.server_url, wall - timedelta(seconds=s), waiting=s % 7, running=s % 5, kv_cache_use=s / 400)
        for s in ago
    ]
    load.append(sample(MODEL.server_url, wall - timedelta(seconds=197.5), waiting=3))  # a reading without the rest
    with store.sessions() as session:
        session.execute(insert(ServerLoadSample), load)
        session.commit()
    readings.add(load)
    # Durations (s): each reply ends as it is written, so it started that long before (the writes take a second or
    # two at most, so the starts fall on the same sides of the readings).
    durations = (1, 3, 7, 12, 22, 33, 40, 47, 58, 62, 70, 97, 150, 197, 230)
    other = replace(MODEL, server_url="http://other")  # a server with no readings

    async def replies() -> None:
        for n, duration_s in enumerate(durations):
            turn = await recorder.begin(NewMessage(f"q{n}"), user_id=U1, model_id="m")
            record = reply(turn.conversation_id, U1, f"a{n}")
            ended = record.metrics.ended_at
            metrics = replace(
                record.metrics,
                started_at=ended - duration_s,
                request_sent_at=ended - duration_s + 0.01,
                first_token_at=ended - duration_s + 0.1 + n / 100,
            )
            await recorder.finish_turn(replace(record, metrics=metrics, model=other if n == 4 else MODEL))

    try:
        asyncio.run(replies())
    finally:
        recorder.close()
    span = Filters(wall - timedelta(hours=1), wall + timedelta(hours=1))

    def reads() -> list[pd.DataFrame]:
        with store.engine.connect() as connection:
            return [
                queries.generations_with_server_state(connection, span).drop(columns="generation_id"),
                queries.slowest_generations(connection, span, limit=10),
                load_queries.ttft_by_server_queue(connection, span),
            ]

    stored = reads()
    with store.sessions() as session:
        kept = {round(g.duration_ms / 1000): g.server_sampled_at for g in session.query(Generation).all()}
        cleared = dict.fromkeys(("server_waiting", "server_running", "server_kv_cache", "server_sampled_at"))
        session.execute(update(Generation).values(**cleared))
        session.commit()
    # Stored where a reading was at most 10 s before the start: not in the gap (33, 40, 47 s), not before the first
    # reading (230 s), not for the server without readings (22 s).
    assert sorted(d for d, taken in kept.items() if taken is None) == [22, 33, 40, 47, 230]
    for d, taken in kept.items():
        assert taken is None or wall - timedelta(seconds=d + 10) <= taken <= wall - timedelta(seconds=d - 3)
    joined = reads()
    for mine, theirs in zip(stored, joined, strict=True):
        pd.testing.assert_frame_equal(mine, theirs)
    assert stored[1]["server_waiting"].notna().sum() == 6  # the slowest ten (33 s and longer): six with a reading


def test_recent_readings_take_the_latest_at_or_before_a_start_and_stay_bounded() -> None:
    readings = RecentReadings(keep=timedelta(minutes=1), max_per_server=100)
    t0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    readings.add(sample("http://a", t0 + timedelta(seconds=5 * n), waiting=n) for n in range(1, 40))  # to 3:15
    readings.add([sample("http://a", t0 + timedelta(seconds=12), waiting=99)])  # a clock stepped back: too old, cut
    state = readings.state_at("http://a", t0 + timedelta(seconds=192))
    assert (state["server_waiting"], state["server_sampled_at"]) == (38, t0 + timedelta(seconds=190))
    assert readings.state_at("http://a", t0 + timedelta(seconds=190))["server_waiting"] == 38  # at the start: taken
    assert readings.state_at("http://a", t0 + timedelta(seconds=400))["server_sampled_at"] is None  # 205 s old
    assert readings.state_at("http://a", t0 + timedelta(seconds=100))["server_waiting"] is None  # cut: over a minute
    assert readings.state_at("http://b", t0 + timedelta(seconds=190))["server_waiting"] is None  # another server
    assert readings.state_at(None, t0)["server_waiting"] is None
    few = RecentReadings(max_per_server=3)
    few.add(sample("http://a", t0 + timedelta(seconds=n), waiting=n) for n in range(10))
    assert few.state_at("http://a", t0 + timedelta(seconds=6))["server_waiting"] is None  # only 7, 8, 9 kept
    assert few.state_at("http://a", t0 + timedelta(seconds=7.5))["server_waiting"] == 7


def test_retention_keeps_running_after_every_server_answers_404(own_tgi: FakeTgi, tmp_path: Path) -> None:
    """The fake TGI has no /metrics page (404): the server is turned off, but old readings still age out."""
    store = Store.open(f"duckdb:///{tmp_path / 'load.duckdb'}")
    recorder = WriteBehindRecorder(store)
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    scraper = LoadScraper(
        [(own_tgi.url, None)], writer=recorder, interval_s=0.05, keep_days=30, prune_every_s=0.2, now=lambda: now
    )

    def old_readings() -> int:
        recorder.barrier().result(timeout=10)
        with store.sessions() as session:
            return session.query(ServerLoadSample).count()

    try:
        thread = scraper.start()
        assert thread is not None and wait_until(lambda: not scraper.active_servers, timeout_s=10)
        with store.sessions() as session:  # recorded before the server went away, now past the retention
            session.execute(insert(ServerLoadSample), [sample("http://gone", now - timedelta(days=31), waiting=1)])
            session.commit()
        assert wait_until(lambda: old_readings() == 0, timeout_s=5)
        assert thread.is_alive()
    finally:
        scraper.stop()
        recorder.close()
        store.close()
    assert not thread.is_alive()


def test_readings_past_the_full_days_are_merged_to_one_per_20_s(store: Store) -> None:
    """Readings every 5 s: past the cut-off each 20 s bucket becomes its mean at the bucket's middle, newer ones stay,
    and merging again changes nothing."""
    recorder = WriteBehindRecorder(store)
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    old = datetime(2026, 11, 20, 8, 0, 0, tzinfo=UTC)  # 11 days before: past 3 full days, within the 30 kept
    s = timedelta(seconds=1)
    readings = [
        *(sample("http://a", old + 5 * i * s, waiting=w, running=1) for i, w in enumerate([1, 2, 3, 6, 10, 10])),
        sample("http://b", old + 7 * s, waiting=4, kv_cache_use=0.5, server_ttft_ms=100.0),
        sample("http://b", old + 12 * s, waiting=8, kv_cache_use=None, server_ttft_ms=300.0),
        *(sample("http://a", now - 5 * i * s, waiting=i) for i in range(1, 5)),  # recent: kept as they are
    ]
    with store.sessions() as session:
        session.execute(insert(ServerLoadSample), readings)
        session.commit()
    job = SaveLoadSamples([], now - timedelta(days=30), Downsample(now - timedelta(days=30), now - timedelta(days=3)))

    def table() -> list[tuple[Any, ...]]:
        with store.sessions() as session:
            rows = session.query(ServerLoadSample).order_by(ServerLoadSample.server_url, ServerLoadSample.sampled_at)
            return [
                (r.server_url, r.sampled_at.astimezone(UTC), r.waiting, r.running, r.kv_cache_use, r.server_ttft_ms)
                for r in rows
            ]

    try:
        recorder.submit(job).result(timeout=10)
        merged = table()
        recorder.submit(job).result(timeout=10)
        assert table() == merged
    finally:
        recorder.close()
    assert [row for row in merged if row[1] < now - timedelta(days=3)] == [
        ("http://a", old + 10 * s, 3.0, 1.0, None, None),  # 08:00:00–08:00:20: 1, 2, 3, 6
        ("http://a", old + 30 * s, 10.0, 1.0, None, None),  # 08:00:20–08:00:40: 10, 10
        ("http://b", old + 10 * s, 6.0, None, 0.5, 200.0),  # two readings; one KV-cache value
    ]
    assert sorted(row[2] for row in merged if row[1] > now - timedelta(days=1)) == [1, 2, 3, 4]
