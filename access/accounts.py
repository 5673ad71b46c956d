"""Accounts: a row in ``users`` per login identity (provider + subject), written through the single writer.

The user id is chosen by the caller (derived from issuer and subject), so a login on any replica names the same
user. A later login refreshes the display name and the admin flag (``ADMIN_USERS`` may have changed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.orm import Session

from storage.schema import User, utcnow


@dataclass(frozen=True, slots=True)
class Account:
    user_id: uuid.UUID
    provider: str
    subject: str
    display_name: str
    is_admin: bool


def record_account(session: Session, account: Account) -> None:
    """Insert the user, or bring its name and admin flag up to date (runs inside the writer's transaction)."""
    row = session.execute(select(User.display_name, User.is_admin).where(User.id == account.user_id)).first()
    if row is None:
        values = {
            "id": account.user_id,
            "auth_provider": account.provider,
            "subject": account.subject,
            "display_name": account.display_name,
            "is_admin": account.is_admin,
            "created_at": utcnow(),
        }
        # Another replica (PostgreSQL) may record the same login at the same moment.
        session.execute(upsert(User).values(values).on_conflict_do_nothing())
    elif tuple(row) != (account.display_name, account.is_admin):
        session.execute(
            update(User)
            .where(User.id == account.user_id)
            .values(display_name=account.display_name, is_admin=account.is_admin)
        )


def user_of(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)
