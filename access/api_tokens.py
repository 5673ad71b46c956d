"""Personal API tokens: made, listed and revoked by their owner; looked up by their SHA-256 on every API call.

A token is ``chatlens_`` + 256 random bits, shown once; only its hash is stored, so a leaked database does not leak
usable tokens (256 bits need no slow hash). Writes go through the single writer; lookups read in the caller's
thread and are cached for ``cache_s`` (a revocation on this process drops the cache at once; other replicas see it
within ``cache_s``).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from errors import MessageRejected
from storage.schema import ApiToken, User, utcnow
from storage.store import Store
from storage.writer import WriteBehindRecorder

TOKEN_PREFIX = "chatlens_"
MAX_TOKENS_PER_USER = 20
MAX_NAME_CHARS = 60


@dataclass(frozen=True, slots=True)
class TokenOwner:
    user_id: uuid.UUID
    display_name: str
    token_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class TokenView:
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    def __init__(self, store: Store, recorder: WriteBehindRecorder, *, cache_s: float = 10.0) -> None:
        self._store = store
        self._recorder = recorder
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, TokenOwner | None]] = {}
        self._lock = threading.Lock()

    async def create(self, user_id: uuid.UUID, name: str) -> str:
        """A new token for ``user_id``; the returned value is the only time it exists in clear."""
        name = " ".join((name or "").split())[:MAX_NAME_CHARS] or "token"
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "name": name,
            "token_hash": token_hash(token),
            "prefix": token[: len(TOKEN_PREFIX) + 6],
            "created_at": utcnow(),
        }

        def insert(session: Session) -> None:
            active = session.scalar(
                select(func.count()).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            )
            if (active or 0) >= MAX_TOKENS_PER_USER:
                raise MessageRejected(f"You have {MAX_TOKENS_PER_USER} tokens already: revoke one first.")
            session.add(ApiToken(**row))

        await self._recorder.run(insert)
        return token

    def list(self, user_id: uuid.UUID) -> list[TokenView]:
        with self._store.sessions() as session:
            rows = session.execute(
                select(ApiToken.id, ApiToken.name, ApiToken.prefix, ApiToken.created_at)
                .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                .order_by(ApiToken.created_at.desc())
            )
            return [TokenView(*row) for row in rows]

    async def revoke(self, user_id: uuid.UUID, token_id: uuid.UUID) -> None:
        def revoke(session: Session) -> Any:
            return session.execute(
                update(ApiToken)
                .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            ).rowcount  # type: ignore[attr-defined]

        if not await self._recorder.run(revoke):
            raise MessageRejected("That token does not exist or is already revoked.")
        with self._lock:
            self._cache.clear()

    def owner_of(self, token: str) -> TokenOwner | None:
        """Who ``token`` belongs to, if it is live (cached for a few seconds)."""
        digest = token_hash(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self._cache_s:
            return hit[1]
        with self._store.sessions() as session:
            row = session.execute(
                select(ApiToken.user_id, User.display_name, ApiToken.id)
                .outerjoin(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
            ).first()
        owner = TokenOwner(row[0], row[1] or "API token", row[2]) if row is not None else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now, owner)
        return owner
