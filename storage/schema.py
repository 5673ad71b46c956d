"""The schema, declared once with typed SQLAlchemy 2.0 models, portable between DuckDB and PostgreSQL.

* Keys are UUIDs made by the app (DuckDB has no SERIAL), which also makes retried writes idempotent.
* Timestamps are timezone-aware UTC.
* No database-level foreign keys: DuckDB refuses updates of a referenced row (``conversations.updated_at``);
  relations are plain indexed columns, kept consistent by the single writer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012
        uuid.UUID: Uuid,
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
        str: Text,
        float: Float,
        int: Integer,
        bool: Boolean,
    }


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("auth_provider", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    auth_provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(default="")
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A personal API token: only its SHA-256 is kept; ``prefix`` (its first characters) lets the owner tell them
    apart. Revoking sets ``revoked_at``; rows are never deleted."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class RateEvent(Base):
    """One accepted message, counted for the per-user and per-IP limits. Append-only: counting never updates a row."""

    __tablename__ = "rate_events"
    __table_args__ = (
        Index("ix_rate_events_user_at", "user_id", "created_at"),
        Index("ix_rate_events_ip_at", "ip", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_updated", "user_id", "updated_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(default="")
    model_id: Mapped[str | None]
    system_prompt: Mapped[str] = mapped_column(default="")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    share_token: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]


class Message(Base):
    """One turn, a node of the conversation's tree (``storage.versions``).

    ``parent_id`` is the message this one follows (``None``: a first message); messages with the same parent and
    role are *versions* of one another (a retried reply, an edited question), in ``seq`` order. The branch on
    screen is one path from a first message down: its messages have ``superseded_at`` NULL; every other message has
    the time it left the screen (replaced by Retry or Edit, or switched away from), which is also how a branch
    switched back to finds the continuation last shown under it. Every version keeps its generation row.
    ``reasoning``: a reply's thinking, apart from ``content`` (the answer) and never sent back to the model."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_seq", "conversation_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str]
    status: Mapped[str] = mapped_column(String(16), default="complete")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_at: Mapped[datetime | None]
    reasoning: Mapped[str | None]
    parent_id: Mapped[uuid.UUID | None]


class MessageImage(Base):
    """An image attached to a user message, in the message's order (``position``). The bytes are a file under the
    data folder named by their SHA-256, in the owner's folder (``storage.images``); the row says whose message and
    conversation it belongs to, which is what decides who may fetch it."""

    __tablename__ = "message_images"
    __table_args__ = (
        Index("ix_message_images_message", "message_id"),
        Index("ix_message_images_user_sha", "user_id", "sha256"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    message_id: Mapped[uuid.UUID]
    conversation_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    position: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    mime_type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Generation(Base):
    """One model call and its measured performance (times in ms, from ChatLens's own monotonic clock).

    ``time_to_first_token_ms`` is the first token of any kind, ``time_to_first_answer_ms`` the first answer text;
    ``output_tokens`` counts thinking and answer, ``reasoning_tokens`` the thinking (NULL: the reply did not think);
    ``thinking_ms`` how long it thought; ``tokens_per_s`` is over the whole generation. ``server_waiting``,
    ``server_running``, ``server_kv_cache`` are the model server's state at the reply's start: its latest reading
    (``server_load``) at or before the start and at most ``NEAREST_SAMPLE_S`` old, taken at ``server_sampled_at``
    (``storage.server_state``); NULL without one, or on rows written before it was kept."""

    __tablename__ = "generations"
    __table_args__ = (Index("ix_generations_created", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    message_id: Mapped[uuid.UUID]
    conversation_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    model_id: Mapped[str | None]
    backend: Mapped[str | None] = mapped_column(String(16))
    server_url: Mapped[str | None]
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16))
    queue_wait_ms: Mapped[float]
    time_to_first_token_ms: Mapped[float | None]
    duration_ms: Mapped[float]
    prompt_tokens: Mapped[int | None]
    output_tokens: Mapped[int]
    tokens_per_s: Mapped[float | None]
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    error_type: Mapped[str | None] = mapped_column(String(32))
    in_flight_at_start: Mapped[int]
    # Where the turn came from: "chat" (the page), "gradio_api" (/chat), "openai_api" (/v1); the API token, if any.
    source: Mapped[str] = mapped_column(String(16), default="chat", server_default="chat")
    token_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    time_to_first_answer_ms: Mapped[float | None]
    reasoning_tokens: Mapped[int | None]
    thinking_ms: Mapped[float | None]
    server_waiting: Mapped[float | None]
    server_running: Mapped[float | None]
    server_kv_cache: Mapped[float | None]
    server_sampled_at: Mapped[datetime | None]


class ServerLoadSample(Base):
    """One reading of a model server's ``/metrics`` (``analytics/server_load.py`` maps its names): requests waiting
    and running, batch size, KV-cache use (0–1), and the server's own mean TTFT and queue time over the requests it
    saw since the reading before (ms). ``None`` where the server does not publish the value. Kept for
    ``MODEL_METRICS_KEEP_DAYS``."""

    __tablename__ = "server_load"
    __table_args__ = (Index("ix_server_load_server_at", "server_url", "sampled_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    server_url: Mapped[str]
    backend: Mapped[str] = mapped_column(String(16))
    sampled_at: Mapped[datetime] = mapped_column(default=utcnow)
    waiting: Mapped[float | None]
    running: Mapped[float | None]
    batch_size: Mapped[float | None]
    kv_cache_use: Mapped[float | None]
    server_ttft_ms: Mapped[float | None]
    server_queue_ms: Mapped[float | None]


class BrowserReply(Base):
    """What the user's browser saw of one live reply (``web.browser_beacon``), one row per generation at most: from
    Send (or Enter) to the first and the last token painted (ms, the page's own clock), frames painted while it
    streamed and how many of them took over 50 ms, frames per second, the tab's JS heap where the browser tells it
    (``performance.memory``), and whether the browser was on the same machine (``local``: a loopback address) or
    not (``remote``)."""

    __tablename__ = "browser_replies"

    generation_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID]
    felt_ttft_ms: Mapped[float]
    felt_last_token_ms: Mapped[float]
    frames: Mapped[int]
    long_frames: Mapped[int]
    fps: Mapped[float | None]
    heap_bytes: Mapped[int | None] = mapped_column(BigInteger)
    connection: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BrowserError(Base):
    """A JavaScript error or unhandled rejection in the page, de-duplicated: one row per (message, stack, version,
    page), counted, with when it was first and last seen. Bounded (``storage.browser_reports.MAX_ERROR_ROWS``)."""

    __tablename__ = "browser_errors"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "error" | "rejection"
    message: Mapped[str]
    stack: Mapped[str] = mapped_column(default="")
    version: Mapped[str] = mapped_column(String(32))
    page: Mapped[str]
    count: Mapped[int]
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """A 👍 (+1) or 👎 (-1) on one reply, with an optional comment; the latest row per (message, user) counts."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_message", "message_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    message_id: Mapped[uuid.UUID]
    generation_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID]
    value: Mapped[int]
    comment: Mapped[str] = mapped_column(default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Share(Base):
    """A read-only link to a snapshot of a conversation. Only the token's SHA-256 is kept; revoked rows stay."""

    __tablename__ = "shares"
    __table_args__ = (Index("ix_shares_conversation", "conversation_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    snapshot: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
