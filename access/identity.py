"""Who is calling: every handler asks ``Identities.of(request)`` and passes the user id down to the store.

The identity comes from the request's own headers, checked again in the handler (not taken from the page): a signed
session cookie (``access.sessions``) — minted per browser in anonymous mode by the guard (``access.gate``), or made at
login — or, for API clients, a personal token (``Authorization: Bearer``). A request with neither gets a fresh,
throwaway identity that owns nothing, so it can read nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from access.api_tokens import TOKEN_PREFIX, Tokens
from access.sessions import COOKIE, Session, Sessions, read_cookie, secret_from_file
from settings import Settings


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: uuid.UUID
    display_name: str
    is_admin: bool
    kind: str = "anonymous"  # "anonymous" | "login" | "token"
    token_id: uuid.UUID | None = None  # kind "token": which of the owner's tokens

    @property
    def logged_in(self) -> bool:
        return self.kind != "anonymous"


class Identities:
    def __init__(self, settings: Settings, *, sessions: Sessions | None = None, tokens: Tokens | None = None):
        self._settings = settings
        self.sessions = sessions or sessions_from(settings)
        self.tokens = tokens

    @property
    def anonymous_allowed(self) -> bool:
        return not self._settings.require_login

    def of(self, request: Any) -> Identity:
        """The caller of ``request`` (a ``gr.Request`` or anything with ``headers``), or a throwaway identity."""
        headers = getattr(request, "headers", None) if request is not None else None
        identity = self.from_headers(headers or {})
        if identity is None:
            return Identity(uuid.uuid4(), "anonymous", is_admin=False)
        return identity

    def from_headers(self, headers: Mapping[str, Any]) -> Identity | None:
        """The identity proven by ``headers`` (a bearer token, else a live session cookie), or None."""
        token = self.bearer_token(headers)
        if token is not None:
            owner = self.tokens.owner_of(token) if self.tokens is not None else None
            # A token acts as its owner on the API, never as an admin.
            return (
                Identity(owner.user_id, owner.display_name, is_admin=False, kind="token", token_id=owner.token_id)
                if owner
                else None
            )
        session = self.session_of(headers)
        return self.identity_of_session(session) if session is not None else None

    @staticmethod
    def bearer_token(headers: Mapping[str, Any]) -> str | None:
        """A ChatLens token in ``Authorization: Bearer``; other bearer values (e.g. a Hugging Face token that
        gradio_client adds) are not ours and are ignored."""
        authorization = str(headers.get("authorization") or "")
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        return value if scheme.lower() == "bearer" and value.startswith(TOKEN_PREFIX) else None

    def claims_token(self, headers: Mapping[str, Any]) -> bool:
        return self.bearer_token(headers) is not None

    def session_of(self, headers: Mapping[str, Any]) -> Session | None:
        session = self.sessions.decode(read_cookie(str(headers.get("cookie") or ""), COOKIE))
        if session is not None and session.kind == "anonymous" and not self.anonymous_allowed:
            return None
        return session

    def login_expired(self, headers: Mapping[str, Any]) -> bool:
        """The caller holds a genuine login session that has ended (idle or too old): they must log in again,
        not silently become someone else (a new anonymous identity)."""
        session = self.sessions.genuine(read_cookie(str(headers.get("cookie") or ""), COOKIE))
        return session is not None and session.kind == "login" and self.sessions.expired(session)

    def identity_of_session(self, session: Session) -> Identity:
        is_admin = self._settings.analytics_open or (session.kind == "login" and session.is_admin)
        return Identity(session.user_id, session.display_name, is_admin=is_admin, kind=session.kind)


def sessions_from(settings: Settings) -> Sessions:
    """The session signer: ``SESSION_SECRET``, or a random key kept in ``SESSION_SECRET_FILE`` (in the data folder)."""
    if settings.session_secret is not None:
        secret = settings.session_secret.get_secret_value()
    else:
        secret = secret_from_file(settings.session_secret_path)
    return Sessions(
        secret,
        idle_s=settings.session_idle_timeout_s,
        max_age_s=settings.session_max_age_s,
        cross_site=bool(settings.session_cookie_cross_site),
    )
