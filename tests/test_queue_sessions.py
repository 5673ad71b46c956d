"""A Gradio queue session answers only the identity that first used it (issue 15, item 2).

Raw HTTP with the requests the page sends (join, the SSE stream, heartbeat, cancel): user B, with B's own cookie and
A's ``session_hash``, gets nothing of A's streamed reply; ``/gradio_api/deep_link`` is refused to everyone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from access.queue_sessions import SessionOwners
from access.sessions import COOKIE
from tests.support.apps import RunningApp
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.other_origins import security_test_app
from tests.support.rawqueue import call, fn_index


@pytest.fixture(scope="module")
def launched(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, Any]]:
    with security_test_app(tmp_path_factory.mktemp("queue-sessions"), fake_tgi_server.url) as launched:
        yield launched


def _client(app: RunningApp) -> httpx.Client:
    return httpx.Client(base_url=app.url, timeout=20, cookies={COOKIE: httpx.get(f"{app.url}/config").cookies[COOKIE]})


def _read_stream(client: httpx.Client, session_hash: str) -> tuple[int, str]:
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as stream:
        if stream.status_code != 200:
            return stream.status_code, stream.read().decode()
        seen = ""
        for line in stream.iter_lines():
            seen += line + "\n"
            if line.startswith("data:") and json.loads(line[5:]).get("msg") == "process_completed":
                break
        return 200, seen


def test_another_user_with_the_session_hash_gets_nothing_of_the_stream(
    launched: tuple[RunningApp, Any], fake_tgi: FakeTgi
) -> None:
    app, demo = launched
    alice, bob = _client(app), _client(app)
    assert alice.cookies[COOKIE] != bob.cookies[COOKIE]
    cid = call(alice, fn_index(demo, "new_conversation"), [])["output"]["data"][0]
    fake_tgi.next(Behaviour(reply="the launch code is 0000", finish_reason="stop", token_interval_s=0.05))
    session_hash = "alicetab001"
    data = ["what is the launch code?", cid, None, None, None, None, "", None, None, None, "", False, None, None, None]
    body = {"data": data, "fn_index": fn_index(demo, "chat"), "session_hash": session_hash, "event_data": None}
    assert alice.post("/gradio_api/queue/join", json={**body, "trigger_id": None}).status_code == 200

    status, text = _read_stream(bob, session_hash)
    assert status == 403 and "launch code" not in text, (status, text)
    assert bob.get(f"/gradio_api/heartbeat/{session_hash}").status_code == 403
    cancel = {"session_hash": session_hash, "fn_index": body["fn_index"], "event_id": "x"}
    assert bob.post("/gradio_api/cancel", json=cancel).status_code == 403
    assert bob.post("/gradio_api/queue/join", json={**body, "trigger_id": None}).status_code == 403
    anonymous = httpx.get(f"{app.url}/gradio_api/queue/data", params={"session_hash": session_hash})
    assert anonymous.status_code == 403  # no cookie: a fresh identity, not the owner either

    status, text = _read_stream(alice, session_hash)  # the owner's stream is untouched
    assert status == 200 and "the launch code is 0000" in text, (status, text)


def test_deep_links_are_refused(launched: tuple[RunningApp, Any]) -> None:
    """Gradio's deep_link saved any session's component values under a link that rendered them to anyone."""
    app, _ = launched
    alice = _client(app)
    assert alice.get("/gradio_api/deep_link", params={"session_hash": "alicetab001"}).status_code == 404
    assert httpx.get(f"{app.url}/gradio_api/deep_link", params={"session_hash": "x"}).status_code == 404


def test_the_owner_map_is_bounded_and_forgets_unused_hashes() -> None:
    owners = SessionOwners(max_entries=3, ttl_s=60)
    assert owners.claim("a", "alice", now=0) and not owners.claim("a", "bob", now=1)
    assert owners.claim("a", "alice", now=30)  # use renews it
    assert not owners.claim("a", "bob", now=80) and owners.claim("a", "bob", now=91)  # unused for 60 s: free
    for name in "bcd":
        owners.claim(name, "carol", now=100)
    assert len(owners) == 3 and owners.claim("a", "dave", now=101)  # the oldest was dropped
