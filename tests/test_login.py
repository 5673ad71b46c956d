"""OIDC login against a real provider on loopback (tests.support.fake_oidc), with REQUIRE_LOGIN: the redirect flow
driven by an HTTP client and by Chromium, every Gradio route probed without a login, open-redirect attempts, sessions
that expire, and users recorded with their admin flag."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gradio_client import Client
from playwright.sync_api import Browser, expect

from access.login import safe_next, user_id_of
from access.sessions import COOKIE, Sessions
from storage.schema import Conversation, Generation, User
from tests.support.apps import RunningApp, launched_app
from tests.support.config import make_settings
from tests.support.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidc
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.openai_sdk import openai_client
from tests.support.processes import run_app_to_exit
from tests.support.rawqueue import call, fn_index

SECRET = "s" * 40


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOidc]:
    fake = FakeOidc().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def launched(
    fake_tgi_server: FakeTgi, provider: FakeOidc, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningApp, Any]]:
    settings = make_settings(
        tmp_path_factory.mktemp("login"),
        tgi_url=fake_tgi_server.url,
        auth_mode="oidc",
        require_login=True,
        session_secret=SECRET,
        openid_provider_url=provider.issuer,
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=CLIENT_SECRET,
        admin_users="Boss@Example.com, carol",
        session_idle_timeout_s=600,
        info_ttl_s=0,
    )
    with launched_app(settings) as running:
        yield running, running.demo


@pytest.fixture
def running(launched: tuple[RunningApp, Any], provider: FakeOidc) -> Iterator[RunningApp]:
    provider.user = {"sub": "alice-1", "preferred_username": "alice", "name": "Alice A."}
    provider.tamper = {}
    yield launched[0]


def log_in(app: RunningApp, next_path: str = "/") -> tuple[httpx.Client, httpx.Response]:
    """The whole redirect flow, each hop checked: app → provider → app callback → ``next``."""
    client = httpx.Client(base_url=app.url)
    to_provider = client.get("/login", params={"next": next_path})
    assert to_provider.status_code == 302, to_provider.text
    authorize = httpx.get(to_provider.headers["location"])
    assert authorize.status_code == 302, authorize.text
    back = client.get(authorize.headers["location"])
    return client, back


def test_login_flow_uses_pkce_state_and_nonce_and_records_the_user(running: RunningApp, provider: FakeOidc) -> None:
    client, back = log_in(running, "/?c=1234")
    assert back.status_code == 302 and back.headers["location"] == "/?c=1234"
    asked = provider.authorizations[-1]
    assert asked["code_challenge_method"] == "S256" and asked["state"] and asked["nonce"]
    assert provider.token_requests[-1]["code_verifier"]
    set_cookie = next(v for v in back.headers.get_list("set-cookie") if v.startswith(f"{COOKIE}="))
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert client.get("/config").status_code == 200

    alice = Client(running.url, verbose=False, httpx_kwargs={"cookies": dict(client.cookies)})
    cid = alice.predict(api_name="/new_conversation")
    alice.predict("hello as alice", cid, api_name="/chat")
    user_id = user_id_of(provider.issuer, "alice-1")
    [conversation] = running.rows(Conversation, id=uuid.UUID(cid))
    assert conversation.user_id == user_id
    [user] = running.rows(User, id=user_id)
    assert (user.auth_provider, user.subject, user.display_name, user.is_admin) == (
        "127.0.0.1",
        "alice-1",
        "Alice A.",
        False,
    )


BOSS = {"sub": "b-7", "preferred_username": "bob", "email": "boss@example.com", "email_verified": True, "name": "Bob"}


def test_admin_users_match_a_verified_email_not_a_username_on_a_generic_provider(
    running: RunningApp, provider: FakeOidc
) -> None:
    provider.user = BOSS
    log_in(running)
    [user] = running.rows(User, id=user_id_of(provider.issuer, "b-7"))
    assert user.is_admin
    provider.user = {"sub": "c-9", "preferred_username": "carol", "name": "Carol"}  # ADMIN_USERS lists "carol"
    log_in(running)
    [carol] = running.rows(User, id=user_id_of(provider.issuer, "c-9"))
    assert not carol.is_admin


@pytest.mark.parametrize(
    "target", ["//evil.com", "https://evil.com", "/\\evil.com", "/\\/evil.com", "///evil.com", "http:evil.com", ""]
)
def test_post_login_redirects_stay_on_this_site(running: RunningApp, target: str) -> None:
    _client, back = log_in(running, target)
    assert back.status_code == 302 and back.headers["location"] == "/"
    assert safe_next(target) == "/"


def test_a_wrong_state_or_nonce_logs_nobody_in(running: RunningApp, provider: FakeOidc) -> None:
    client = httpx.Client(base_url=running.url)
    to_provider = client.get("/login")
    callback = httpx.get(to_provider.headers["location"]).headers["location"]
    forged = client.get(callback.replace("state=", "state=x"))
    assert forged.status_code == 400 and COOKIE not in forged.cookies
    provider.tamper = {"nonce": "replayed"}
    _client, back = log_in(running)
    assert back.status_code == 400 and COOKIE not in back.cookies
    assert client.get("/config").status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        # What Chromium sends for an <img src=…/logout> on another port of the same host, and from another site.
        {"sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image"},
        {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document"},
        {"origin": "http://127.0.0.1:9"},  # a form posted from another page, by a browser without Sec-Fetch-*
    ],
    ids=["same-site-image", "cross-site-link", "foreign-form"],
)
def test_another_page_cannot_log_the_user_out(running: RunningApp, headers: dict[str, str]) -> None:
    client, _ = log_in(running)
    method = "POST" if "origin" in headers else "GET"
    asked = client.request(method, "/logout", headers=headers)
    assert asked.status_code == 200 and "set-cookie" not in asked.headers
    assert "Log out of ChatLens?" in asked.text and "href='/logout'" in asked.text
    assert client.get("/config").status_code == 200  # still signed in
    # The confirmation's own link is a same-origin navigation: that one logs out.
    out = client.get("/logout", headers={"sec-fetch-site": "same-origin", "sec-fetch-dest": "document"})
    assert out.status_code == 302 and f"{COOKIE}=;" in out.headers["set-cookie"]
    assert client.get("/config").status_code == 401


PROBES = [
    ("GET", "/"),
    ("GET", "/?c=1"),
    ("GET", "/config"),
    ("GET", "/gradio_api/info"),
    ("GET", "/gradio_api/openapi.json"),
    ("GET", "/gradio_api/queue/data?session_hash=x"),
    ("POST", "/gradio_api/queue/join"),
    ("POST", "/gradio_api/call/chat"),
    ("GET", "/gradio_api/call/chat/abc"),
    ("POST", "/gradio_api/run/chat"),
    ("POST", "/gradio_api/api/chat"),
    ("POST", "/gradio_api/upload"),
    ("GET", "/gradio_api/upload_progress?upload_id=x"),
    ("GET", "/gradio_api/heartbeat/x"),
    ("POST", "/gradio_api/cancel"),
    ("GET", "/gradio_api/startup-events"),
    ("GET", "/theme.css"),
    ("GET", "/gradio_api/file=/etc/passwd"),
    ("GET", "/favicon.ico"),
    ("GET", "/assets/index.js"),
    ("GET", "/static/img/logo.svg"),
    ("GET", "/gradio_api/user"),
    ("GET", "/gradio_api/login_check"),
    ("GET", "/manifest.json"),
    ("GET", "/gradio_api/mcp/schema"),
    ("GET", "/monitoring"),
    ("GET", "/share/abc"),  # share links are for people who may log in, under REQUIRE_LOGIN
]


@pytest.mark.parametrize(("method", "path"), PROBES)
def test_every_route_refuses_a_caller_who_is_not_logged_in(running: RunningApp, method: str, path: str) -> None:
    api = httpx.request(method, f"{running.url}{path}", json={} if method == "POST" else None)
    assert api.status_code == 401, (path, api.status_code, api.text[:200])
    assert "set-cookie" not in api.headers
    if method == "GET":
        page = httpx.get(f"{running.url}{path}", headers={"accept": "text/html"})
        assert page.status_code == 302 and page.headers["location"].startswith("/login?next=%2F"), page.headers
    anonymous = Sessions(SECRET, idle_s=600, max_age_s=3600).anonymous()  # a genuine anonymous cookie: not enough
    cookies = {COOKIE: Sessions(SECRET, idle_s=600, max_age_s=3600).encode(anonymous)}
    assert httpx.request(method, f"{running.url}{path}", cookies=cookies).status_code == 401


def test_health_stays_open(running: RunningApp) -> None:
    assert httpx.get(f"{running.url}/healthz").status_code == 200
    assert httpx.get(f"{running.url}/metrics").status_code == 200


def test_an_expired_or_idle_session_must_log_in_again(running: RunningApp) -> None:
    sessions = Sessions(SECRET, idle_s=600, max_age_s=7 * 86400)
    now = time.time()
    user = uuid.uuid4()
    idle = sessions.login(user, "x", is_admin=False, now=now - 3600)
    old = sessions.renewed(sessions.login(user, "x", is_admin=False, now=now - 8 * 86400), now=now - 10)
    assert old is not None
    for session in (idle, old):
        response = httpx.get(f"{running.url}/config", cookies={COOKIE: sessions.encode(session)})
        assert response.status_code == 401
    fresh = sessions.login(user, "x", is_admin=False, now=now - 120)
    renewed = httpx.get(f"{running.url}/config", cookies={COOKIE: sessions.encode(fresh)})
    assert renewed.status_code == 200
    new = sessions.decode(renewed.cookies[COOKIE])
    assert new is not None and new.seen_at > fresh.seen_at and new.issued_at == fresh.issued_at


def test_logout_ends_the_session(running: RunningApp) -> None:
    client, _ = log_in(running)
    assert client.get("/config").status_code == 200
    out = client.get("/logout")
    assert out.status_code == 302 and f"{COOKIE}=;" in out.headers["set-cookie"]
    assert client.get("/config").status_code == 401


def test_users_cannot_read_each_others_conversations(
    launched: tuple[RunningApp, Any], running: RunningApp, provider: FakeOidc
) -> None:
    _app, demo = launched
    alice_http, _ = log_in(running)
    alice = Client(running.url, verbose=False, httpx_kwargs={"cookies": dict(alice_http.cookies)})
    cid = alice.predict(api_name="/new_conversation")
    alice.predict("alice's logged-in secret", cid, api_name="/chat")
    provider.user = {"sub": "dave-2", "preferred_username": "dave"}
    dave, _ = log_in(running)
    loaded = call(dave, fn_index(demo, "on_load"), [], query=f"?c={cid}")
    assert loaded["success"] and loaded["output"]["data"][0] == [] and "secret" not in str(loaded)
    found = call(dave, fn_index(demo, "refresh_history"), ["secret", ""])
    assert found["output"]["data"][0]["choices"] == []


def test_chromium_logs_in_through_the_provider_and_chats(
    browser: Browser, running: RunningApp, provider: FakeOidc
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{running.url}/?c=00000000-0000-0000-0000-000000000000")
        expect(page.locator("#cl-header")).to_contain_text("fake-org/", timeout=15_000)
        # Back where the user started: the page saw ?c= (an unknown id here, so it says so and starts afresh).
        expect(page.get_by_text("That conversation was not found")).to_be_visible(timeout=10_000)
        assert page.url.startswith(running.url)
        box = page.locator("#cl-input textarea")
        box.fill("hello from a logged-in browser")
        box.press("Enter")
        expect(page.locator("#cl-chat")).to_contain_text("w3", timeout=10_000)
        cookie = next(c for c in context.cookies() if c["name"] == COOKIE)
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        out = context.request.get(f"{running.url}/logout", max_redirects=0)
        assert out.status == 302
        assert [c for c in context.cookies() if c["name"] == COOKIE] == []
        assert context.request.get(f"{running.url}/config", max_redirects=0).status == 401
    finally:
        context.close()


@pytest.mark.process
def test_login_mode_without_a_secret_refuses_to_start(provider: FakeOidc) -> None:
    env = {"AUTH_MODE": "oidc", "OPENID_PROVIDER_URL": provider.issuer, "OAUTH_CLIENT_ID": CLIENT_ID}
    result = run_app_to_exit({**env, "SESSION_SECRET": "", "TGI_URL": ""})
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("ChatLens cannot start: bad configuration") and "SESSION_SECRET" in lines[-1]


def test_a_token_works_under_require_login_but_cannot_mint_tokens(
    launched: tuple[RunningApp, Any], running: RunningApp, fake_tgi: FakeTgi
) -> None:
    _app, demo = launched
    session, _ = log_in(running)
    made = call(session, fn_index(demo, "create"), ["ci job"])
    token = made["output"]["data"][0]["value"]
    assert made["success"] and token.startswith("chatlens_")
    bearer = {"Authorization": f"Bearer {token}"}
    reply = Client(running.url, verbose=False, headers=bearer).predict("hi", api_name="/chat")
    assert reply == "".join(Behaviour().reply_tokens())
    with httpx.Client(base_url=running.url, headers=bearer) as api:
        refused = call(api, fn_index(demo, "create"), ["another"])
    assert not refused["success"] and "managed from the page" in str(refused["output"])


def test_the_openai_api_under_require_login_takes_a_token_only(
    launched: tuple[RunningApp, Any], running: RunningApp, provider: FakeOidc, fake_tgi: FakeTgi
) -> None:
    _app, demo = launched
    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
    nobody = httpx.post(f"{running.url}/v1/chat/completions", json=body, timeout=20)
    assert nobody.status_code == 401 and nobody.json()["error"]["code"] == "invalid_api_key"
    session, _ = log_in(running)
    by_cookie = session.post("/v1/chat/completions", json=body, timeout=20)
    assert by_cookie.status_code == 401, "a login session is not an API key"
    made = call(session, fn_index(demo, "create"), ["sdk"])
    session.close()
    token = made["output"]["data"][0]["value"]
    completion = openai_client(f"{running.url}/v1", token).chat.completions.create(**body)
    assert completion.choices[0].message.content == "".join(Behaviour().reply_tokens())
    generation = running.last(Generation)
    assert generation.source == "openai_api" and generation.user_id == user_id_of(provider.issuer, "alice-1")


def test_a_session_ending_while_the_page_is_open_logs_in_again_and_keeps_the_typed_text(
    browser: Browser, running: RunningApp
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(running.url)
        expect(page.locator("#cl-header")).to_contain_text("fake-org/", timeout=15_000)
        page.locator("#cl-panels .toggle-button").click()
        page.locator("#cl-tab-account-button").click()
        expect(page.locator("#cl-account")).to_contain_text("Signed in as Alice A.")
        page.locator("#cl-panels .toggle-button").click()
        box = page.locator("#cl-input textarea")
        box.fill("a long question typed while the session ran out")
        sessions = Sessions(SECRET, idle_s=600, max_age_s=7 * 86400)
        ended = sessions.login(user_id_of("x", "alice-1"), "Alice A.", is_admin=False, now=time.time() - 3600)
        context.add_cookies([{"name": COOKIE, "value": sessions.encode(ended), "url": running.url, "httpOnly": True}])
        with page.expect_response(lambda r: "/auth/callback" in r.url, timeout=15_000):
            box.press("Enter")  # the send gets 401: the page keeps the text, logs in again and comes back
        page.wait_for_load_state()
        expect(page.locator("#cl-header")).to_contain_text("fake-org/", timeout=15_000)
        expect(page.locator("#cl-input textarea")).to_have_value(
            "a long question typed while the session ran out", timeout=15_000
        )
        live = next(c for c in context.cookies() if c["name"] == COOKIE)
        assert sessions.decode(live["value"]) is not None  # a new, live session from the new login
    finally:
        context.close()


@pytest.fixture(scope="module")
def optional(
    fake_tgi_server: FakeTgi, provider: FakeOidc, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    """Login offered, not required: anonymous browsers get their own identity, as in anonymous mode."""
    settings = make_settings(
        tmp_path_factory.mktemp("optional"),
        tgi_url=fake_tgi_server.url,
        auth_mode="oidc",
        session_secret=SECRET,
        openid_provider_url=provider.issuer,
        oauth_client_id=CLIENT_ID,
        oauth_client_secret=CLIENT_SECRET,
        session_idle_timeout_s=600,
        info_ttl_s=0,
    )
    with launched_app(settings) as running:
        yield running


def test_with_login_optional_anonymous_browsers_work_and_an_ended_login_is_not_silently_anonymous(
    optional: RunningApp, provider: FakeOidc
) -> None:
    anonymous = httpx.get(f"{optional.url}/config")
    assert anonymous.status_code == 200 and COOKIE in anonymous.cookies
    client, back = log_in(optional)
    assert back.status_code == 302 and client.get("/config").status_code == 200
    sessions = Sessions(SECRET, idle_s=600, max_age_s=7 * 86400)
    ended = sessions.login(user_id_of(provider.issuer, "alice-1"), "Alice", is_admin=False, now=time.time() - 3600)
    expired = httpx.get(f"{optional.url}/config", cookies={COOKIE: sessions.encode(ended)})
    assert expired.status_code == 401 and "set-cookie" not in expired.headers
    page = httpx.get(f"{optional.url}/", cookies={COOKIE: sessions.encode(ended)}, headers={"accept": "text/html"})
    assert page.status_code == 302 and page.headers["location"].startswith("/login")


def _api_index(demo: Any, api_name: str) -> int:
    return next(i for i, f in demo.fns.items() if f.api_name == api_name)


def test_only_admin_users_reach_the_analytics_handlers_and_tokens_never_do(
    launched: tuple[RunningApp, Any], running: RunningApp, provider: FakeOidc
) -> None:
    _app, demo = launched
    visibility, sql = _api_index(demo, "analytics_visibility"), _api_index(demo, "analytics_sql")
    alice, _ = log_in(running)
    assert call(alice, visibility, [])["output"]["data"][0]["visible"] is False
    refused = call(alice, sql, ["SELECT count(*) FROM users"])
    assert not refused["success"] and "administrators" in str(refused["output"])

    provider.user = BOSS
    boss, _ = log_in(running)
    assert call(boss, visibility, [])["output"]["data"][0]["visible"] is True
    assert call(boss, sql, ["SELECT count(*) FROM users"])["success"]

    token = call(boss, fn_index(demo, "create"), ["boss script"])["output"]["data"][0]["value"]
    with httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {token}"}) as api:
        by_token = call(api, sql, ["SELECT count(*) FROM users"])
    assert not by_token["success"] and "administrators" in str(by_token["output"])
