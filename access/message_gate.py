"""The gate every message passes before it is sent: the caller's per-user and per-IP rate limits.

The address is the one uvicorn reports (behind a proxy: the forwarded one, when the proxy is trusted through
uvicorn's ``--forwarded-allow-ips``), never a header the caller could set.
"""

from __future__ import annotations

from typing import Any

from access.identity import Identities
from access.rate_limits import RateLimits


def client_ip(request: Any) -> str:
    client = getattr(request, "client", None) if request is not None else None
    return str(getattr(client, "host", "") or "unknown")


class MessageGate:
    def __init__(self, limits: RateLimits, identities: Identities) -> None:
        self._limits = limits
        self._identities = identities

    async def admit(self, request: Any) -> None:
        """Count one message, or raise ``RateLimited`` ("slow down, try again in N s")."""
        await self._limits.admit(self._identities.of(request).user_id, client_ip(request))
