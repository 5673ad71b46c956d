"""Gradio queue sessions bound to the identity that first used them, so one user cannot read another's stream.

Gradio names a browser tab's event stream by a ``session_hash`` the page makes itself, and serves whoever names it:
user B, with B's own cookie, opening ``/gradio_api/queue/data?session_hash=<A's>`` received A's streamed reply
(measured, issue 15). The gate (``access.gate``) reads the hash from every route that names one (gradio 6
``routes.py``) and asks ``SessionOwners.claim``: the first identity to use a hash owns it, any other is refused.

| route | the hash is in |
|---|---|
| ``POST /gradio_api/queue/join``, ``POST /gradio_api/cancel`` | the JSON body (buffered by the gate and replayed) |
| ``GET /gradio_api/queue/data`` | the query (``?session_hash=``) |
| ``GET /gradio_api/heartbeat/<hash>``, ``GET /gradio_api/stream/<hash>/…`` | the path |

``/gradio_api/deep_link?session_hash=`` saved any session's component values under a link that then rendered them
(B's page held A's last message): ChatLens uses no deep links, so the gate refuses that route outright.

The map lives in this process (Gradio's queue is per process too: a replica set needs sticky sessions anyway), is
bounded (least recently used first out) and forgets a hash unused for ``ttl_s``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

PREFIX = "/gradio_api"
DEEP_LINK_PATH = f"{PREFIX}/deep_link"
BODY_ROUTES = frozenset({f"{PREFIX}/queue/join", f"{PREFIX}/cancel"})
QUERY_ROUTES = frozenset({f"{PREFIX}/queue/data"})
PATH_ROUTE = re.compile(rf"^{PREFIX}/(?:heartbeat|stream)/([^/]+)")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]


def names_a_session(path: str) -> bool:
    return path in BODY_ROUTES or path in QUERY_ROUTES or PATH_ROUTE.match(path) is not None


def session_hash_in(path: str, query_string: bytes, body: bytes | None) -> str | None:
    """The session_hash a Gradio request names, if any (``body`` is read only for the body routes)."""
    if path in QUERY_ROUTES:
        values = parse_qs(query_string.decode("latin-1")).get("session_hash")
        return values[0] if values else None
    if match := PATH_ROUTE.match(path):
        return match.group(1)
    if path in BODY_ROUTES and body:
        try:
            value = json.loads(body).get("session_hash")
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None
    return None


async def read_body(receive: Receive, limit: int) -> tuple[bytes, list[Message]] | None:
    """The whole request body (None past ``limit`` bytes) and the messages to replay to the app."""
    messages: list[Message] = []
    body = b""
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return body, messages
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body"):
            return body, messages


def replaying(messages: list[Message], receive: Receive) -> Receive:
    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


class SessionOwners:
    """session_hash → the identity (a user id) that first used it; bounded, and expiring when unused."""

    def __init__(self, *, max_entries: int = 200_000, ttl_s: float = 86_400.0) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._owners: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, session_hash: str, who: str | None, now: float | None = None) -> bool:
        """True when ``who`` may use ``session_hash``: it is theirs already, or nobody's (it becomes theirs).

        ``who`` is None for a caller with no identity of its own yet (no cookie, no token: each of its requests gets
        a throwaway one). Binding the hash to that would refuse the caller's own next request, so it may use a hash
        nobody owns, without owning it, and never one somebody owns."""
        now = time.monotonic() if now is None else now
        with self._lock:
            held = self._owners.get(session_hash)
            taken = held is not None and now - held[1] < self.ttl_s
            if who is None:
                return not taken
            if taken and held is not None and held[0] != who:
                return False
            self._owners[session_hash] = (who, now)
            self._owners.move_to_end(session_hash)
            while len(self._owners) > self.max_entries:
                self._owners.popitem(last=False)
            return True

    def __len__(self) -> int:
        return len(self._owners)
