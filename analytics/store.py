"""The store: one SQLAlchemy engine per process over DuckDB (default) or PostgreSQL.

Write methods take a ``Session`` from the single writer thread (``analytics.recorder``), so a DuckDB file never
sees two writers and hot rows (``conversations.updated_at``) never conflict. Read methods open their own short
session; both run off the event loop. ``Store.open`` fails fast, with a sentence a person can act on, when another
process holds the DuckDB file — and it must be called after any fork (a forked DuckDB silently loses writes).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from analytics.models import Base, Conversation, Generation, Message, User, utcnow
from inference.errors import MessageRejected
from inference.types import ChatMessage, Role, TurnRecord, TurnStart

log = logging.getLogger(__name__)


class StoreUnavailable(RuntimeError):
    """The database cannot be opened; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class MessageView:
    id: uuid.UUID
    role: str
    content: str
    status: str
    metrics: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ConversationView:
    id: uuid.UUID
    title: str
    model_id: str | None
    messages: list[MessageView] = field(default_factory=list)


def _duckdb_path(url: str) -> Path | None:
    match = re.match(r"^duckdb:///(?P<path>[^?]+)", url)
    if match is None or match["path"] == ":memory:":
        return None
    return Path(match["path"])


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        path = _duckdb_path(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"Cannot create the folder for the database {path}: {exc}") from exc
        engine = create_engine(url, pool_size=8, max_overflow=8, pool_timeout=30)
        try:
            Base.metadata.create_all(engine)
        except DBAPIError as exc:
            engine.dispose()
            if "lock" in str(exc.orig).lower():
                raise StoreUnavailable(
                    f"The database file {path} is already open in another process. DuckDB allows one ChatLens "
                    "process per file: stop the other one, point DATABASE_URL at another file, or use "
                    f"PostgreSQL for several replicas. ({exc.orig})"
                ) from exc
            raise StoreUnavailable(f"Cannot open the database {url!r}: {exc.orig}") from exc
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:
            log.exception("database ping failed")
            return False

    # -- writes: called by the writer thread, inside its transaction ---------------------------------------

    def add_user_message(
        self,
        session: Session,
        *,
        user_id: uuid.UUID,
        conversation_id: uuid.UUID | None,
        content: str,
        model_id: str | None,
    ) -> TurnStart:
        self._ensure_user(session, user_id)
        conversation = session.get(Conversation, conversation_id) if conversation_id else None
        if conversation is not None and self._owned(session, conversation.id, user_id) is None:
            raise MessageRejected("This conversation does not exist or is not yours. Start a new chat.")
        if conversation is None:
            conversation = Conversation(
                id=conversation_id or uuid.uuid4(), user_id=user_id, title=_title_from(content), model_id=model_id
            )
            session.add(conversation)
            history: list[ChatMessage] = []
            seq = 0
        else:
            history, seq = self._visible_history(session, conversation.id)
        message = Message(conversation_id=conversation.id, seq=seq + 1, role="user", content=content)
        session.add(message)
        conversation.updated_at = utcnow()
        return TurnStart(
            conversation_id=conversation.id,
            history=(*history, ChatMessage("user", content)),
            user_message_id=message.id,
        )

    def supersede_last_reply(self, session: Session, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> TurnStart:
        conversation = self._owned(session, conversation_id, user_id)
        if conversation is None:
            raise MessageRejected("This conversation no longer exists.")
        visible = session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.superseded_at.is_(None))
            .order_by(Message.seq)
        ).all()
        while visible and visible[-1].role == "assistant":
            visible[-1].superseded_at = utcnow()
            visible = visible[:-1]
        if not visible:
            raise MessageRejected("There is no message to answer again.")
        return TurnStart(
            conversation_id=conversation_id,
            history=tuple(ChatMessage(cast(Role, m.role), m.content) for m in visible),
        )

    def add_reply(self, session: Session, record: TurnRecord) -> None:
        last_seq = session.scalar(
            select(func.max(Message.seq)).where(Message.conversation_id == record.conversation_id)
        )
        session.add(
            Message(
                id=record.message_id,
                conversation_id=record.conversation_id,
                seq=(last_seq or 0) + 1,
                role="assistant",
                content=record.content,
                status=record.status,
            )
        )
        m = record.metrics
        session.add(
            Generation(
                message_id=record.message_id,
                conversation_id=record.conversation_id,
                user_id=record.user_id,
                model_id=record.model.model_id if record.model else None,
                backend=record.model.backend if record.model else None,
                server_url=record.model.server_url if record.model else None,
                params=record.params.as_record(),
                status=record.status,
                queue_wait_ms=m.queue_wait_ms,
                time_to_first_token_ms=m.time_to_first_token_ms,
                duration_ms=m.duration_ms,
                prompt_tokens=m.prompt_tokens,
                output_tokens=m.output_tokens,
                tokens_per_s=m.tokens_per_s,
                finish_reason=m.finish_reason,
                error_type=record.error_type,
                in_flight_at_start=m.in_flight_at_start,
            )
        )
        conversation = session.get(Conversation, record.conversation_id)
        if conversation is not None:
            conversation.updated_at = utcnow()
            if record.model is not None:
                conversation.model_id = record.model.model_id

    def _ensure_user(self, session: Session, user_id: uuid.UUID) -> None:
        if session.get(User, user_id) is None:
            session.add(User(id=user_id, auth_provider="anonymous", subject=str(user_id)))

    @staticmethod
    def _owned(session: Session, conversation_id: uuid.UUID, user_id: uuid.UUID) -> Conversation | None:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None or conversation.user_id != user_id or conversation.deleted_at is not None:
            return None
        return conversation

    @staticmethod
    def _visible_history(session: Session, conversation_id: uuid.UUID) -> tuple[list[ChatMessage], int]:
        rows = session.execute(
            select(Message.role, Message.content, Message.seq, Message.superseded_at)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.seq)
        ).all()
        history = [ChatMessage(cast(Role, role), content) for role, content, _, gone in rows if gone is None]
        return history, max((seq for _, _, seq, _ in rows), default=0)

    # -- reads ------------------------------------------------------------------------------------------------

    def load_conversation(self, conversation_id: uuid.UUID, user_id: uuid.UUID) -> ConversationView | None:
        with self.sessions() as session:
            conversation = self._owned(session, conversation_id, user_id)
            if conversation is None:
                return None
            rows = session.execute(
                select(Message, Generation)
                .outerjoin(Generation, Generation.message_id == Message.id)
                .where(Message.conversation_id == conversation_id, Message.superseded_at.is_(None))
                .order_by(Message.seq)
            ).all()
            return ConversationView(
                id=conversation.id,
                title=conversation.title,
                model_id=conversation.model_id,
                messages=[
                    MessageView(m.id, m.role, m.content, m.status, _metrics_of(g) if g else None) for m, g in rows
                ],
            )


def _metrics_of(generation: Generation) -> dict[str, Any]:
    return {
        "time_to_first_token_ms": generation.time_to_first_token_ms,
        "tokens_per_s": generation.tokens_per_s,
        "output_tokens": generation.output_tokens,
        "duration_ms": generation.duration_ms,
        "status": generation.status,
        "error_type": generation.error_type,
        "finish_reason": generation.finish_reason,
    }


def _title_from(content: str, limit: int = 60) -> str:
    first_line = " ".join(content.split())
    return first_line if len(first_line) <= limit else first_line[: limit - 1].rstrip() + "…"
