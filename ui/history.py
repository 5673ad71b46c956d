"""The conversation sidebar: the user's conversations, newest first, with search, open, rename and delete.

Reads run in a thread (``Store.list_conversations``); renames and deletes go through the writer thread like every
other write. Every call is scoped to the caller's identity in the store, not only in the page.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import gradio as gr

from errors import ChatLensError, MessageRejected
from storage.store import ConversationSummary, Store
from storage.writer import WriteBehindRecorder
from ui.errors import user_error
from ui.i18n import say, t

MAX_TITLE_CHARS = 120
T = TypeVar("T")

# Narrow screens start with the list closed (an open sidebar covers a phone's whole width).
CLOSE_ON_PHONES_JS = """
() => {
  const side = document.querySelector('#cl-history');
  if (window.innerWidth < 768 && side && side.classList.contains('open')) {
    side.querySelector('.toggle-button')?.click();
  }
}
"""


def relative_time(moment: datetime, now: datetime | None = None) -> str:
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600), (86400 * 30, "d", 86400)):
        if seconds < limit:
            return "now" if unit == "s" else f"{int(seconds // size)} {unit} ago"
    return moment.strftime("%Y-%m-%d")


def choices_of(conversations: list[ConversationSummary]) -> list[tuple[str, str]]:
    return [(f"{c.title or 'Untitled'} · {relative_time(c.updated_at)}", str(c.id)) for c in conversations]


@dataclass
class HistoryControls:
    search: gr.Textbox
    conversations: gr.Radio
    title: gr.Textbox
    rename: gr.Button
    delete: gr.Button


class HistoryPanel:
    controls: HistoryControls  # once rendered

    def __init__(self, *, store: Store, recorder: WriteBehindRecorder) -> None:
        self._store = store
        self._recorder = recorder

    def render(self, extra: Callable[[], T]) -> tuple[HistoryControls, T]:
        """The sidebar; ``extra`` renders more controls at its foot (export, import, share)."""
        with gr.Sidebar(label=t("history_label"), position="left", open=True, elem_id="cl-history", width=290):
            search = gr.Textbox(
                placeholder=t("history_search_placeholder"), label=t("history_search"), show_label=False,
                elem_id="cl-search", max_lines=1,
            )  # fmt: skip
            conversations = gr.Radio(
                [], label=t("history_label"), show_label=False, elem_id="cl-conversations", elem_classes=["cl-list"]
            )
            with gr.Group():
                title = gr.Textbox(label=t("history_title"), max_lines=1, elem_id="cl-title")
                with gr.Row():
                    rename = gr.Button(t("history_rename"), size="sm", elem_id="cl-rename")
                    delete = gr.Button(t("history_delete"), size="sm", variant="stop", elem_id="cl-delete")
            more = extra()
        self.controls = HistoryControls(search, conversations, title, rename, delete)
        return self.controls, more

    async def listing(self, user_id: uuid.UUID, search: str, current: str | None) -> dict[Any, Any]:
        """The list (filtered by ``search``) with ``current`` selected, and the current conversation's title (left
        as it is when the filtered list does not show the current conversation)."""
        found = await asyncio.to_thread(self._store.list_conversations, user_id, search=search or "")
        shown = next((summary for summary in found if str(summary.id) == current), None)
        c = self.controls
        listing = {c.conversations: gr.update(choices=choices_of(found), value=current if shown is not None else None)}
        if shown is not None:
            return {**listing, c.title: shown.title}
        return listing if current else {**listing, c.title: ""}

    async def rename(self, user_id: uuid.UUID, conversation_id: uuid.UUID | None, title: str) -> None:
        title = " ".join((title or "").split())
        try:
            if conversation_id is None:
                raise MessageRejected(say("refusal_open_first"))
            if not title:
                raise MessageRejected(say("refusal_title_empty"))
            if len(title) > MAX_TITLE_CHARS:
                raise MessageRejected(say("refusal_title_long", most=MAX_TITLE_CHARS, given=len(title)))
            await self._recorder.rename(user_id=user_id, conversation_id=conversation_id, title=title)
        except ChatLensError as exc:
            raise user_error(exc) from exc

    async def delete(self, user_id: uuid.UUID, conversation_id: uuid.UUID | None) -> None:
        try:
            if conversation_id is None:
                raise MessageRejected(say("refusal_open_first"))
            await self._recorder.delete(user_id=user_id, conversation_id=conversation_id)
        except ChatLensError as exc:
            raise user_error(exc) from exc
