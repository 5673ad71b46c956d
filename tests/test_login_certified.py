"""Login against panva's oidc-provider (tests.support.oidc_provider), a certified implementation, with
REQUIRE_LOGIN: names and emails from userinfo, ADMIN_USERS matched only on what the provider vouches for,
RP-initiated logout that ends the provider's session too, and a login flow cookie that does not show its secrets.

The provider is a real node process; the app is launched on a port chosen first, so its callback and signed-out
URLs can be registered with the provider exactly, as an operator registers them.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, expect

from access.login import user_id_of
from access.sessions import COOKIE, Sessions
from storage.schema import User
from tests.support.apps import RunningApp, launched_app
from tests.support.config import make_settings
from tests.support.fake_tgi import FakeTgi, free_port
from tests.support.oidc_provider import OidcProvider, sign_in, sign_out

pytestmark = pytest.mark.process  # node runs the provider

SECRET = "c" * 40
ALICE, MALLORY, BOB = ("id-4711", "alice-pw"), ("id-4712", "mallory-pw"), ("id-4713", "bob-pw")
# alice by her subject; alice's email and username (which mallory also shows, unverified); bob by verified email
ADMINS = "id-4711, alice, alice@example.com, bob@example.com"


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def provider(port: int) -> Iterator[OidcProvider]:
    base = f"http://127.0.0.1:{port}"
    with OidcProvider(redirect_uris=[f"{base}/auth/callback"], post_logout_redirect_uris=[f"{base}/signed-out"]) as op:
        yield op


@pytest.fixture(scope="module")
def running(
    fake_tgi_server: FakeTgi, provider: OidcProvider, port: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    settings = make_settings(
        tmp_path_factory.mktemp("certified"),
        tgi_url=fake_tgi_server.url,
        auth_mode="oidc",
        require_login=True,
        session_secret=SECRET,
        openid_provider_url=provider.issuer,
        oauth_client_id=provider.client_id,
        oauth_client_secret=provider.client_secret,
        admin_users=ADMINS,
        info_ttl_s=0,
    )
    with launched_app(settings, port=port) as running:  # the port the provider was registered with
        yield running


def log_in(app: RunningApp, account: tuple[str, str], browser: httpx.Client | None = None) -> httpx.Client:
    """``/login`` → the provider's login and consent forms → ``/auth/callback``, in one cookie jar (a browser)."""
    client = browser or httpx.Client(base_url=app.url)
    to_provider = client.get("/login")
    assert to_provider.status_code == 302, to_provider.text
    callback = sign_in(client, to_provider.headers["location"], *account, stop_at=app.url)
    back = client.get(callback)
    assert back.status_code == 302 and back.headers["location"] == "/", (back.status_code, back.text[:300])
    return client


def session_of(client: httpx.Client) -> Any:
    session = Sessions(SECRET, idle_s=3600, max_age_s=86400).decode(client.cookies[COOKIE])
    assert session is not None
    return session


def test_names_and_emails_come_from_userinfo_when_the_id_token_has_only_the_subject(
    running: RunningApp, provider: OidcProvider
) -> None:
    alice = log_in(running, ALICE)
    assert session_of(alice).display_name == "Alice Example"
    [user] = running.rows(User, id=user_id_of(provider.issuer, "id-4711"))
    assert (user.subject, user.display_name, user.is_admin) == ("id-4711", "Alice Example", True)
    assert alice.get("/config").status_code == 200


def test_admin_users_trust_the_subject_and_verified_emails_not_unverified_emails_or_generic_usernames(
    running: RunningApp, provider: OidcProvider
) -> None:
    mallory = log_in(running, MALLORY)  # alice's email (unverified) and alice's username, another subject
    assert session_of(mallory).display_name == "Mallory" and session_of(mallory).is_admin is False
    [user] = running.rows(User, id=user_id_of(provider.issuer, "id-4712"))
    assert user.is_admin is False
    bob = log_in(running, BOB)  # bob@example.com, verified by the provider
    assert session_of(bob).is_admin is True


def test_logout_ends_the_provider_session_too_and_lands_on_a_page_that_stays_put(
    running: RunningApp, provider: OidcProvider
) -> None:
    browser = log_in(running, ALICE)
    out = browser.get("/logout")
    assert out.status_code == 302 and f"{COOKIE}=;" in out.headers["set-cookie"]
    target = urlsplit(out.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{provider.issuer}/session/end"
    query = parse_qs(target.query)
    assert query["client_id"] == [provider.client_id]
    assert query["post_logout_redirect_uri"] == [f"{running.url}/signed-out"]
    landed = sign_out(browser, out.headers["location"])
    assert landed.startswith(f"{running.url}/signed-out")
    page = browser.get(landed)
    assert page.status_code == 200 and "location" not in page.headers
    assert "href='/login'" in page.text and "refresh" not in page.text.lower() and "<script" not in page.text
    assert browser.get("/config").status_code == 401
    # The provider forgot the login: the next authorization shows its password form again.
    authorize = browser.get("/login").headers["location"]
    form = browser.get(authorize, follow_redirects=True)
    assert 'name="password"' in form.text


def _decoded_parts(value: str) -> str:
    text = []
    for part in value.replace("%3D", "=").split("."):
        try:
            text.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("latin-1"))
        except (binascii.Error, ValueError):
            continue
    return " ".join(text)


def test_the_login_flow_cookie_does_not_show_the_pkce_verifier_or_nonce_and_a_forged_one_fails(
    running: RunningApp,
) -> None:
    client = httpx.Client(base_url=running.url)
    to_provider = client.get("/login")
    flow = client.cookies["chatlens_login"]
    assert flow and "code_verifier" not in _decoded_parts(flow) and "nonce" not in _decoded_parts(flow)
    set_cookie = next(v for v in to_provider.headers.get_list("set-cookie") if v.startswith("chatlens_login="))
    assert "HttpOnly" in set_cookie
    callback = sign_in(client, to_provider.headers["location"], *BOB, stop_at=running.url)
    flipped = flow[:-3] + ("A" if flow[-3] != "A" else "B") + flow[-2:]
    client.cookies.set("chatlens_login", flipped)
    forged = client.get(callback)
    assert forged.status_code == 400 and COOKIE not in forged.cookies


def test_chromium_logs_in_logs_out_at_the_provider_and_must_give_the_password_again(
    browser: Browser, running: RunningApp
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()

        def enter_password() -> None:
            expect(page.locator("h1")).to_have_text("Sign-in", timeout=15_000)
            page.fill("input[name=login]", ALICE[0])
            page.fill("input[name=password]", ALICE[1])
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Authorize")  # consent: asked again after a logout too
            page.click("text=Continue")

        page.goto(running.url)
        enter_password()
        expect(page.locator("#cl-header")).to_contain_text("fake-org/", timeout=15_000)
        page.locator("#cl-panels .toggle-button").click()
        page.locator("#cl-tab-account-button").click()
        expect(page.locator("#cl-account")).to_contain_text("Signed in as Alice Example")
        page.locator("#cl-account a[href='/logout']").click()
        expect(page.locator("h1")).to_have_text("Sign out?", timeout=15_000)
        page.click("button[name=logout][value=yes]")
        page.wait_for_url(f"{running.url}/signed-out*")
        expect(page.get_by_role("link", name="Log in again")).to_be_visible()
        time.sleep(1.0)  # a page that redirected on its own would have left by now
        assert urlsplit(page.url).path == "/signed-out"
        assert [c for c in context.cookies() if c["name"] == COOKIE] == []
        page.goto(running.url)  # REQUIRE_LOGIN: to /login, to the provider, which asks for the password again
        enter_password()
        expect(page.locator("#cl-header")).to_contain_text("fake-org/", timeout=15_000)
    finally:
        context.close()
