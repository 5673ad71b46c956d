"""Temporary chats: conversations kept in this process's memory for the page that holds them, never written.

A temporary chat is not listed, not searchable and has no link; its messages (text and images) are never written
to the database or to disk. Its replies' generation rows are written, as in privacy mode (``STORE_CONTENT=false``),
so analytics still counts every model call. The model is sent the whole conversation, which lives here: one
temporary chat per page session at most (starting another forgets the last), forgotten when the page goes away
(Gradio's unload: a reload or a closed tab) and, at the latest, when the least recently used of
``max_conversations`` gives way.

``TemporaryAwareRecorder`` is the ``Recorder`` the chat service is given: turns of a temporary chat are answered
from here, every other turn goes to the writer thread as before. Thread-safe: handlers call it from the event loop
and from reader threads.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from typing import Any, assert_never

from errors import MessageRejected
from inference.turns import Continue, Edit, NewMessage, Retry, Turn
from inference.types import ChatMessage, ConversationSetup, Origin, Role, TurnRecord, TurnStart
from storage.store import ConversationView, MessageView
from storage.writer import WriteBehindRecorder

TEMPORARY_TITLE = "Temporary chat"
TEMPORARY_ORIGIN = Origin(source="chat", store_text=False)  # no text kept; no automatic title either


@dataclass(slots=True)
class _Chat:
    owner: uuid.UUID
    session: str
    system_prompt: str = ""
    messages: list[MessageView] = field(default_factory=list)


class TemporaryChats:
    def __init__(self, *, max_conversations: int = 2000) -> None:
        self._chats: OrderedDict[uuid.UUID, _Chat] = OrderedDict()
        self._by_session: dict[str, uuid.UUID] = {}
        self._lock = threading.Lock()
        self._max = max_conversations

    def open(self, user_id: uuid.UUID, session: str) -> uuid.UUID:
        """A new temporary chat for this page session (its previous one is forgotten)."""
        cid = uuid.uuid4()
        with self._lock:
            if (previous := self._by_session.pop(session, None)) is not None:
                self._chats.pop(previous, None)
            self._chats[cid] = _Chat(user_id, session)
            self._by_session[session] = cid
            while len(self._chats) > self._max:
                _, evicted = self._chats.popitem(last=False)
                self._by_session.pop(evicted.session, None)
        return cid

    def holds(self, conversation_id: uuid.UUID | None) -> bool:
        with self._lock:
            return conversation_id is not None and conversation_id in self._chats

    def forget(self, conversation_id: uuid.UUID) -> None:
        with self._lock:
            chat = self._chats.pop(conversation_id, None)
            if chat is not None and self._by_session.get(chat.session) == conversation_id:
                del self._by_session[chat.session]

    def forget_session(self, session: str) -> None:
        """The page went away (reload, closed tab): its temporary chat is gone."""
        with self._lock:
            cid = self._by_session.pop(session, None)
            if cid is not None:
                self._chats.pop(cid, None)

    def __len__(self) -> int:
        return len(self._chats)

    def load_conversation(self, conversation_id: uuid.UUID, user_id: uuid.UUID) -> ConversationView | None:
        """The temporary chat as the page shows it; ``None`` for anyone else's or one that is gone."""
        with self._lock:
            chat = self._chats.get(conversation_id)
            if chat is None or chat.owner != user_id:
                return None
            self._chats.move_to_end(conversation_id)
            return ConversationView(
                conversation_id, TEMPORARY_TITLE, None, list(chat.messages), system_prompt=chat.system_prompt
            )

    def begin(self, turn: Turn, user_id: uuid.UUID, setup: ConversationSetup | None) -> TurnStart:
        """The user's side of a turn, in memory; the history to answer (as the store would give it)."""
        with self._lock:
            cid = turn.conversation_id
            chat = self._chats.get(cid) if cid is not None else None
            if cid is None or chat is None or chat.owner != user_id:
                raise MessageRejected("This temporary chat is gone (it lasts while its page is open). Start a new one.")
            if setup is not None and setup.system_prompt is not None:
                chat.system_prompt = setup.system_prompt
            messages, user_message_id = chat.messages, None
            match turn:
                case NewMessage(content, _, _, _, images):
                    if images:
                        raise MessageRejected("A temporary chat keeps nothing on disk, so images cannot be sent here.")
                    user_message_id = uuid.uuid4()
                    messages.append(MessageView(user_message_id, "user", content, "complete"))
                case Retry(_, reply_id):
                    end = _index(messages, reply_id, "assistant") if reply_id is not None else len(messages)
                    while end and messages[end - 1].role == "assistant":
                        end -= 1
                    if end == 0:
                        raise MessageRejected("There is no message to answer again.")
                    del messages[end:]
                case Edit(_, message_id, content):
                    del messages[_index(messages, message_id, "user") :]
                    user_message_id = uuid.uuid4()
                    messages.append(MessageView(user_message_id, "user", content, "complete"))
                case Continue():
                    if not messages or messages[-1].role != "assistant" or not messages[-1].content:
                        raise MessageRejected("There is no reply to continue.")
                case _:
                    assert_never(turn)
            history = tuple(ChatMessage(_role(m.role), m.content) for m in messages)
            return TurnStart(cid, history, user_message_id=user_message_id)

    def finish(self, record: TurnRecord) -> None:
        """The reply, with its metrics (shown on the page like a stored one's)."""
        m = record.metrics
        metrics: dict[str, Any] = {
            "time_to_first_token_ms": m.time_to_first_token_ms, "time_to_first_answer_ms": m.time_to_first_answer_ms,
            "thinking_ms": m.thinking_ms, "reasoning_tokens": m.reasoning_tokens, "tokens_per_s": m.tokens_per_s,
            "output_tokens": m.output_tokens, "duration_ms": m.duration_ms, "status": record.status,
            "error_type": record.error_type, "finish_reason": m.finish_reason,
        }  # fmt: skip
        reply = MessageView(record.message_id, "assistant", record.content, record.status, metrics, record.reasoning)
        with self._lock:
            chat = self._chats.get(record.conversation_id)
            if chat is not None:
                chat.messages.append(reply)


def _index(messages: list[MessageView], message_id: uuid.UUID, role: str) -> int:
    index = next((i for i, m in enumerate(messages) if m.id == message_id), None)
    if index is None or messages[index].role != role:
        raise MessageRejected("That message is no longer in this chat; start again from the last one.")
    return index


def _role(role: str) -> Role:
    return "assistant" if role == "assistant" else "user"


class TemporaryAwareRecorder:
    """The chat service's ``Recorder``: a temporary chat's turns stay in ``TemporaryChats`` (its replies' metrics
    are written), every other turn goes to the writer."""

    def __init__(self, writer: WriteBehindRecorder, chats: TemporaryChats) -> None:
        self._writer = writer
        self._chats = chats

    async def begin(
        self,
        turn: Turn,
        *,
        user_id: uuid.UUID,
        model_id: str | None = None,
        setup: ConversationSetup | None = None,
        origin: Origin | None = None,
        early: bool = False,
    ) -> TurnStart:
        if self._chats.holds(turn.conversation_id):
            return self._chats.begin(turn, user_id, setup)  # in memory: kept at once
        return await self._writer.begin(
            turn, user_id=user_id, model_id=model_id, setup=setup, origin=origin, early=early
        )

    async def rename(
        self, *, user_id: uuid.UUID, conversation_id: uuid.UUID, title: str, unless_changed_from: str | None = None
    ) -> None:
        if not self._chats.holds(conversation_id):
            await self._writer.rename(
                user_id=user_id, conversation_id=conversation_id, title=title, unless_changed_from=unless_changed_from
            )

    def finish_turn(self, record: TurnRecord) -> Awaitable[None]:
        if not self._chats.holds(record.conversation_id):
            return self._writer.finish_turn(record)
        self._chats.finish(record)
        return self._writer.finish_metrics_only(replace(record, content="", reasoning=""))
