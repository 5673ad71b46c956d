"""Writes that stand apart from the turn machinery: feedback, share links, imports.

They run on the writer thread inside the same group-commit transaction as turns (``storage.writes``) and check
ownership against the database themselves: a job naming a conversation or message that is not the caller's is
refused with ``MessageRejected`` and writes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.orm import Session

from errors import MessageRejected
from storage.portability import ImportedConversation, imported_tree
from storage.schema import Conversation, Feedback, Generation, Message, Share, User


@dataclass(frozen=True, slots=True)
class RecordFeedback:
    user_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    value: int  # +1 👍, -1 👎, 0 withdrawn
    comment: str = ""


@dataclass(frozen=True, slots=True)
class CreateShare:
    user_id: uuid.UUID
    conversation_id: uuid.UUID
    token_hash: str
    snapshot: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RevokeShares:
    user_id: uuid.UUID
    conversation_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ImportConversation:
    user_id: uuid.UUID
    conversation: ImportedConversation


@dataclass(frozen=True, slots=True)
class ImportConversations:
    """Part of a bulk import (another tool's export): conversations written together, with their own timestamps."""

    user_id: uuid.UUID
    conversations: tuple[ImportedConversation, ...]


@dataclass(frozen=True, slots=True)
class ForgetImport:
    """Take back the parts of a bulk import already written when a later part failed: nothing partial stays."""

    user_id: uuid.UUID
    conversation_ids: tuple[uuid.UUID, ...]


Extra = RecordFeedback | CreateShare | RevokeShares | ImportConversation | ImportConversations | ForgetImport


def apply_extra(session: Session, job: Extra, now: datetime) -> Any:
    if isinstance(job, ImportConversation):
        return _import(session, ImportConversations(job.user_id, (job.conversation,)), now)[0]
    if isinstance(job, ImportConversations):
        return _import(session, job, now)
    if isinstance(job, ForgetImport):
        return _forget(session, job)
    _owned(session, job.conversation_id, job.user_id)
    if isinstance(job, RecordFeedback):
        return _feedback(session, job, now)
    if isinstance(job, CreateShare):
        session.execute(
            insert(Share),
            [
                {
                    "token_hash": job.token_hash,
                    "conversation_id": job.conversation_id,
                    "user_id": job.user_id,
                    "snapshot": job.snapshot,
                    "created_at": now,
                    "revoked_at": None,
                }
            ],
        )
        return None
    revoked = session.execute(
        update(Share)
        .where(Share.conversation_id == job.conversation_id, Share.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(revoked, "rowcount", 0) or 0)


def _owned(session: Session, conversation_id: uuid.UUID, user_id: uuid.UUID) -> None:
    owner = session.execute(
        select(Conversation.user_id).where(Conversation.id == conversation_id, Conversation.deleted_at.is_(None))
    ).scalar_one_or_none()
    if owner != user_id:
        raise MessageRejected("This conversation does not exist or is not yours.")


def _feedback(session: Session, job: RecordFeedback, now: datetime) -> None:
    found = session.execute(
        select(Message.id, Generation.id)
        .outerjoin(Generation, Generation.message_id == Message.id)
        .where(
            Message.id == job.message_id,
            Message.conversation_id == job.conversation_id,
            Message.role == "assistant",
        )
    ).first()
    if found is None:
        raise MessageRejected("That reply is no longer in this conversation.")
    session.execute(
        insert(Feedback),
        [
            {
                "id": uuid.uuid4(),
                "message_id": job.message_id,
                "generation_id": found[1],
                "user_id": job.user_id,
                "value": job.value,
                "comment": job.comment,
                "created_at": now,
            }
        ],
    )


def _import(session: Session, job: ImportConversations, now: datetime) -> list[uuid.UUID]:
    """One statement per table for the whole group (a bulk import is thousands of conversations)."""
    session.execute(
        upsert(User).on_conflict_do_nothing(index_elements=[User.id]),
        [{"id": job.user_id, "auth_provider": "anonymous", "subject": str(job.user_id), "created_at": now}],
    )
    ids = [uuid.uuid4() for _ in job.conversations]
    session.execute(
        insert(Conversation),
        [
            {
                "id": cid,
                "user_id": job.user_id,
                "title": imported.title,
                "model_id": imported.model_id,
                "system_prompt": imported.system_prompt,
                "settings": {"imported": True},
                "created_at": imported.created_at or now,
                "updated_at": imported.updated_at or imported.created_at or now,
            }
            for cid, imported in zip(ids, job.conversations, strict=True)
        ],
    )
    messages: list[dict[str, Any]] = []
    for cid, imported in zip(ids, job.conversations, strict=True):
        placed = imported_tree(imported)  # one branch, or the whole tree of versions
        refs = {ref: uuid.uuid4() for ref, _, _, _ in placed}
        created = imported.created_at or now
        messages += [
            {
                "id": refs[ref],
                "conversation_id": cid,
                "seq": ref,
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "created_at": created,
                "superseded_at": None if shown else created,
                "reasoning": m.reasoning or None,
                "parent_id": refs[parent] if parent is not None else None,
            }
            for ref, parent, m, shown in placed
        ]
    if messages:
        session.execute(insert(Message), messages)
    return ids


def _forget(session: Session, job: ForgetImport) -> None:
    owned = list(
        session.scalars(
            select(Conversation.id).where(
                Conversation.id.in_(job.conversation_ids), Conversation.user_id == job.user_id
            )
        )
    )
    if owned:
        session.execute(delete(Message).where(Message.conversation_id.in_(owned)))
        session.execute(delete(Conversation).where(Conversation.id.in_(owned)))
