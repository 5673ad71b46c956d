"""Rate limits per user and per IP, kept in append-only rows on DuckDB and PostgreSQL (decided in memory on DuckDB);
the page says "slow down, try again in N s" and keeps the typed text; the API refuses with the same sentence."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from gradio_client import Client
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select

from access.rate_limits import RateLimited, RateLimits
from storage.schema import RateEvent
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.apps import RunningApp, launched_app
from tests.support.config import make_settings
from tests.support.fake_tgi import FakeTgi


def _count(store: Store, **where: Any) -> int:
    with store.sessions() as session:
        return session.scalar(select(func.count()).select_from(RateEvent).filter_by(**where)) or 0


def test_limits_per_user_and_per_ip_hold_in_the_database(store: Store, recorder: WriteBehindRecorder) -> None:
    # As the app decides: in memory on DuckDB (one process owns the file), on the writer on PostgreSQL (replicas).
    counted_here = store.engine.dialect.name == "duckdb"
    limits = RateLimits(recorder, per_user_per_min=3, per_ip_per_min=5, counted_here=counted_here)
    alice, bob = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> list[BaseException | None]:
        outcomes: list[BaseException | None] = []
        # Ten at once for one user: the check and the append run together on the writer, so exactly 3 pass.
        results = await asyncio.gather(*(limits.admit(alice, "10.0.0.1") for _ in range(10)), return_exceptions=True)
        outcomes.extend(r if isinstance(r, BaseException) else None for r in results)
        await limits.admit(bob, "10.0.0.1")
        await limits.admit(bob, "10.0.0.1")
        try:
            await limits.admit(bob, "10.0.0.1")  # bob is under his own limit, but the address is at 5
        except RateLimited as exc:
            outcomes.append(exc)
        await limits.admit(bob, "10.0.0.2")  # another address: fine
        await recorder.flush()  # in memory, the events are written behind
        return outcomes

    outcomes = asyncio.run(scenario())
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert outcomes[:10].count(None) == 3 and len(refused) == 8
    assert all(0 < r.retry_after_s <= 60 for r in refused)
    assert "account" in refused[0].user_message and "Try again in" in refused[0].user_message
    assert "address" in refused[-1].user_message
    assert _count(store, user_id=alice) == 3 and _count(store, user_id=bob) == 3  # refusals are not counted
    assert _count(store, ip="10.0.0.1") == 5


def test_a_restart_still_counts_the_last_minutes_messages(store: Store, recorder: WriteBehindRecorder) -> None:
    """In memory (DuckDB), the window is read back from the rows at the first message after a start."""
    alice = uuid.uuid4()

    async def scenario() -> int:
        before = RateLimits(recorder, per_user_per_min=2, per_ip_per_min=0, counted_here=True)
        await before.admit(alice, "10.0.0.1")
        await before.admit(alice, "10.0.0.1")
        await recorder.flush()
        after = RateLimits(recorder, per_user_per_min=2, per_ip_per_min=0, counted_here=True)  # a new process
        with pytest.raises(RateLimited) as refused:
            await after.admit(alice, "10.0.0.1")
        await after.admit(uuid.uuid4(), "10.0.0.1")  # someone else is not held up
        return refused.value.retry_after_s

    assert 55 <= asyncio.run(scenario()) <= 60


@pytest.fixture(scope="module")
def limited(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    settings = make_settings(
        tmp_path_factory.mktemp("limits"),
        tgi_url=fake_tgi_server.url,
        rate_limit_user_per_min=2,
        rate_limit_ip_per_min=100,
        info_ttl_s=0,
    )
    with launched_app(settings) as running:
        yield running


def test_the_api_says_when_to_try_again(limited: RunningApp, fake_tgi: FakeTgi) -> None:
    client = Client(limited.url, verbose=False)
    client.predict("one", api_name="/chat")
    client.predict("two", api_name="/chat")
    sent = len(fake_tgi.streams)
    with pytest.raises(Exception, match=r"Slow down.*Try again in \d+ s"):
        client.predict("three", api_name="/chat")
    assert len(fake_tgi.streams) == sent
    assert Client(limited.url, verbose=False).predict("another user", api_name="/chat")  # others are not held up


def test_the_page_keeps_the_typed_text_when_slowed_down(
    browser: Browser, limited: RunningApp, fake_tgi: FakeTgi
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(limited.url)
        box = page.locator("#cl-input textarea")
        chat = page.locator("#cl-chat")
        for done, text in enumerate(("first message", "second message"), start=1):
            box.fill(text)
            box.press("Enter")
            expect(chat).to_contain_text(text)
            expect(chat.locator(".cl-metrics")).to_have_count(done, timeout=10_000)  # the reply is in
            expect(page.locator("#cl-send")).to_be_visible()
        box.fill("third message, typed with care")
        box.press("Enter")
        expect(page.get_by_text("Slow down")).to_be_visible(timeout=10_000)
        expect(page.get_by_text("Try again in")).to_be_visible()
        expect(box).to_have_value("third message, typed with care")
        expect(page.locator("#cl-send")).to_be_visible()
        expect(chat).to_contain_text("second message")  # the conversation is untouched
        expect(chat).not_to_contain_text("third message")
    finally:
        context.close()
