"""Security headers on every response, as a pure ASGI middleware (outermost of ChatLens's own, so refusals get them).

* ``Content-Security-Policy`` (``policy``): measured on ChatLens's own page in Chromium (docs/security.md): with it
  the page sends a message, streams the reply and opens the analytics tab with zero violations. Gradio's page
  (``/``) gets a fresh nonce on each of its ``<script`` tags and a ``<meta property="csp-nonce">`` (read by Vite's
  module preloader); with ``'strict-dynamic'`` what those scripts load or insert (``launch(head=…)`` scripts, lazy
  chunks) runs, and injected markup (``<img onerror=…>``) does not. ``'unsafe-eval'`` stays because Gradio needs
  it: it compiles every event ``js=`` and every gr.HTML template with ``new Function`` (without it the page stays
  at "Loading…"). ``form-action 'self'``: no form on the page posts to another origin.
* ``frame-ancestors``: the app itself, plus on a Space ``https://huggingface.co``, plus ``ALLOWED_FRAME_ANCESTORS``.
* ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin`` everywhere.

The nonce is added by text replacement, so only on Gradio's page, whose every ``<script`` is the app's own: Gradio
escapes ``<`` inside its JSON config (``\\u003cscript``), so user content there cannot gain a nonce. Other HTML
(error pages) gets the policy without a nonce: no script runs there at all; a response that sets its own policy
(the share page's, stricter) keeps it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PAGE_PATHS = frozenset({"/", ""})


def policy(nonce: str | None, frame_ancestors: Iterable[str] = ("'self'",)) -> str:
    scripts = f"'nonce-{nonce}' 'strict-dynamic' 'unsafe-eval'" if nonce else "'none'"
    return "; ".join([
        "default-src 'none'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",  # Svelte style="" attributes, launch(css=…), the head's <style>
        "img-src 'self' data:",  # Gradio's data:image/svg+xml icons (the radio dot of the conversation list)
        "font-src 'self'",  # the theme's LocalFont files
        "connect-src 'self'",  # queue/join, the SSE stream, heartbeat, upload
        "manifest-src 'self'",
        "base-uri 'self'",
        "form-action 'self'",  # Chromium applies it to where a form POST redirects too: /logout stays a GET link
        "object-src 'none'",
        f"frame-ancestors {' '.join(frame_ancestors)}",
    ])  # fmt: skip


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, frame_ancestors: Iterable[str] = ("'self'",)) -> None:
        self.app = app
        self.frame_ancestors = tuple(frame_ancestors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        page = (path[len(root) :] if root and path.startswith(root) else path) in PAGE_PATHS
        nonce = secrets.token_urlsafe(18) if page else None
        extra = [
            (b"content-security-policy", policy(nonce, self.frame_ancestors).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]
        held: dict[str, Any] = {}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}  # a route's own, stricter policy (share pages) stays
                message = {**message, "headers": [*headers, *(item for item in extra if item[0] not in present)]}
                html = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
                if nonce is not None and html:
                    held["start"], held["body"] = message, b""  # buffered: the body changes length
                    return
            elif message["type"] == "http.response.body" and "start" in held:
                held["body"] += message.get("body", b"")
                if message.get("more_body"):
                    return
                body = held["body"].replace(b"<script", f'<script nonce="{nonce}"'.encode())
                body = body.replace(b"<head>", f'<head><meta property="csp-nonce" nonce="{nonce}">'.encode(), 1)
                start = held.pop("start")
                start["headers"] = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                start["headers"].append((b"content-length", str(len(body)).encode()))
                await send(start)
                message = {"type": "http.response.body", "body": body, "more_body": False}
            await send(message)

        await self.app(scope, receive, sending)
