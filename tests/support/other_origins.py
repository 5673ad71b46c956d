"""Another origin for browser security tests: a plain local web server, and an app launched for such tests.

A page on another port of this machine (or a sibling ``*.localhost`` host) is what a hostile page on the same site
looks like to the app; ``serving`` runs one with the handler a test gives, on a free port, for as long as needed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.apps import RunningApp, launched_app
from tests.support.config import make_settings


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing and answers GET with ``page()`` as HTML."""

    def page(self) -> str:
        return "<!doctype html><title>another page</title><p>another page</p>"

    def do_GET(self) -> None:
        body = self.page().encode()
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler] = QuietHandler) -> Iterator[int]:
    """Serve ``handler`` on 127.0.0.1 (and so on every ``*.localhost`` name Chromium maps there); yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def security_test_app(folder: Path, tgi_url: str, **overrides: Any) -> Iterator[tuple[RunningApp, Any]]:
    """The app as the security tests launch it: short timeouts, no /info cache, no automatic titles."""
    settings = make_settings(folder, tgi_url=tgi_url, request_timeout_s=5, info_ttl_s=0, auto_title=False, **overrides)
    with launched_app(settings) as running:
        yield running, running.demo
