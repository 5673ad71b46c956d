"""Pages of another origin on the same site cannot use a ChatLens user's session (issue 15, item 1).

Gradio's CORS middleware answers localhost origins (on a localhost Host) and every origin (on any other Host) with
credentials allowed, and a SameSite=Lax cookie is sent on same-site requests: another port of 127.0.0.1, or a
sibling host of the same registrable domain. In real Chromium, such a page tries to list and read the victim's
conversations through ``/gradio_api/queue/join`` and to create an API token as the victim; the gate refuses both
with 403 before any handler, and with no CORS header on the refusal the page cannot even read that. The app's own
page, in the same browser, still works.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from access.sessions import COOKIE
from storage.schema import ApiToken
from tests.support.apps import RunningApp
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.other_origins import security_test_app, serving
from tests.support.rawqueue import fn_index

# What a page's script can do with fetch: join the queue as the browser's user and read the event's stream.
QUEUE_CALL_JS = """
async ({app, fn, data}) => {
  const sessionHash = Math.random().toString(36).slice(2, 13);
  let join;
  try {
    join = await fetch(app + "/gradio_api/queue/join", {
      method: "POST", credentials: "include", headers: {"content-type": "application/json"},
      body: JSON.stringify({data, fn_index: fn, session_hash: sessionHash, event_data: null, trigger_id: null}),
    });
  } catch (error) { return {join: "network error", text: String(error)}; }
  let text = await join.clone().text();
  if (join.ok) {
    const stream = await fetch(app + "/gradio_api/queue/data?session_hash=" + sessionHash, {credentials: "include"});
    const reader = stream.body.getReader();
    const decoder = new TextDecoder();
    text = "";
    while (!text.includes("process_completed")) {
      const {value, done} = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
  }
  return {join: join.status, text};
}
"""

# A request a page may send without a preflight (no-cors, text/plain): the browser sends it, cookie included.
SIMPLE_POST_JS = """
async ({app, fn, data}) => {
  const body = JSON.stringify({data, fn_index: fn, session_hash: "simplepost1", event_data: null, trigger_id: null});
  try {
    await fetch(app + "/gradio_api/queue/join", {
      method: "POST", mode: "no-cors", credentials: "include", headers: {"content-type": "text/plain"}, body,
    });
    return "sent";
  } catch (error) { return String(error); }
}
"""


@pytest.fixture(scope="module")
def other_origin() -> Iterator[int]:
    """A plain web page on another port of this machine: the other origin."""
    with serving() as port:
        yield port


@pytest.fixture(scope="module")
def launched(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, Any]]:
    with security_test_app(tmp_path_factory.mktemp("foreign-pages"), fake_tgi_server.url) as launched:
        yield launched


@pytest.mark.parametrize(
    ("app_host", "page_host"),
    [("127.0.0.1", "127.0.0.1"), ("app.chat.localhost", "evil.chat.localhost")],
    ids=["another-port", "sibling-host"],
)
def test_a_same_site_page_cannot_read_chats_or_make_a_token_as_the_user(
    browser: Browser,
    launched: tuple[RunningApp, Any],
    other_origin: int,
    fake_tgi: FakeTgi,
    app_host: str,
    page_host: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="access.gate")
    running, demo = launched
    port = running.url.rsplit(":", 1)[1]
    app_url = f"http://{app_host}:{port}"
    context = browser.new_context()
    try:
        victim = context.new_page()
        fake_tgi.next(Behaviour(reply="The plan is noted.", finish_reason="stop"))
        victim.goto(app_url)
        expect(victim.locator("#cl-header")).to_contain_text("fake-org/", timeout=20_000)
        victim.locator("#cl-input textarea").fill(f"victim's secret plan via {app_host}")
        victim.locator("#cl-input textarea").press("Enter")
        expect(victim.locator("#cl-chat .cl-metrics.cl-complete")).to_be_visible(timeout=10_000)
        assert any(c["name"] == COOKIE for c in context.cookies(app_url)), "the victim has no session"

        listing = {"app": app_url, "fn": fn_index(demo, "refresh_history"), "data": ["", ""]}
        own = victim.evaluate(QUEUE_CALL_JS, listing)  # the app's own page, same browser: works
        assert own["join"] == 200 and "victim's secret plan" in own["text"], own

        tokens_before = running.count(ApiToken)
        attacker = context.new_page()
        attacker.goto(f"http://{page_host}:{other_origin}/")
        stolen = attacker.evaluate(QUEUE_CALL_JS, listing)
        minted = attacker.evaluate(
            QUEUE_CALL_JS, {"app": app_url, "fn": fn_index(demo, "create"), "data": ["from another page"]}
        )
        # A JSON body needs a preflight, which gets no CORS header: the browser sends neither request.
        assert stolen == minted == {"join": "network error", "text": "TypeError: Failed to fetch"}, (stolen, minted)
        # A "simple" request needs no preflight: it is sent, with the cookie, and the gate refuses it.
        assert attacker.evaluate(SIMPLE_POST_JS, listing) == "sent"
        refusals = [r for r in caplog.messages if "refused a request from another origin" in r and "queue/join" in r]
        assert len(refusals) == 1 and f"{page_host}:{other_origin}" in refusals[0], caplog.messages
        assert running.count(ApiToken) == tokens_before

        again = victim.evaluate(QUEUE_CALL_JS, listing)  # and the user's own page still works afterwards
        assert again["join"] == 200 and "victim's secret plan" in again["text"], again
    finally:
        context.close()


def test_unsafe_requests_named_cross_site_by_sec_fetch_site_are_refused_and_bearer_callers_pass(
    launched: tuple[RunningApp, Any],
) -> None:
    """Without ``Origin`` (a browser that sends none), ``Sec-Fetch-Site`` decides for unsafe methods."""
    running, demo = launched
    cookie = httpx.get(f"{running.url}/config").cookies[COOKIE]
    body = {"data": ["", ""], "fn_index": fn_index(demo, "refresh_history"), "session_hash": "sfs12345678"}
    for site, status in (("same-site", 403), ("cross-site", 403), ("same-origin", 200), ("none", 200)):
        joined = httpx.post(
            f"{running.url}/gradio_api/queue/join",
            json={**body, "session_hash": f"sfs-{site}"},
            cookies={COOKIE: cookie},
            headers={"sec-fetch-site": site},
        )
        assert joined.status_code == status, (site, joined.text)
    # No cookie of ours (an API client, a bearer token): the Origin of another page does not matter.
    anonymous = httpx.post(
        f"{running.url}/gradio_api/queue/join",
        json={**body, "session_hash": "nocookie123"},
        headers={"origin": "http://127.0.0.1:9"},
    )
    assert anonymous.status_code == 200, anonymous.text


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {key: value for key, value in response.headers.items() if key.startswith("access-control-allow-")}


def preflight(url: str, origin: str, host: str | None = None) -> httpx.Response:
    headers = {"origin": origin, "access-control-request-method": "POST", "access-control-request-headers": "x-a"}
    return httpx.options(url, headers={**headers, **({"host": host} if host else {})})


@pytest.fixture(scope="module")
def cors_app(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, Any]]:
    folder = tmp_path_factory.mktemp("cors")
    with security_test_app(folder, fake_tgi_server.url, allowed_origins="https://partner.example.net") as launched:
        yield launched


@pytest.mark.parametrize(
    ("host", "origin", "trusted"),
    [
        (None, "http://127.0.0.1:9", False),  # another port of the same machine
        (None, "http://localhost:8000", False),
        ("chat.example.org", "https://evil.example.org", False),  # a sibling host: Gradio reflects any origin here
        ("chat.example.org", "http://chat.example.org", True),  # the app's own origin
        ("chat.example.org", "https://partner.example.net", True),  # in ALLOWED_ORIGINS
    ],
)
def test_cors_answers_only_the_apps_own_and_allowed_origins(
    cors_app: tuple[RunningApp, Any], host: str | None, origin: str, trusted: bool
) -> None:
    """Gradio's CORS middleware reflects other origins with credentials allowed; none reaches the browser."""
    running, demo = cors_app
    headers = {"origin": origin, **({"host": host} if host else {})}
    plain = httpx.get(f"{running.url}/config", headers=headers)
    allowed = preflight(f"{running.url}/gradio_api/queue/join", origin, host)
    cookie = httpx.get(f"{running.url}/config").cookies[COOKIE]
    with_cookie = httpx.post(
        f"{running.url}/gradio_api/queue/join",
        json={"data": ["", ""], "fn_index": fn_index(demo, "refresh_history"), "session_hash": f"cors-{origin}"},
        cookies={COOKIE: cookie},
        headers=headers,
    )
    assert plain.status_code == 200 and allowed.status_code == 200
    if trusted:
        assert cors_headers(plain)["access-control-allow-origin"] == origin
        assert cors_headers(allowed)["access-control-allow-origin"] == origin
        assert with_cookie.status_code == 200, with_cookie.text
    else:
        assert cors_headers(plain) == {} and cors_headers(allowed) == {}
        assert with_cookie.status_code == 403 and cors_headers(with_cookie) == {}
