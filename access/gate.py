"""The gate in front of every route of the app: a pure ASGI middleware (no ``BaseHTTPMiddleware``: it breaks SSE).

For each HTTP request it decides who is calling (``Identities.from_headers``: bearer token or session cookie) and:

* anonymous mode — a caller without a valid session gets a new anonymous one: the cookie is added to the request
  as the app sees it (so the very first request already has its identity) and set on the response;
* ``REQUIRE_LOGIN`` — a caller without one never reaches Gradio: a browser asking for a page is redirected to
  ``/login?next=…``, anything else gets 401. Only ``OPEN_PATHS`` (health, login flow) answer everyone;
* a live session is renewed (new cookie) at most once a minute while it is used;
* with cross-site cookies (a Space), a browser request from another site's page (``Origin``) is refused (403);
* a login session that has expired is refused like no session (401 / to ``/login``), even where anonymous use is
  allowed: the caller logs in again rather than silently becoming a new anonymous user.

Gradio's own ``auth_dependency`` leaves heartbeat, cancel, startup-events, theme.css and the static routes open;
this gate covers every path because it sits in front of the whole ASGI app.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, urlsplit

from access.identity import Identities
from access.sessions import COOKIE

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Open to everyone: the health check, metrics (aggregate numbers only), and the login flow itself.
OPEN_PATHS = frozenset({"/healthz", "/metrics", "/login", "/auth/callback", "/logout", "/signed-out"})
SPACE_PAGE_ORIGIN = "https://huggingface.co"  # the page that frames a Space's app
# Gradio's launch() calls this once, itself, to run start-up events; after that call it is closed like the rest.
STARTUP_PATH = "/gradio_api/startup-events"


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        found[name] = f"{found[name]}; {value}" if name == "cookie" and name in found else value
    return found


def is_https(scope: Scope, public_url: str | None) -> bool:
    return scope.get("scheme") in ("https", "wss") or bool(public_url and public_url.startswith("https://"))


class Guard:
    def __init__(self, app: ASGIApp, *, identities: Identities, public_url: str | None = None) -> None:
        self.app = app
        self.identities = identities
        self.public_url = public_url
        self._startup_pending = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _local_path(scope) if scope["type"] in ("http", "websocket") else ""
        if scope["type"] not in ("http", "websocket") or path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if path == STARTUP_PATH and self._startup_pending:
            self._startup_pending = False
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        if self.identities.sessions.cross_site and not self._origin_allowed(headers):
            log.info("refused a cross-site request from %.100s to %.100s", headers.get("origin"), path)
            await _respond(
                send, 403, b'{"detail": "Cross-site request refused."}', [(b"content-type", b"application/json")]
            )
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
        elif identity is None:
            await _refuse(scope, send, headers)
            return
        elif identity.kind != "token":
            session = self.identities.session_of(headers)
            renewed = sessions.renewed(session) if session is not None else None
            if renewed is not None:
                cookie = sessions.set_cookie(renewed, secure=secure)
        if cookie is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _adding_cookie(send, cookie))

    def _origin_allowed(self, headers: dict[str, str]) -> bool:
        """With cross-site cookies (a Space), the browser would send the session on another site's requests, and
        Gradio's CORS answers any origin with credentials allowed: only the app's own origin, the Space page
        (huggingface.co) and PUBLIC_URL may call. Requests without ``Origin`` (not from a browser script) pass."""
        origin = headers.get("origin")
        if origin is None:
            return True
        host = urlsplit(origin).netloc
        return host == headers.get("host") or origin in self._trusted_origins

    @property
    def _trusted_origins(self) -> set[str]:
        trusted = {SPACE_PAGE_ORIGIN}
        if self.public_url:
            parts = urlsplit(self.public_url)
            trusted.add(f"{parts.scheme}://{parts.netloc}")
        return trusted


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
    body = json.dumps({"detail": "Not logged in. Log in at /login, or send Authorization: Bearer <token>."})
    await _respond(send, 401, body.encode(), [(b"content-type", b"application/json")])


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    extra = [(b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})
