"""Undoing a delete: an "Undo" button for a few seconds after Delete, and "Recently deleted" to restore from later.

Delete is a soft delete (``storage.writes.Delete``): the rows stay, so restoring (``storage.writes.Restore``) brings
the conversation back exactly as it was — messages, metrics, share links. Both go through the writer thread and
are scoped to the caller in the store.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import gradio as gr

from errors import ChatLensError, MessageRejected
from storage.store import Store
from storage.writer import WriteBehindRecorder
from ui.api import parse_conversation_id
from ui.errors import user_error
from ui.history import choices_of
from ui.i18n import say, t
from ui.turns import UserIdOf

UNDO_S = 8.0  # how long the Undo button stays after a delete


@dataclass
class TrashControls:
    undo: gr.Button
    deleted_id: gr.State  # the conversation the Undo button brings back
    timer: gr.Timer  # hides the Undo button once UNDO_S have passed
    accordion: gr.Accordion
    deleted: gr.Radio  # "Recently deleted"
    restore: gr.Button
    restored: gr.State  # the conversation just brought back, for the page to open


class TrashPanel:
    controls: TrashControls  # once rendered

    def __init__(self, *, store: Store, recorder: WriteBehindRecorder, user_id_of: UserIdOf) -> None:
        self._store = store
        self._recorder = recorder
        self._user_id_of = user_id_of

    def render(self) -> TrashControls:
        undo = gr.Button(t("trash_undo"), size="sm", visible=False, elem_id="cl-undo")
        timer = gr.Timer(UNDO_S, active=False)
        with gr.Accordion(t("trash_label"), open=False, elem_id="cl-trash") as accordion:
            deleted = gr.Radio([], label=t("trash_label"), show_label=False, elem_id="cl-deleted")
            restore = gr.Button(t("trash_restore"), size="sm", elem_id="cl-restore")
        self.controls = TrashControls(undo, gr.State(None), timer, accordion, deleted, restore, gr.State(None))
        return self.controls

    def wire(self) -> None:
        """The events within the panel; opening what was restored is the page's (``restored`` changes)."""
        c = self.controls
        c.timer.tick(self.undo_expired, None, [c.undo, c.deleted_id, c.timer], api_visibility="private")
        c.accordion.expand(self.listing, None, [c.deleted], api_visibility="private", show_progress="hidden")

    def offer_undo(self, conversation_id: uuid.UUID) -> dict[Any, Any]:
        """After a delete: the Undo button, for ``UNDO_S`` seconds."""
        c = self.controls
        return {c.undo: gr.update(visible=True), c.deleted_id: str(conversation_id), c.timer: gr.Timer(active=True)}

    def undo_expired(self) -> dict[Any, Any]:
        c = self.controls
        return {c.undo: gr.update(visible=False), c.deleted_id: None, c.timer: gr.Timer(active=False)}

    async def undo_delete(self, deleted_id: str | None, request: gr.Request) -> dict[Any, Any]:
        """Undo the last delete: the conversation is back, and the page opens it."""
        restored = await self._restore(deleted_id, request)
        return {**self.undo_expired(), self.controls.restored: restored}

    async def restore_chosen(self, chosen: str | None, request: gr.Request) -> dict[Any, Any]:
        """Restore the conversation chosen in "Recently deleted"."""
        restored = await self._restore(chosen, request)
        return {**self.undo_expired(), self.controls.restored: restored}

    async def _restore(self, conversation_id: str | None, request: gr.Request) -> str:
        cid = parse_conversation_id(conversation_id)
        try:
            if cid is None:
                raise MessageRejected(say("refusal_choose_deleted"))
            await self._recorder.restore(user_id=self._user_id_of(request), conversation_id=cid)
        except ChatLensError as exc:
            raise user_error(exc) from exc
        return str(cid)

    def collapse(self) -> dict[Any, Any]:
        """ "Recently deleted" closed after a change made while it may be closed: the list is read when it opens
        (an update to the list while closed could land after a later one, once it opens)."""
        return {self.controls.accordion: gr.update(open=False)}

    async def listing(self, request: gr.Request) -> dict[Any, Any]:
        found = await asyncio.to_thread(self._store.list_deleted, self._user_id_of(request))
        return {self.controls.deleted: gr.update(choices=choices_of(found), value=None)}
