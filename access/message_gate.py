"""The gate every message passes before it is sent: the caller's per-user and per-IP rate limits.

The address is the one uvicorn reports (behind a proxy: the forwarded one, when the proxy is trusted through
``TRUSTED_PROXIES``, uvicorn's ``FORWARDED_ALLOW_IPS``), never a header the caller could set.

A per-address limit behind an untrusted proxy would count the whole site as one visitor; ``SharedAddressWatch``
says so in the log (once a minute at most) when every message of the last minute came from one address and more
than ``SHARED_ADDRESS_USERS`` users.
"""

from __future__ import annotations

import collections
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from access.identity import Identities
from access.rate_limits import RateLimits


def client_ip(request: Any) -> str:
    client = getattr(request, "client", None) if request is not None else None
    return str(getattr(client, "host", "") or "unknown")


log = logging.getLogger(__name__)

SHARED_ADDRESS_USERS = 5
WINDOW_S = 60.0


class SharedAddressWatch:
    """Messages of the last minute by address and by user, to notice a whole site behind one address."""

    def __init__(self, *, users: int = SHARED_ADDRESS_USERS, clock: Callable[[], float] = time.monotonic) -> None:
        self._users = users
        self._clock = clock
        self._recent: collections.deque[tuple[float, str, uuid.UUID]] = collections.deque()
        self._by_ip: collections.Counter[str] = collections.Counter()
        self._by_user: collections.Counter[uuid.UUID] = collections.Counter()
        self._warned_at: float | None = None

    def saw(self, user_id: uuid.UUID, ip: str) -> None:
        now = self._clock()
        self._recent.append((now, ip, user_id))
        self._by_ip[ip] += 1
        self._by_user[user_id] += 1
        while self._recent and self._recent[0][0] < now - WINDOW_S:
            _, old_ip, old_user = self._recent.popleft()
            _forget(self._by_ip, old_ip)
            _forget(self._by_user, old_user)
        if len(self._by_ip) != 1 or len(self._by_user) <= self._users:
            return
        if self._warned_at is not None and now - self._warned_at < WINDOW_S:
            return
        self._warned_at = now
        log.warning(
            "every message of the last minute came from one address (%s) but %d users: ChatLens is probably "
            "behind a proxy it does not trust, so the per-address rate limit counts everyone together. Set "
            "TRUSTED_PROXIES to the proxy's address (docs/deploy.md#behind-a-proxy)",
            ip,
            len(self._by_user),
        )


def _forget(counter: collections.Counter[Any], key: Any) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


class MessageGate:
    def __init__(self, limits: RateLimits, identities: Identities) -> None:
        self._limits = limits
        self._identities = identities
        self.watch = SharedAddressWatch()

    async def admit(self, request: Any) -> None:
        """Count one message, or raise ``RateLimited`` ("slow down, try again in N s")."""
        user_id, ip = self._identities.of(request).user_id, client_ip(request)
        self.watch.saw(user_id, ip)
        await self._limits.admit(user_id, ip)
