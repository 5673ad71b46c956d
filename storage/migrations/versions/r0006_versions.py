"""Versions of a reply or an edit (issue 20): ``messages.parent_id``, the conversation as a tree.

Before this revision Retry and Edit *replaced*: the replaced messages were marked ``superseded_at`` and a new one
appended. Each superseded message becomes a sibling of what replaced it, so the page can show it again as a version.

The parents are rebuilt from what the old writer did, replayed per conversation in ``seq`` order over a stack (the
branch on screen as it was when each message was written): every write only appended to that branch or cut a tail
off it (Retry, Edit, a resend marked the tail superseded). A message written at time *t* therefore follows the
deepest message before it that was still shown at *t* — one with no ``superseded_at``, or superseded after *t*.
A message still shown follows the message shown before it, whatever the clocks say, so the branch on screen stays
one path. ``superseded_at`` keeps its value: the old rows stay off screen, the branch shown stays the latest.

Portable SQL: the messages still shown get theirs in one ``UPDATE … FROM`` with ``lag()`` (the same answer the
replay gives them); only the superseded ones are replayed in Python and written through a temporary table, on
DuckDB and PostgreSQL alike (200,000 messages, 2,000 of them superseded: a few seconds). Self-contained on
purpose — later changes to the app's code must not change what this revision does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006_versions"
down_revision = "0005"

CHUNK = 1000  # rows per INSERT … VALUES into the temporary table


def upgrade() -> None:
    op.add_column("messages", sa.Column("parent_id", sa.Uuid(), nullable=True))  # nullable: DuckDB allows it
    bind = op.get_bind()
    # Messages still shown: the one shown before, in one statement (most conversations have nothing else).
    bind.execute(
        sa.text(
            "UPDATE messages SET parent_id = p.previous FROM ("
            " SELECT id, lag(id) OVER (PARTITION BY conversation_id ORDER BY seq, id) AS previous"
            " FROM messages WHERE superseded_at IS NULL) AS p"
            " WHERE messages.id = p.id AND p.previous IS NOT NULL"
        )
    )
    # Messages superseded: replayed in Python, for the conversations that have any.
    rows = bind.execute(
        sa.text(
            "SELECT id, conversation_id, created_at, superseded_at FROM messages WHERE conversation_id IN"
            " (SELECT conversation_id FROM messages WHERE superseded_at IS NOT NULL)"
            " ORDER BY conversation_id, seq, id"
        )
    ).all()
    gone = {row[0] for row in rows if row[3] is not None}
    pairs = [(mid, pid) for mid, pid in parents(rows) if mid in gone]
    if not pairs:
        return
    bind.execute(sa.text("CREATE TEMPORARY TABLE message_parents_0006 (id UUID PRIMARY KEY, parent_id UUID)"))
    temp = sa.table("message_parents_0006", sa.column("id", sa.Uuid()), sa.column("parent_id", sa.Uuid()))
    for start in range(0, len(pairs), CHUNK):
        chunk = [{"id": mid, "parent_id": pid} for mid, pid in pairs[start : start + CHUNK]]
        bind.execute(sa.insert(temp).values(chunk))
    bind.execute(
        sa.text("UPDATE messages SET parent_id = p.parent_id FROM message_parents_0006 p WHERE messages.id = p.id")
    )
    bind.execute(sa.text("DROP TABLE message_parents_0006"))


def parents(rows: Iterable[Any]) -> Iterable[tuple[uuid.UUID, uuid.UUID]]:
    """(message, parent) for every message that has one; ``rows`` are (id, conversation_id, created_at,
    superseded_at) in ``seq`` order within each conversation."""
    conversation: Any = None
    stack: list[tuple[uuid.UUID, datetime | None]] = []
    for mid, cid, created_at, superseded_at in rows:
        if cid != conversation:
            conversation, stack = cid, []
        if superseded_at is None:
            while stack and stack[-1][1] is not None:  # gone, whenever the clocks say it went
                stack.pop()
        else:
            while stack and stack[-1][1] is not None and _at_or_before(stack[-1][1], created_at):
                stack.pop()
        if stack:
            yield mid, stack[-1][0]
        stack.append((mid, superseded_at))


def _at_or_before(gone_at: datetime, written_at: datetime) -> bool:
    """Whether a message superseded at ``gone_at`` was gone when another was written at ``written_at``: Edit
    supersedes and writes the new text in one batch, with one timestamp."""
    if (gone_at.tzinfo is None) != (written_at.tzinfo is None):  # a driver that drops the zone on one of them
        gone_at, written_at = gone_at.replace(tzinfo=None), written_at.replace(tzinfo=None)
    return gone_at <= written_at
