"""OIDC login: ``/login`` → the provider → ``/auth/callback`` → a signed login session; ``/logout`` ends it here and
at the provider, then ``/signed-out``.

authlib's Starlette client does discovery (``/.well-known/openid-configuration``), PKCE (S256), ``state`` and
``nonce``, and checks the id_token (signature from the provider's JWKS, issuer, audience, expiry, nonce). The same
path serves Hugging Face Spaces (``hf_oauth: true`` injects ``OPENID_PROVIDER_URL``, ``OAUTH_CLIENT_ID``,
``OAUTH_CLIENT_SECRET``, ``OAUTH_SCOPES``). Invariants:

* The flow's state (PKCE verifier, nonce, state) lives in its own short-lived cookie (``chatlens_login``,
  10 minutes), sealed with AES-GCM so the browser can neither read nor alter it — a cookie, not server memory, so
  the callback may land on any replica; never in the session cookie, and cleared when the callback is done.
* After login the browser goes back only to a path of this site (``safe_next``); anything else goes to ``/``.
* The user is recorded in ``users`` (provider, subject, display name, admin flag) through the single writer before
  the session cookie is set; the user id is derived from issuer and subject, so it is the same on every replica.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from access.accounts import Account, record_account
from access.admins import admin_rule, usernames_unique
from access.gate import is_https
from access.identity import Identities
from access.sessions import COOKIE, Sealer, cookie_header
from settings import Settings
from storage.writer import WriteBehindRecorder

log = logging.getLogger(__name__)

FLOW_COOKIE = "chatlens_login"
FLOW_LIFETIME_S = 600
PROFILE_CLAIMS = frozenset({"name", "email", "preferred_username"})


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/`` (no scheme, host, ``//``, backslash or control char)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def user_id_of(issuer: str, subject: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"chatlens-user:{issuer.rstrip('/')}:{subject}")


def account_from_claims(
    claims: dict[str, Any], issuer: str, admins: frozenset[str], *, unique_usernames: bool = False
) -> Account:
    """The account the claims name; admin only by a rule of ``access.admins`` (subject, verified email, username
    where the provider keeps them unique)."""
    subject = str(claims["sub"])
    username = str(claims.get("preferred_username") or claims.get("nickname") or "")
    email = str(claims.get("email") or "")
    display = str(claims.get("name") or username or email or subject)
    rule = admin_rule(claims, issuer, admins, unique_usernames=unique_usernames)
    if rule is not None:
        log.info("login: %s is an admin by %s", subject, rule)
    return Account(
        user_id=user_id_of(issuer, subject),
        provider=(urlsplit(issuer).hostname or issuer)[:32],
        subject=subject,
        display_name=display[:200],
        is_admin=rule is not None,
    )


class LoginRoutes:
    def __init__(self, *, settings: Settings, identities: Identities, recorder: WriteBehindRecorder) -> None:
        self._settings = settings
        self._identities = identities
        self._recorder = recorder
        self._flow = Sealer(identities.sessions.secret, "login-flow", max_age_s=FLOW_LIFETIME_S)
        self._issuer = (settings.openid_provider_url or "").rstrip("/")
        oauth = OAuth()
        secret = settings.oauth_client_secret
        oauth.register(
            name="oidc",
            client_id=settings.oauth_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            server_metadata_url=f"{self._issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oauth_scopes, "code_challenge_method": "S256"},
        )
        self._client: Any = oauth.create_client("oidc")

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.login, methods=["GET"]),
            Route("/auth/callback", self.callback, methods=["GET"]),
            Route("/logout", self.logout, methods=["GET", "POST"]),
            Route("/signed-out", self.signed_out, methods=["GET"]),
        ]

    def _base(self, request: Request) -> str:
        return self._settings.public_url or str(request.base_url).rstrip("/")

    def _redirect_uri(self, request: Request) -> str:
        return f"{self._base(request)}/auth/callback"

    def _with_flow(self, request: Request) -> Request:
        """The request with ``session`` = the login flow's state (what authlib keeps between the two legs)."""
        scope = dict(request.scope)
        scope["session"] = self._flow.open(request.cookies.get(FLOW_COOKIE)) or {}
        return Request(scope, request.receive)

    def _flow_cookie(self, request: Request, state: dict[str, Any], max_age: int = FLOW_LIFETIME_S) -> str:
        value = self._flow.seal(state) if state else ""
        return cookie_header(FLOW_COOKIE, value, max_age=max_age if state else 0, secure=self._secure(request))

    def _secure(self, request: Request) -> bool:
        return is_https(request.scope, self._settings.public_url)

    async def login(self, request: Request) -> Response:
        flow = self._with_flow(request)
        try:
            response: Response = await self._client.authorize_redirect(flow, self._redirect_uri(request))
        except Exception as exc:  # the provider is down or its discovery document is wrong
            log.warning("login: cannot reach the OIDC provider at %s: %s", self._issuer, exc)
            return _page(503, "The login provider cannot be reached right now. Please try again in a moment.")
        flow.session["next"] = safe_next(request.query_params.get("next"))
        response.headers.append("set-cookie", self._flow_cookie(request, flow.session))
        response.headers["cache-control"] = "no-store"
        return response

    async def callback(self, request: Request) -> Response:
        flow = self._with_flow(request)
        target = safe_next(flow.session.get("next"))
        try:
            token = await self._client.authorize_access_token(flow)
            claims = token.get("userinfo")
            if not claims or not claims.get("sub"):
                raise OAuthError(description="the provider sent no id_token")
            claims = await self._with_userinfo(dict(claims), token)
        except Exception as exc:  # state, PKCE, signature, issuer, audience, nonce, expiry, provider errors
            log.warning("login failed: %s: %s", type(exc).__name__, exc)
            response = _page(400, "Login failed or expired. <a href='/login'>Log in again</a>.")
            response.headers.append("set-cookie", self._flow_cookie(request, {}))
            return response
        account = account_from_claims(
            claims,
            self._issuer,
            self._settings.admins,
            unique_usernames=usernames_unique(self._issuer, self._settings.oidc_usernames_unique),
        )
        await self._recorder.run(lambda session: record_account(session, account))
        sessions = self._identities.sessions
        session = sessions.login(account.user_id, account.display_name, is_admin=account.is_admin)
        response = RedirectResponse(target, status_code=302)
        response.headers.append("set-cookie", sessions.set_cookie(session, secure=self._secure(request)))
        response.headers.append("set-cookie", self._flow_cookie(request, {}))
        response.headers["cache-control"] = "no-store"
        log.info("login: user %s (%s)", account.user_id, account.provider)
        return response

    async def _with_userinfo(self, claims: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
        """The id_token's claims completed from the userinfo endpoint when they lack a profile claim.

        A conformant provider puts only ``sub`` in the id_token of a code flow (name, email, username come from
        userinfo); authlib's ``token["userinfo"]`` is just the parsed id_token. Userinfo must name the same subject
        (OIDC Core 5.3.2); where the id_token has an email, its ``email_verified`` (or none) goes with it."""
        if not PROFILE_CLAIMS - claims.keys():
            return claims
        metadata = await self._client.load_server_metadata()
        if not metadata.get("userinfo_endpoint"):
            return claims
        info = dict(await self._client.userinfo(token=token))
        if str(info.get("sub")) != str(claims["sub"]):
            raise OAuthError(description="userinfo names another subject than the id_token")
        merged = {**info, **claims}
        if "email" in claims and "email_verified" not in claims:
            merged.pop("email_verified", None)
        return merged

    async def logout(self, request: Request) -> Response:
        """End the session here, then at the provider (RP-initiated logout) when it advertises
        ``end_session_endpoint``: else its own session would log the browser straight back in. The provider is
        told who we are (``client_id``) and where to send the browser back (``/signed-out``, registered there as a
        post-logout redirect URI); no id_token is kept for ``id_token_hint``, so the session cookie stays small and
        holds no token. Without an endpoint (or a login session), the browser goes to ``/signed-out`` directly.

        Only the app's own page logs the user out: a request another page made (an ``<img src=…/logout>``, a form
        posted from elsewhere: ``Sec-Fetch-Site`` names another site or origin, or ``Origin`` is not the app's)
        gets a page asking to confirm, whose link is then the app's own."""
        if self._from_another_page(request):
            return _page(200, "Log out of ChatLens? <a href='/logout'>Log out</a> or <a href='/'>stay signed in</a>.")
        secure = self._secure(request)
        signed_out = f"{self._base(request)}/signed-out"
        target = "/signed-out"
        session = self._identities.sessions.genuine(request.cookies.get(COOKIE))
        if session is not None and session.kind == "login":
            try:
                end_session = (await self._client.load_server_metadata()).get("end_session_endpoint")
            except Exception as exc:  # the provider is down: at least this session ends
                log.warning("logout: cannot reach the OIDC provider at %s: %s", self._issuer, exc)
                end_session = None
            if end_session:
                query = urlencode({"client_id": self._settings.oauth_client_id, "post_logout_redirect_uri": signed_out})
                target = f"{end_session}{'&' if '?' in end_session else '?'}{query}"
        response = RedirectResponse(target, status_code=302)
        response.headers.append("set-cookie", self._identities.sessions.clear_cookie(secure=secure))
        response.headers["cache-control"] = "no-store"
        return response

    def _from_another_page(self, request: Request) -> bool:
        if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
            return True
        origin = request.headers.get("origin")
        own = {self._base(request).lower(), str(request.base_url).rstrip("/").lower()}
        return origin is not None and origin.lower() not in own

    async def signed_out(self, request: Request) -> Response:
        """Where logout ends: a page that stays put (no redirect to login, which would sign straight back in)."""
        stay = "" if self._settings.require_login else " or <a href='/'>go on without logging in</a>"
        return _page(200, f"You are signed out. <a href='/login'>Log in again</a>{stay}.")


def _page(status: int, message: str) -> Response:
    body = f"<!doctype html><title>ChatLens</title><p style='font-family:system-ui'>{message}</p>"
    return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})
