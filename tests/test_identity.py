"""Per-browser identity (anonymous mode): each browser or API client keeping cookies is its own user, and nobody
reads another's conversation by its id — through the page's ``?c=`` link, gradio_client, or the raw queue API."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client
from playwright.sync_api import Browser, Request, Response, expect

from access.sessions import COOKIE
from storage.schema import Conversation, Message
from tests.support.apps import Launch, RunningApp, launched_app
from tests.support.config import make_settings
from tests.support.fake_tgi import FakeTgi, free_port
from tests.support.rawqueue import call, fn_index


@pytest.fixture(scope="module")
def launched(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, Any]]:
    settings = make_settings(
        tmp_path_factory.mktemp("identity"), tgi_url=fake_tgi_server.url, request_timeout_s=5, info_ttl_s=0
    )
    with launched_app(settings) as running:
        yield running, running.demo


@pytest.fixture
def running(launched: tuple[RunningApp, Any]) -> RunningApp:
    return launched[0]


def _conversation_of_a(app: RunningApp) -> tuple[Client, str]:
    alice = Client(app.url, verbose=False)
    cid = alice.predict(api_name="/new_conversation")
    alice.predict("alice's secret plan", cid, api_name="/chat")
    return alice, cid


def test_each_api_client_is_its_own_user_and_cannot_continue_anothers_conversation(
    running: RunningApp, fake_tgi: FakeTgi
) -> None:
    alice, cid = _conversation_of_a(running)
    alice.predict("and a second question", cid, api_name="/chat")  # the owner continues
    [conversation] = running.rows(Conversation, id=uuid.UUID(cid))
    assert [m.content for m in running.rows(Message, conversation_id=uuid.UUID(cid))][::2] == [
        "alice's secret plan",
        "and a second question",
    ]

    bob = Client(running.url, verbose=False)
    assert bob.cookies[COOKIE] != alice.cookies[COOKIE]
    sent_before = len(fake_tgi.streams)
    with pytest.raises(Exception, match="not yours"):
        bob.predict("what did alice say?", cid, api_name="/chat")
    assert len(fake_tgi.streams) == sent_before, "bob's message reached the model with alice's history"
    assert len(running.rows(Message, conversation_id=uuid.UUID(cid))) == 4
    assert conversation.user_id != uuid.UUID(int=0)


def test_the_session_cookie_is_httponly_lax_and_signed(running: RunningApp) -> None:
    first = httpx.get(f"{running.url}/config")
    set_cookie = first.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=") and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Secure" not in set_cookie  # plain http on loopback; behind https (or PUBLIC_URL https://) it is Secure
    value = first.cookies[COOKIE]
    again = httpx.get(f"{running.url}/config", cookies={COOKIE: value})
    assert "set-cookie" not in again.headers  # a fresh, valid session is kept as it is
    body, signature = value.split(".")
    forged = httpx.get(f"{running.url}/config", cookies={COOKIE: f"{body}.{signature[::-1]}"})
    assert forged.cookies[COOKIE] not in (value, None)  # a tampered cookie is replaced by a new identity


def test_raw_queue_calls_with_anothers_id_get_nothing(launched: tuple[RunningApp, Any], fake_tgi: FakeTgi) -> None:
    app, demo = launched
    _alice, cid = _conversation_of_a(app)
    for bob in (httpx.Client(base_url=app.url), httpx.Client(base_url=app.url, cookies={COOKIE: "forged.value"})):
        loaded = call(bob, fn_index(demo, "on_load"), [], query=f"?c={cid}")
        assert loaded["success"] and loaded["output"]["data"][0] == [], loaded
        assert "secret" not in str(loaded)
        opened = call(bob, fn_index(demo, "open_conversation"), [cid])
        assert not opened["success"] and "secret" not in str(opened), opened  # refused (choices are per session)
        listing = call(bob, fn_index(demo, "refresh_history"), ["", cid])
        assert "secret" not in str(listing) and cid not in str(listing["output"]["data"][0]), listing
        found = call(bob, fn_index(demo, "refresh_history"), ["secret", ""])
        assert found["output"]["data"][0]["choices"] == [], found
        sent = len(fake_tgi.streams)
        chat = call(
            bob,
            fn_index(demo, "chat"),
            ["tell me", cid, None, None, None, None, "", None, None, None, "", False, None, None, None],
        )
        assert not chat["success"] and "not yours" in str(chat["output"]), chat
        assert len(fake_tgi.streams) == sent
        renamed = call(bob, fn_index(demo, "rename"), [cid, "hijacked"])
        assert not renamed["success"]
        deleted = call(bob, fn_index(demo, "delete"), [cid])
        assert not deleted["success"]
    [conversation] = app.rows(Conversation, id=uuid.UUID(cid))
    assert conversation.title != "hijacked" and conversation.deleted_at is None


def test_another_browser_opening_the_link_sees_nothing(
    browser: Browser, running: RunningApp, fake_tgi: FakeTgi, tmp_path: Path
) -> None:
    alice = browser.new_context()
    bob = browser.new_context()
    try:
        page = alice.new_page()
        page.goto(running.url)
        box = page.locator("#cl-input textarea")
        box.fill("alice's browser secret")
        box.press("Enter")
        chat = page.locator("#cl-chat")
        expect(chat).to_contain_text("w3", timeout=10_000)
        expect(page.locator("#cl-send")).to_be_visible()
        link = page.url
        assert re.search(r"[?&]c=[0-9a-f-]{36}", link), link
        page.reload()  # the same browser keeps its identity across reloads
        expect(chat).to_contain_text("alice's browser secret")

        other = bob.new_page()
        other.goto(link)
        expect(other.get_by_text("That conversation was not found")).to_be_visible(timeout=10_000)
        expect(other.locator("#cl-chat")).not_to_contain_text("alice's browser secret")
        expect(other.locator("#cl-conversations")).not_to_contain_text("alice's browser secret")
        cookie = next(c for c in alice.cookies() if c["name"] == COOKIE)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        assert cookie["value"] != next(c for c in bob.cookies() if c["name"] == COOKIE)["value"]
    finally:
        alice.close()
        bob.close()


def test_inside_a_cross_site_iframe_as_on_a_space_page_the_identity_holds(
    browser: Browser, fake_tgi_server: FakeTgi, tmp_path: Path, launch: Launch
) -> None:
    """The browser keeps the session cookie of an app framed by another site and sends it back on the app's own
    requests, so the framed page stays one user (with SameSite=Lax it would not: every call a new user)."""
    host_port = free_port()
    framed = launch(
        make_settings(
            tmp_path,
            tgi_url=fake_tgi_server.url,
            session_cookie_cross_site=True,
            allowed_frame_ancestors=f"http://localhost:{host_port}",  # as https://huggingface.co is on a Space
            info_ttl_s=0,
        )
    )
    # The host page on one site (localhost), the app on another (127.0.0.1): a third-party iframe.
    host = HTTPServer(("127.0.0.1", host_port), _host_page(framed.url))
    threading.Thread(target=host.serve_forever, daemon=True).start()
    context = browser.new_context()
    minted: list[str] = []
    sent: list[str] = []
    try:
        page = context.new_page()

        def on_response(response: Response) -> None:
            value = response.header_value("set-cookie") if framed.url in response.url else None
            if value:
                minted.append(value)

        def on_request(request: Request) -> None:
            if framed.url in request.url:
                sent.append(request.header_value("cookie") or "")

        page.on("response", on_response)
        page.on("request", on_request)
        # The framed page's own requests after its document: scripts, theme, then the queue's heartbeat.
        with page.expect_request(lambda r: "/gradio_api/heartbeat/" in r.url, timeout=20_000):
            page.goto(f"http://localhost:{host.server_port}/")
        assert len(minted) == 1 and "SameSite=None; Secure; Partitioned" in minted[0], minted
        value = minted[0].split(";")[0]
        assert len(sent) >= 3 and sent[0] == "" and all(value in cookies for cookies in sent[1:]), sent
        # Such a cookie would ride along on another site's requests: browser calls from other origins are refused.
        cookie = {COOKIE: value.split("=", 1)[1]}
        evil = httpx.get(f"{framed.url}/config", cookies=cookie, headers={"origin": "https://evil.example"})
        assert evil.status_code == 403
        space_page = httpx.get(f"{framed.url}/config", cookies=cookie, headers={"origin": "https://huggingface.co"})
        assert space_page.status_code == 200
        assert httpx.get(f"{framed.url}/config", cookies=cookie).status_code == 200  # scripts and gradio_client
    finally:
        context.close()
        host.shutdown()


def _host_page(app_url: str) -> type[BaseHTTPRequestHandler]:
    class Host(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = f'<iframe id="space" src="{app_url}/" width="1000" height="700"></iframe>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Host
