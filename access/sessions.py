"""Signed session cookies: who a browser (or API client keeping cookies) is, without server-side session storage.

A cookie value is ``base64url(json payload) "." base64url(HMAC-SHA256)``; the key is derived from the session
secret and the cookie's purpose, so a value signed for one purpose (the login flow's state) never verifies as
another (a session). The login flow's cookie is sealed instead (``Sealer``, AES-GCM): it carries secrets. Invariants:

* A session names one user id. Anonymous sessions are minted on a browser's first request and live long
  (``ANONYMOUS_LIFETIME_S``); login sessions carry the account's display name and admin flag as checked at login,
  expire after ``idle_s`` without activity and ``max_age_s`` after login, whatever the activity.
* Activity renews a session (a new ``seen`` time) at most once per ``renew_every_s``, so a stream of requests does
  not mint a cookie per request.
* Nothing here trusts an unsigned or expired value: ``decode`` returns None and the caller treats it as absent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE = "chatlens_session"
ANONYMOUS_LIFETIME_S = 400 * 86400  # browsers cap cookie lifetimes at 400 days


@dataclass(frozen=True, slots=True)
class Session:
    user_id: uuid.UUID
    kind: str  # "anonymous" | "login"
    display_name: str
    is_admin: bool
    issued_at: float
    seen_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "u": str(self.user_id),
            "k": self.kind,
            "n": self.display_name,
            "a": self.is_admin,
            "i": int(self.issued_at),
            "s": int(self.seen_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        return cls(uuid.UUID(data["u"]), str(data["k"]), str(data["n"]), bool(data["a"]), data["i"], data["s"])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 over JSON, one derived key per purpose."""

    def __init__(self, secret: str, purpose: str) -> None:
        self._key = hashlib.sha256(f"chatlens:{purpose}:{secret}".encode()).digest()

    def sign(self, data: dict[str, Any]) -> str:
        body = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{body}.{_b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())}"

    def verify(self, value: str | None) -> dict[str, Any] | None:
        if not value or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        expected = _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


class Sealer:
    """AES-256-GCM over JSON, one key per purpose (HKDF-SHA256 from the secret): a cookie the browser keeps but
    cannot read or alter, for values that are secrets (the login flow's PKCE verifier and nonce). ``open`` returns
    None for anything not sealed by this key for this purpose, or past ``max_age_s``."""

    def __init__(self, secret: str, purpose: str, *, max_age_s: float) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"chatlens:{purpose}".encode())
        self._aead = AESGCM(key.derive(secret.encode()))
        self._purpose = purpose.encode()
        self._max_age_s = max_age_s

    def seal(self, data: dict[str, Any], now: float | None = None) -> str:
        payload = json.dumps({"t": int(time.time() if now is None else now), "d": data}, separators=(",", ":"))
        nonce = secrets.token_bytes(12)
        return _b64(nonce + self._aead.encrypt(nonce, payload.encode(), self._purpose))

    def open(self, value: str | None, now: float | None = None) -> dict[str, Any] | None:
        if not value:
            return None
        try:
            raw = _unb64(value)
            found = json.loads(self._aead.decrypt(raw[:12], raw[12:], self._purpose))
        except (InvalidTag, ValueError):
            return None
        now = time.time() if now is None else now
        if not isinstance(found, dict) or not isinstance(found.get("d"), dict):
            return None
        return found["d"] if now - float(found.get("t", 0)) <= self._max_age_s else None


class Sessions:
    """Mints, checks and renews session cookies."""

    def __init__(
        self, secret: str, *, idle_s: float, max_age_s: float, renew_every_s: float = 60.0, cross_site: bool = False
    ) -> None:
        self._signer = Signer(secret, "session")
        self.secret = secret
        self.cross_site = cross_site
        self.idle_s = idle_s
        self.max_age_s = max_age_s
        self.renew_every_s = min(renew_every_s, idle_s / 4)

    def anonymous(self, now: float | None = None) -> Session:
        now = int(time.time() if now is None else now)  # whole seconds: what the cookie carries
        return Session(uuid.uuid4(), "anonymous", "anonymous", False, now, now)

    def login(self, user_id: uuid.UUID, display_name: str, *, is_admin: bool, now: float | None = None) -> Session:
        now = int(time.time() if now is None else now)
        return Session(user_id, "login", display_name, is_admin, now, now)

    def encode(self, session: Session) -> str:
        return self._signer.sign(session.to_json())

    def decode(self, value: str | None, now: float | None = None) -> Session | None:
        """The session in ``value`` if it is genuine and neither idle nor past its lifetime."""
        session = self.genuine(value)
        return session if session is not None and not self.expired(session, now) else None

    def genuine(self, value: str | None) -> Session | None:
        """The session in ``value`` if its signature holds, live or not (to tell "expired" from "absent")."""
        data = self._signer.verify(value)
        if data is None:
            return None
        try:
            return Session.from_json(data)
        except (KeyError, ValueError, TypeError):
            return None

    def expired(self, session: Session, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return now - session.issued_at > self.lifetime_s(session) or now - session.seen_at > self.idle_limit_s(session)

    def lifetime_s(self, session: Session) -> float:
        return ANONYMOUS_LIFETIME_S if session.kind == "anonymous" else self.max_age_s

    def idle_limit_s(self, session: Session) -> float:
        return ANONYMOUS_LIFETIME_S if session.kind == "anonymous" else self.idle_s

    def renewed(self, session: Session, now: float | None = None) -> Session | None:
        """A copy with ``seen`` moved to now, when the last renewal is old enough to be worth a new cookie."""
        now = int(time.time() if now is None else now)
        return replace(session, seen_at=now) if now - session.seen_at >= self.renew_every_s else None

    def set_cookie(self, session: Session, *, secure: bool, now: float | None = None) -> str:
        """The ``Set-Cookie`` value: HttpOnly, SameSite=Lax, Secure behind HTTPS, until the session's end.

        ``cross_site`` (a Space, whose page frames the app from another site): SameSite=None; Secure; Partitioned,
        the only kind of cookie a browser keeps for a cross-site iframe."""
        now = time.time() if now is None else now
        max_age = max(0, int(session.issued_at + self.lifetime_s(session) - now))
        return cookie_header(COOKIE, self.encode(session), max_age=max_age, secure=secure, cross_site=self.cross_site)

    def clear_cookie(self, *, secure: bool) -> str:
        return cookie_header(COOKIE, "", max_age=0, secure=secure, cross_site=self.cross_site)


def cookie_header(name: str, value: str, *, max_age: int, secure: bool, cross_site: bool = False) -> str:
    parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly"]
    if cross_site:
        parts += ["SameSite=None", "Secure", "Partitioned"]
    else:
        parts += ["SameSite=Lax", *(["Secure"] if secure else [])]
    return "; ".join(parts)


def read_cookie(header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header (the last one wins, as a freshly injected one is last)."""
    found = None
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            found = value
    return found


def secret_from_file(path: Path) -> str:
    """A random secret kept in ``path`` (created with mode 0600 on first use), stable across restarts."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(32)
        try:
            # Created 0600 in one step: never readable by others, not even between creation and a chmod.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secret)
        return secret
