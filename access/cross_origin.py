"""Which origins may call the app from a browser, and CORS answers only for them.

``TrustedOrigins`` is the one list: the app's own origin (the request's scheme and host), ``PUBLIC_URL``,
``ALLOWED_ORIGINS`` and, with cross-site cookies (a Space), the Hugging Face page that frames the app. The gate
refuses the session cookie from any other origin (``access.gate``); ``CrossOriginPolicy`` makes the CORS answers
agree with it.

Gradio adds its own CORS middleware outside everything the app passes in, and it answers any ``Origin`` with
``Access-Control-Allow-Origin: <that origin>`` and ``Allow-Credentials: true`` whenever the Host is not localhost
(and every localhost origin when it is). ``CrossOriginPolicy`` sits outside it (``ui.app.outermost_on_launch``)
and takes every ``Access-Control-Allow-*`` header off the answers to an origin that is not trusted, preflights
included, so a browser never lets another origin's script read a response, with or without the user's cookie. A trusted
origin's answers keep Gradio's headers. Scripts that call with a bearer token from another origin's page need that
origin in ``ALLOWED_ORIGINS``; programs outside a browser do not use CORS at all.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SPACE_PAGE_ORIGIN = "https://huggingface.co"  # the page that frames a Space's app


class TrustedOrigins:
    def __init__(self, *, public_url: str | None, allowed_origins: Iterable[str], cross_site: bool) -> None:
        trusted = {origin.lower().rstrip("/") for origin in allowed_origins}
        if public_url:
            parts = urlsplit(public_url)
            trusted.add(f"{parts.scheme}://{parts.netloc}".lower())
        if cross_site:
            trusted.add(SPACE_PAGE_ORIGIN)
        self.fixed = frozenset(trusted)

    def trusts(self, origin: str, scope: Scope, headers: MutableMapping[str, str] | dict[str, str]) -> bool:
        """Whether ``origin`` is the request's own origin (its scheme and Host) or one of the fixed ones."""
        origin = origin.lower()
        if origin in self.fixed:
            return True
        scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
        host = headers.get("host", "").lower()
        return bool(host) and origin == f"{scheme}://{host}"


class CrossOriginPolicy:
    """A pure ASGI middleware: no ``Access-Control-Allow-*`` header in any answer to an untrusted ``Origin``."""

    def __init__(self, app: ASGIApp, *, origins: TrustedOrigins) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope.get("headers", [])}
        origin = headers.get("origin")
        if origin is None or self.origins.trusts(origin, scope, headers):
            await self.app(scope, receive, send)
            return

        async def send_without_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (key, value)
                    for key, value in message.get("headers", [])
                    if not key.lower().startswith(b"access-control-allow-")
                ]
            await send(message)

        await self.app(scope, receive, send_without_cors)
