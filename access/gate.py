"""The gate in front of every route of the app: a pure ASGI middleware (no ``BaseHTTPMiddleware``: it breaks SSE).

For each HTTP request it decides who is calling (``Identities.from_headers``: bearer token or session cookie) and:

* anonymous mode — a caller without a valid session gets a new anonymous one: the cookie is added to the request
  as the app sees it (so the very first request already has its identity) and set on the response;
* ``REQUIRE_LOGIN`` — a caller without one never reaches Gradio: a browser asking for a page is redirected to
  ``/login?next=…``, anything else gets 401. Only ``OPEN_PATHS`` (health, login flow) answer everyone;
* a live session is renewed (new cookie) at most once a minute while it is used;
* a request carrying the session cookie from another origin's page (``Origin``, else ``Sec-Fetch-Site`` on unsafe
  methods) is refused (403) in every mode: only the app's own origin, ``PUBLIC_URL`` and ``ALLOWED_ORIGINS`` may
  call with it (with cross-site cookies, a Space, every request is checked, and the Space page may call too);
* a Gradio queue session (``session_hash``) serves only the identity that first used it (``access.queue_sessions``),
  ``/gradio_api/deep_link`` is refused, and a registered download only reaches its owner (``access.downloads``);
* a login session that has expired is refused like no session (401 / to ``/login``), even where anonymous use is
  allowed: the caller logs in again rather than silently becoming a new anonymous user.

Gradio's own ``auth_dependency`` leaves heartbeat, cancel, startup-events, theme.css and the static routes open;
this gate covers every path because it sits in front of the whole ASGI app.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import quote

from access.cross_origin import TrustedOrigins
from access.downloads import FILE_PREFIX, Downloads
from access.identity import Identities
from access.queue_sessions import (
    BODY_ROUTES,
    DEEP_LINK_PATH,
    SessionOwners,
    names_a_session,
    read_body,
    replaying,
    session_hash_in,
)
from access.sessions import COOKIE, read_cookie

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Open to everyone: the health check, metrics (aggregate numbers only), and the login flow itself.
OPEN_PATHS = frozenset({"/healthz", "/metrics", "/login", "/auth/callback", "/logout", "/signed-out"})
# Gradio's launch() calls this once, itself, to run start-up events; after that call it is closed like the rest.
STARTUP_PATH = "/gradio_api/startup-events"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


API_PREFIX = "/v1/"  # the OpenAI-style API (``web.openai_api``): its refusals are OpenAI-shaped
_API_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
              404: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error"}  # fmt: skip
_API_CODES = {401: "invalid_api_key", 403: "forbidden", 404: "not_found", 413: "request_too_large"}


def api_error(status: int, message: str, *, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error: ``{"error": {"message", "type", "param", "code"}}``; the type follows the status."""
    error_type = _API_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": error_type, "param": param, "code": code or _API_CODES.get(status)}}


def refusal_body(path: str, status: int, detail: str) -> bytes:
    """A refusal's JSON body: OpenAI-shaped under ``/v1/``, ``{"detail": …}`` (as FastAPI's) everywhere else."""
    if path.startswith(API_PREFIX):
        return json.dumps(api_error(status, detail)).encode()
    return json.dumps({"detail": detail}).encode()


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        found[name] = f"{found[name]}; {value}" if name == "cookie" and name in found else value
    return found


def is_https(scope: Scope, public_url: str | None) -> bool:
    return scope.get("scheme") in ("https", "wss") or bool(public_url and public_url.startswith("https://"))


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        identities: Identities,
        public_url: str | None = None,
        allowed_origins: Iterable[str] = (),
        session_owners: SessionOwners | None = None,
        downloads: Downloads | None = None,
        max_body_bytes: int = 256 * 1024,
    ) -> None:
        self.app = app
        self.identities = identities
        self.public_url = public_url
        self.session_owners = session_owners if session_owners is not None else SessionOwners()
        self.downloads = downloads if downloads is not None else Downloads()
        self.max_body_bytes = max_body_bytes
        self._startup_pending = True
        self.origins = TrustedOrigins(
            public_url=public_url, allowed_origins=allowed_origins, cross_site=identities.sessions.cross_site
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _local_path(scope) if scope["type"] in ("http", "websocket") else ""
        if scope["type"] not in ("http", "websocket") or path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if path == STARTUP_PATH and self._startup_pending:
            self._startup_pending = False
            await self.app(scope, receive, send)
            return
        if path == DEEP_LINK_PATH:  # it hands out any session's component values; ChatLens makes no deep links
            await _refuse_with(scope, send, 404, "Not found.")
            return
        headers = _headers(scope)
        foreign = self._foreign_page(scope, headers)
        if foreign is not None:
            log.info("refused a request from another origin (%.100s) to %.100s", foreign, path)
            await _refuse_with(scope, send, 403, "Cross-origin request refused.")
            return
        sessions = self.identities.sessions
        if self.identities.claims_token(headers):  # a database lookup (cached): off the event loop
            identity = await asyncio.to_thread(self.identities.from_headers, headers)
        else:
            identity = self.identities.from_headers(headers)
        cookie: str | None = None
        secure = is_https(scope, self.public_url)
        if (
            identity is None
            and self.identities.anonymous_allowed
            and not self.identities.claims_token(headers)
            and not self.identities.login_expired(headers)
        ):
            fresh = sessions.anonymous()
            scope = _with_session_cookie(scope, headers, sessions.encode(fresh))
            cookie = sessions.set_cookie(fresh, secure=secure)
            who: str | None = None  # a throwaway identity until the caller sends its new cookie back
        elif identity is None:
            await _refuse(scope, send, headers)
            return
        else:
            who = str(identity.user_id)
            if identity.kind != "token":
                session = self.identities.session_of(headers)
                renewed = sessions.renewed(session) if session is not None else None
                if renewed is not None:
                    cookie = sessions.set_cookie(renewed, secure=secure)
        if path.startswith(FILE_PREFIX) and not self.downloads.may_fetch(path[len(FILE_PREFIX) :], who):
            log.info("refused a download to someone other than its owner")
            await _refuse_with(scope, send, 404, "Not found.")
            return
        if scope["type"] == "http" and names_a_session(path):
            body = None
            if path in BODY_ROUTES:
                read = await read_body(receive, self.max_body_bytes)
                if read is None:
                    await _refuse_with(
                        scope, send, 413, f"Request body too large: the limit is {self.max_body_bytes:,} bytes."
                    )
                    return
                body, messages = read
                receive = replaying(messages, receive)
            session_hash = session_hash_in(path, scope.get("query_string", b""), body)
            if session_hash is not None and not self.session_owners.claim(session_hash, who):
                log.info("refused a queue session (%.100s) to an identity that does not own it", path)
                await _refuse_with(scope, send, 403, "This queue session belongs to someone else.")
                return
        if cookie is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _adding_cookie(send, cookie))

    def _foreign_page(self, scope: Scope, headers: dict[str, str]) -> str | None:
        """Who sent a request carrying the user's session from another origin's page, or None when it did not.

        Gradio's CORS middleware answers any origin with credentials allowed (any localhost origin on localhost),
        and a SameSite=Lax cookie is still sent from a same-site page (another port, a sibling host): such a page
        could read the user's chats through the queue. So a request with the session cookie (or any request with
        cross-site cookies, a Space) is refused when its ``Origin`` is not the app's own (the request's scheme and
        host, ``PUBLIC_URL``) or in ``ALLOWED_ORIGINS``; without ``Origin``, an unsafe method is refused when
        ``Sec-Fetch-Site`` says another site or origin sent it. Bearer-token callers carry no cookie of ours."""
        if self.identities.claims_token(headers):
            return None
        if not self.identities.sessions.cross_site and read_cookie(headers.get("cookie", ""), COOKIE) is None:
            return None
        origin = headers.get("origin")
        if origin is not None:
            return None if self.origins.trusts(origin, scope, headers) else origin
        site = headers.get("sec-fetch-site")
        if scope.get("method", "GET") not in SAFE_METHODS and site not in (None, "same-origin", "none"):
            return f"Sec-Fetch-Site: {site}"
        return None


def _local_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _with_session_cookie(scope: Scope, headers: dict[str, str], value: str) -> Scope:
    cookie = f"{headers['cookie']}; {COOKIE}={value}" if headers.get("cookie") else f"{COOKIE}={value}"
    raw = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"cookie"]
    return {**scope, "headers": [*raw, (b"cookie", cookie.encode("latin-1"))]}


def _adding_cookie(send: Send, cookie: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
        await send(message)

    return wrapped


async def _refuse(scope: Scope, send: Send, headers: dict[str, str]) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4401})
        return
    wants_page = scope.get("method") == "GET" and "text/html" in headers.get("accept", "")
    if wants_page:
        target = _local_path(scope) + (
            f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
        )
        location = f"{scope.get('root_path', '')}/login?next={quote(target, safe='')}"
        await _respond(send, 302, b"", [(b"location", location.encode("latin-1"))])
        return
    body = refusal_body(
        _local_path(scope), 401, "Not logged in. Log in at /login, or send Authorization: Bearer <token>."
    )
    await _respond(send, 401, body, [(b"content-type", b"application/json")])


async def _refuse_with(scope: Scope, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4000 + status})
        return
    body = refusal_body(_local_path(scope), status, detail)
    await _respond(send, status, body, [(b"content-type", b"application/json")])


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    extra = [(b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})
