"""Acting on one message of the chat: edit a question, retry any reply, continue a cut-off reply, 👍/👎 feedback.

The Chatbot's events name a message by its index in what the page shows. ``render.message_ids`` lays the stored
conversation out the same way, so an index maps to the stored message it shows; when the page and the store
disagree (another tab changed the conversation) the action is refused with "reload", never applied to the wrong
message.

Edits and retries branch (``storage.versions``): the edited message and everything after it leave the screen —
kept, with their generation rows, as versions the ‹ n/m › switcher (``ui.versions``) brings back — and the
conversation continues from the new text.

A send carries a client message id (``MessageKey``), kept in the session until its reply completes: pressing Send
again with the same text in the same conversation after an error is the same message to the store, never a copy.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import gradio as gr

from errors import MessageRejected
from inference.turns import Continue, Edit, Retry, Turn
from inference.types import GenerationParams
from storage.side_writes import RecordFeedback
from storage.store import ConversationView, Store
from storage.writer import WriteBehindRecorder
from ui import render
from ui.api import parse_conversation_id
from ui.errors import refusals_as_toasts, request_language, user_error
from ui.i18n import say

MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class Pending:
    """A checked turn and how to run it, carried from the click to the streaming handler."""

    turn: Turn
    model: str | None
    system_prompt: str | None
    params: GenerationParams
    shown: render.ChatMessages = field(default_factory=list)  # the chat before the reply, as the page shows it
    files: tuple[str, ...] = ()  # a new message's uploaded files, given back to the box if it is not sent


@dataclass(frozen=True)
class MessageKey:
    """The id the page sent its last message with, the text, and the conversation it went to ("" for a new chat)."""

    id: uuid.UUID
    text: str
    conversation_id: str

    @staticmethod
    def for_send(previous: MessageKey | None, text: str, conversation_id: str) -> MessageKey:
        """The same key when the same text is sent again to the same conversation (its reply never completed:
        the key is dropped once one does); a new one otherwise."""
        if previous is not None and previous.text == text and previous.conversation_id == (conversation_id or ""):
            return previous
        return MessageKey(uuid.uuid4(), text, conversation_id or "")


PendingFactory = Callable[[Turn, tuple[Any, ...]], Awaitable[Pending]]
UserIdOf = Callable[[gr.Request | None], uuid.UUID]


@dataclass
class TurnControls:
    """The parts of the chat page that the message actions read or change."""

    chatbot: gr.Chatbot
    conversation_id: gr.Textbox
    pending: gr.State
    send: gr.Button
    stop: gr.Button
    continue_: gr.Button
    comment: gr.Textbox
    last_feedback: gr.State
    settings: list[Any]  # the generation controls a turn carries (``GenerationControls.values``)

    def accepted(self, pending: Pending, *, show_chat: bool = True) -> dict[Any, Any]:
        """A checked turn: carried to the streaming handler, Stop instead of Send and (``show_chat``) the chat as it
        stands before the reply."""
        taken = {self.pending: pending, self.send: gr.update(visible=False), self.stop: gr.update(visible=True)}
        return {self.chatbot: pending.shown, **taken} if show_chat else taken


def can_continue(view: ConversationView | None) -> bool:
    """The last reply stopped because it hit ``max_tokens``: it can be continued."""
    if view is None or not view.messages or view.messages[-1].role != "assistant":
        return False
    last = view.messages[-1]
    return bool(last.content) and (last.metrics or {}).get("finish_reason") == "length"


class TurnActions:
    controls: TurnControls  # given by ``wire``

    def __init__(
        self,
        *,
        store: Store,
        recorder: WriteBehindRecorder,
        user_id_of: UserIdOf,
        pending: PendingFactory,
        load: Callable[[uuid.UUID, uuid.UUID], ConversationView | None] | None = None,
        is_temporary: Callable[[uuid.UUID], bool] | None = None,
    ) -> None:
        """``load``: how a conversation is read (default: from the store; the page's also reads temporary chats);
        ``is_temporary``: whether it is a temporary chat, which keeps no ratings."""
        self._load = load or store.load_conversation
        self._is_temporary = is_temporary or (lambda _: False)
        self._store = store
        self._recorder = recorder
        self._user_id_of = user_id_of
        self._pending = pending

    def wire(self, controls: TurnControls) -> list[Any]:
        """Wire the actions on the chat's messages; returns the events that accept a turn (edit, retry at, continue),
        for the page to stream the reply after them."""
        self.controls = c = controls
        taking = [c.chatbot, c.pending, c.send, c.stop]

        def nothing_pending() -> dict[Any, Any]:
            return {c.pending: None}

        edited = c.chatbot.edit(
            refusals_as_toasts(self.take_edit, nothing_pending), [c.conversation_id, *c.settings], taking,
            api_visibility="private",
        )  # fmt: skip
        rerun = c.chatbot.retry(
            refusals_as_toasts(self.take_retry_at, nothing_pending), [c.conversation_id, *c.settings], taking,
            api_visibility="private",
        )  # fmt: skip
        continued = c.continue_.click(
            refusals_as_toasts(self.take_continue, nothing_pending), [c.conversation_id, *c.settings],
            [c.pending, c.send, c.stop], api_visibility="private",
        )  # fmt: skip
        c.chatbot.like(
            self.record_feedback, [c.conversation_id], [c.last_feedback, c.comment],
            api_visibility="private", show_progress="hidden",
        )  # fmt: skip
        c.comment.submit(
            self.add_comment, [c.conversation_id, c.last_feedback, c.comment], [c.comment], api_visibility="private"
        )
        return [edited, rerun, continued]

    async def _view(self, conversation_id: str, request: gr.Request | None) -> ConversationView | None:
        cid = parse_conversation_id(conversation_id)
        return await asyncio.to_thread(self._load, cid, self._user_id_of(request)) if cid else None

    async def shown(self, conversation_id: str, request: gr.Request | None) -> render.ChatMessages:
        """The conversation as the page shows it, read from the store (empty for a new chat)."""
        view = await self._view(conversation_id, request)
        return render.conversation_messages(view, request_language()) if view else []

    async def prepare_send(
        self, conversation_id: str, request: gr.Request | None, previous: MessageKey | None, text: str
    ) -> tuple[MessageKey, render.ChatMessages]:
        """The client id of a send, and the chat shown before its reply: the stored chat and the new message — or,
        when the store already has the message (sent again after an error), the chat up to it.

        The last id is kept for the same text in the same conversation, unless the stored chat no longer shows it
        (edited away: a new message then). In a new chat the page cannot look, so the id is kept: the first send may
        have been stored in a conversation the page never heard of (a commit that failed in doubt)."""
        key = MessageKey.for_send(previous, text, conversation_id)
        view = await self._view(conversation_id, request)
        if view is None:
            return key, [{"role": "user", "content": text}]
        shown, ids = render.conversation_messages(view, request_language()), render.message_ids(view)
        if key.id in ids:
            return key, shown[: ids.index(key.id) + 1]
        if key is previous:
            key = MessageKey(uuid.uuid4(), text, key.conversation_id)
        return key, [*shown, {"role": "user", "content": text}]

    async def _message_at(
        self, conversation_id: str, index: Any, value: Any, request: gr.Request
    ) -> tuple[ConversationView, uuid.UUID, str, int]:
        """(conversation, stored message id, role, index) of the message the page shows at ``index``.

        ``value`` is what the page showed there: when the store disagrees (another tab changed the chat), the
        action is refused rather than applied to another message."""
        view = await self._view(conversation_id, request)
        shown = render.conversation_messages(view, request_language()) if view else []
        if view is None or not isinstance(index, int) or not 0 <= index < len(shown) or not _same(shown[index], value):
            raise user_error(MessageRejected(say("refusal_changed_elsewhere")))
        message_id = render.message_ids(view)[index]
        message = next(m for m in view.messages if m.id == message_id)
        return view, message.id, message.role, index

    async def take_edit(
        self, edit: gr.EditData, request: gr.Request, conversation_id: str, *settings: Any
    ) -> dict[Any, Any]:
        """Rerun from an edited question: the chat is cut at it and shows the new text."""
        text = render.without_thumbnails(edit.value if isinstance(edit.value, str) else str(edit.value or ""))
        previous = getattr(edit, "previous_value", None)
        view, message_id, role, index = await self._message_at(conversation_id, edit.index, previous, request)
        if role != "user":
            raise user_error(MessageRejected(say("refusal_edit_own")))
        pending = await self._pending(Edit(view.id, message_id, text), settings)
        images = next(m.images for m in view.messages if m.id == message_id)  # an edit keeps them
        shown = [
            *render.conversation_messages(view, request_language())[:index],
            {"role": "user", "content": render.user_content(text, images)},
        ]
        return self.controls.accepted(replace(pending, shown=shown))

    async def take_retry_at(
        self, retry: gr.RetryData, request: gr.Request, conversation_id: str, *settings: Any
    ) -> dict[Any, Any]:
        """Answer again: Gradio names the question (``retry.index``) whose reply is to be replaced."""
        view, message_id, role, index = await self._message_at(conversation_id, retry.index, retry.value, request)
        history = render.conversation_messages(view, request_language())
        if role == "user" and index + 1 < len(history):  # the reply shown right after the question
            message_id = render.message_ids(view)[index + 1]
            role = next(m.role for m in view.messages if m.id == message_id)
        if role != "assistant":
            raise user_error(MessageRejected(say("refusal_no_reply_there")))
        pending = await self._pending(Retry(view.id, message_id), settings)
        cut = index + 1 if history[index].get("role") == "user" else index
        while cut and history[cut - 1].get("role") == "assistant":
            cut -= 1
        return self.controls.accepted(replace(pending, shown=history[:cut]))

    async def take_continue(self, conversation_id: str, request: gr.Request, *settings: Any) -> dict[Any, Any]:
        view = await self._view(conversation_id, request)
        shown = render.conversation_messages(view, request_language()) if view else []
        if view is None or not shown:
            raise user_error(MessageRejected(say("refusal_no_continue")))
        pending = await self._pending(Continue(view.id), settings)
        return self.controls.accepted(replace(pending, shown=shown), show_chat=False)

    async def record_feedback(self, like: gr.LikeData, conversation_id: str, request: gr.Request) -> dict[Any, Any]:
        """👍 / 👎 (or a named flag) on a reply, tied to its generation row; opens the optional comment box."""
        view, message_id, role, _ = await self._message_at(conversation_id, like.index, like.value, request)
        cid = view.id
        if role != "assistant":
            raise user_error(MessageRejected(say("refusal_feedback_replies")))
        if self._is_temporary(cid):
            raise user_error(MessageRejected(say("refusal_temporary_rating")))
        if like.liked is True:
            value, comment = 1, ""
        elif like.liked is False or (isinstance(like.liked, str) and like.liked):
            value, comment = -1, like.liked if isinstance(like.liked, str) else ""
        else:
            value, comment = 0, ""  # clicking a chosen thumb again withdraws it (Gradio sends "")
        await self._submit(RecordFeedback(self._user_id_of(request), cid, message_id, value, comment))
        c = self.controls
        last = {"message_id": str(message_id), "value": value, "comment": comment}
        return {c.last_feedback: last, c.comment: gr.update(visible=True, value="")}

    async def add_comment(
        self, conversation_id: str, last: dict[str, Any] | None, comment: str, request: gr.Request
    ) -> Any:
        """The optional comment on the last 👍/👎: stored as a newer feedback row (the latest counts)."""
        cid = parse_conversation_id(conversation_id)
        comment = (comment or "").strip()
        if cid is None or not last:
            raise user_error(MessageRejected(say("refusal_rate_first")))
        if len(comment) > MAX_COMMENT_CHARS:
            raise user_error(MessageRejected(say("refusal_comment_long", most=f"{MAX_COMMENT_CHARS:,}")))
        joined = "; ".join(part for part in (last.get("comment") or "", comment) if part)
        job = RecordFeedback(self._user_id_of(request), cid, uuid.UUID(last["message_id"]), last["value"], joined)
        await self._submit(job)
        gr.Info(say("toast_comment_saved"))
        return gr.update(visible=False, value="")

    async def _submit(self, job: RecordFeedback) -> None:
        try:
            await self._recorder.record(job)
        except MessageRejected as exc:
            raise user_error(exc) from exc


def _same(shown: dict[str, Any], value: Any) -> bool:
    """Whether the page's value at an index is the stored message there (``None``: the page did not say)."""
    if value is None:
        return True
    content = render.without_versions(str(shown.get("content", ""))).strip()
    if isinstance(value, list):  # a group of consecutive messages (a reply and its metrics line): one of them
        return content in [render.without_versions(str(part)).strip() for part in value]
    return not isinstance(value, str) or render.without_versions(value).strip() == content
