"""What the user's browser saw: the page's own measurements of each reply and its JavaScript errors, reported to
ChatLens and stored — in a real Chromium against the launched app, and hostile reports over raw HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from storage.schema import BrowserError, BrowserReply, Generation, Message
from tests.support.apps import Launch, RunningApp
from tests.support.browser import finished, open_chat, send
from tests.support.config import make_settings
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.wait import wait_until


@pytest.fixture
def beacon_app(launch: Launch, fake_tgi: FakeTgi, tmp_path: Path) -> Iterator[RunningApp]:
    yield launch(make_settings(tmp_path, tgi_url=fake_tgi.url, info_ttl_s=0, auto_title=False))


def reported(app: RunningApp) -> list[BrowserReply]:
    return app.rows(BrowserReply)


def test_a_live_replys_felt_ttft_is_stored_and_not_below_the_servers(
    page: Page, beacon_app: RunningApp, fake_tgi: FakeTgi
) -> None:
    fake_tgi.next(Behaviour(tokens=30, token_interval_s=0.03, first_token_delay_s=0.4))
    open_chat(page, beacon_app.url)
    send(page, "Measure me")
    finished(page, 1)
    assert wait_until(lambda: len(reported(beacon_app)) == 1, timeout_s=10)
    [seen] = reported(beacon_app)
    [generation] = beacon_app.rows(Generation)
    assert seen.generation_id == generation.id and seen.user_id == generation.user_id
    assert generation.time_to_first_token_ms is not None and generation.time_to_first_token_ms >= 400
    # The page's clock starts at the key press, before the request; the server's at the request.
    assert seen.felt_ttft_ms >= generation.time_to_first_token_ms
    assert seen.felt_last_token_ms >= seen.felt_ttft_ms + 29 * 30 * 0.5  # 30 tokens 30 ms apart, paced in frames
    assert seen.frames >= 2 and 0 <= seen.long_frames <= seen.frames
    assert seen.fps is not None and seen.fps > 1
    assert seen.heap_bytes is not None and seen.heap_bytes > 0  # Chromium exposes performance.memory
    assert seen.connection == "local"
    # Send (the button) is measured like Enter.
    fake_tgi.next(Behaviour(tokens=5, token_interval_s=0.02, first_token_delay_s=0.2))
    page.locator("#cl-input textarea").fill("Measure me again")
    page.locator("#cl-send").click()
    finished(page, 2)
    assert wait_until(lambda: len(reported(beacon_app)) == 2, timeout_s=10)


def test_a_thrown_error_lands_once_and_twice_thrown_counts_two(page: Page, beacon_app: RunningApp) -> None:
    open_chat(page, beacon_app.url)
    throw = "setTimeout(() => { throw new Error('beacon test: kaboom'); }, 0)"
    page.evaluate(throw)
    assert wait_until(lambda: len(beacon_app.rows(BrowserError)) == 1, timeout_s=10)
    [first] = beacon_app.rows(BrowserError)
    assert (first.kind, first.count, first.page, first.version) == ("error", 1, "/", "0.1.0")
    assert "beacon test: kaboom" in first.message and "Error" in first.stack
    page.evaluate(throw)
    page.evaluate("() => { Promise.reject(new Error('beacon test: rejected')); }")
    assert wait_until(lambda: sum(row.count for row in beacon_app.rows(BrowserError)) == 3, timeout_s=10)
    rows = {row.kind: row for row in beacon_app.rows(BrowserError)}
    assert rows["error"].count == 2 and rows["error"].last_seen >= rows["error"].first_seen
    assert rows["rejection"].count == 1 and "beacon test: rejected" in rows["rejection"].message


def test_browser_metrics_off_means_no_script_and_no_endpoint(
    page: Page, launch: Launch, fake_tgi: FakeTgi, tmp_path: Path
) -> None:
    off = launch(make_settings(tmp_path, tgi_url=fake_tgi.url, browser_metrics=False))
    open_chat(page, off.url)
    assert "browser/reply" not in page.content()
    page.evaluate("setTimeout(() => { throw new Error('not reported'); }, 0)")
    answer = httpx.post(f"{off.url}/browser/error", content=b"{}")
    assert answer.status_code == 404
    page.wait_for_timeout(500)
    assert off.count(BrowserError) == 0


def test_hostile_reports_are_refused_and_store_nothing(page: Page, beacon_app: RunningApp, fake_tgi: FakeTgi) -> None:
    fake_tgi.next(Behaviour(tokens=5, token_interval_s=0.01))
    open_chat(page, beacon_app.url)
    send(page, "Mine")
    finished(page, 1)
    assert wait_until(lambda: len(reported(beacon_app)) == 1, timeout_s=10)
    [reply] = beacon_app.rows(Message, role="assistant")
    owner = {c["name"]: c["value"] for c in page.context.cookies()}
    url = beacon_app.url

    def post(body: Any, *, cookies: dict[str, str] | None = None, raw: bytes | None = None) -> int:
        content = raw if raw is not None else json.dumps(body).encode()
        with httpx.Client(cookies=cookies if cookies is not None else owner) as client:
            return client.post(f"{url}/browser/reply", content=content).status_code

    good = {"reply": str(reply.id), "ttft_ms": 500.0, "last_token_ms": 900.0, "frames": 10, "long_frames": 0}
    assert post(good) == 409  # replayed: the page reported this reply already
    stranger = httpx.get(url).cookies  # a new anonymous session: another user
    assert post(good, cookies=dict(stranger)) == 404  # not theirs: the same answer as an unknown id
    assert post({**good, "reply": str(uuid.uuid4())}) == 404
    for hostile in (
        {**good, "ttft_ms": "500"},  # a string for a number
        {**good, "frames": True},  # a boolean for an integer
        {**good, "frames": 1.5},
        {**good, "ttft_ms": -1},
        {**good, "ttft_ms": 1e12},
        {**good, "last_token_ms": 100.0},  # before the first token
        {**good, "long_frames": 11},  # more long frames than frames
        {**good, "reply": 12},
        {**good, "reply": "../../etc"},
        {**good, "extra": 1},
        [good],
        "report",
    ):
        assert post(hostile) == 400, hostile
    assert post(None, raw=b"{not json") == 400
    assert post(None, raw=b'{"reply": "' + b"x" * 5000 + b'"}') == 413  # huge
    assert post(None, raw=b"[" * 100_000) == 413
    with httpx.Client(cookies=owner) as client:
        errors = [
            {"kind": "error", "message": "x" * 1001, "version": "0.1.0", "page": "/"},
            {"kind": "panic", "message": "m", "version": "0.1.0", "page": "/"},
            {"kind": "error", "message": "m", "version": "<script>", "page": "/"},
            {"kind": "error", "message": "m", "version": "0.1.0", "page": "/?c=" + str(uuid.uuid4())},
            {"kind": "error", "message": 5, "version": "0.1.0", "page": "/"},
        ]
        for hostile in errors:
            assert client.post(f"{url}/browser/error", content=json.dumps(hostile)).status_code == 400, hostile
        huge = json.dumps({"kind": "error", "message": "m", "stack": "s" * 20_000, "version": "0.1.0", "page": "/"})
        assert client.post(f"{url}/browser/error", content=huge).status_code == 413
    assert len(reported(beacon_app)) == 1 and beacon_app.count(BrowserError) == 0
    # From another origin's page the session cookie is refused before the route (the gate).
    with httpx.Client(cookies=owner, headers={"origin": "http://evil.example"}) as client:
        assert client.post(f"{url}/browser/error", content=json.dumps(errors[0])).status_code == 403


def test_reports_are_bounded_per_user_per_minute(beacon_app: RunningApp) -> None:
    cookies = dict(httpx.get(beacon_app.url).cookies)
    statuses = []
    with httpx.Client(cookies=cookies) as client:
        for i in range(25):
            body = {"kind": "error", "message": f"flood {i}", "version": "0.1.0", "page": "/"}
            statuses.append(client.post(f"{beacon_app.url}/browser/error", content=json.dumps(body)).status_code)
    assert statuses == [204] * 20 + [429] * 5
    assert beacon_app.count(BrowserError) == 20
