"""Purging deleted conversations for good, and the image files only they named.

A delete is soft (``storage.writes.Delete``): the rows stay so "Recently deleted" can restore them. A purge removes a
deleted conversation's messages, image rows, feedback, share links (their snapshots hold its text) and the
conversation row; its ``generations`` rows stay, like a temporary chat's, as metrics without text. Then every image
file the purged conversations (or their share snapshots) named is removed, unless a remaining message row of the
same owner names it or one of their standing share snapshots shows it (not revoked: a share comes back with a
restored conversation).

Safe under concurrent writes: the purge and every new message that attaches images take a lock per owner
(PostgreSQL: ``pg_advisory_xact_lock``, so several replicas agree; DuckDB has one writer thread, which is the lock).
The purge sets its files aside (``storage.images.SetAside``) while it holds the lock and removes them only once it
has committed; a message committed after it writes its file again (``ImageFiles.ensure``), one committed before it
is a row the purge finds. So no committed row ever names a missing file, and a purge that fails removes nothing.
Runs on the writer thread, inside its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from storage.images import ImageFiles, SetAside
from storage.schema import Conversation, Feedback, Message, MessageImage, Share


@dataclass(frozen=True, slots=True)
class Purge:
    """Delete for good the user's conversations that are deleted already: ``conversation_ids``, or with
    ``deleted_before`` every one of theirs deleted before then. A conversation that is not deleted, or not
    theirs, is left alone."""

    user_id: uuid.UUID
    conversation_ids: tuple[uuid.UUID, ...] = ()
    deleted_before: datetime | None = None


@dataclass(slots=True)
class Purged:
    """What a purge did: the conversations and image files removed (the files once it has committed)."""

    conversation_ids: tuple[uuid.UUID, ...] = ()
    set_aside: list[SetAside] = field(default_factory=list)

    @property
    def files(self) -> int:
        return len(self.set_aside)


def lock_owners(session: Session, owners: Iterable[uuid.UUID]) -> None:
    """PostgreSQL: take each owner's image lock for the rest of the transaction, in one order (no deadlock between
    two batches). DuckDB: nothing to do, the writer thread is the only writer."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({int.from_bytes(owner.bytes[:8], "big", signed=True) for owner in owners}):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def purge(session: Session, job: Purge, files: ImageFiles) -> Purged:
    """Apply ``job`` inside the caller's transaction (its owner's lock held: ``lock_owners``). The files are set
    aside, not yet removed: the caller removes them once committed (``SetAside.remove``), or puts them back."""
    owner = job.user_id
    chosen = delete(Conversation).where(Conversation.user_id == owner, Conversation.deleted_at.is_not(None))
    if job.deleted_before is not None:
        chosen = chosen.where(Conversation.deleted_at < job.deleted_before)
    else:
        chosen = chosen.where(Conversation.id.in_(job.conversation_ids))
    # The conversation rows first, their condition checked as each is deleted: on PostgreSQL a row another replica
    # restores meanwhile is re-read after its commit and, no longer deleted, left alone with everything it holds.
    ids = list(session.scalars(chosen.returning(Conversation.id)))
    if not ids:
        return Purged()
    named = set(session.scalars(select(MessageImage.sha256).where(MessageImage.conversation_id.in_(ids)).distinct()))
    named |= _shown(session.scalars(select(Share.snapshot).where(Share.conversation_id.in_(ids))))
    messages = select(Message.id).where(Message.conversation_id.in_(ids))
    session.execute(delete(Feedback).where(Feedback.message_id.in_(messages)))
    session.execute(delete(MessageImage).where(MessageImage.conversation_id.in_(ids)))
    session.execute(delete(Message).where(Message.conversation_id.in_(ids)))
    session.execute(delete(Share).where(Share.conversation_id.in_(ids)))
    purged = Purged(tuple(ids))
    if not named:
        return purged
    still = set(
        session.scalars(
            select(MessageImage.sha256).where(MessageImage.user_id == owner, MessageImage.sha256.in_(named)).distinct()
        )
    )
    still |= shared_images(session, owner)
    for sha256 in sorted(named - still):
        aside = files.set_aside(owner, sha256)
        if aside is not None:
            purged.set_aside.append(aside)
    return purged


def shared_images(session: Session, owner: uuid.UUID) -> set[str]:
    """The images the owner's standing (not revoked) share snapshots show."""
    return _shown(session.scalars(select(Share.snapshot).where(Share.user_id == owner, Share.revoked_at.is_(None))))


def _shown(snapshots: Iterable[dict[str, Any] | None]) -> set[str]:
    return {
        str(image.get("sha256"))
        for snapshot in snapshots
        for message in (snapshot or {}).get("messages", [])
        for image in message.get("images") or []
    }
