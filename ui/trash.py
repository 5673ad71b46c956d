"""Undoing a delete: an "Undo" button for a few seconds after Delete, and "Recently deleted" to restore from later,
or to delete for good.

Delete is a soft delete (``storage.writes.Delete``): the rows stay, so restoring (``storage.writes.Restore``) brings
the conversation back exactly as it was — messages, metrics, share links. "Delete forever" (asked first) purges it
(``storage.purge``): its messages, share links and the image files nothing else names are gone; so is every
deleted conversation once ``DELETED_KEEP_DAYS`` have passed (``storage.expiry``). All go through the writer thread
and are scoped to the caller in the store.
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
    purge: gr.Button  # "Delete forever": asks first
    purge_ask: gr.Row
    purge_confirm: gr.Button
    purge_cancel: gr.Button


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
            with gr.Row():
                restore = gr.Button(t("trash_restore"), size="sm", elem_id="cl-restore")
                purge = gr.Button(t("trash_purge"), size="sm", elem_id="cl-purge")
            with gr.Row(visible=False, elem_id="cl-purge-ask") as purge_ask:
                purge_confirm = gr.Button(
                    t("trash_purge_confirm"), size="sm", variant="stop",
                    elem_id="cl-purge-confirm",
                )  # fmt: skip
                purge_cancel = gr.Button(t("trash_purge_cancel"), size="sm", elem_id="cl-purge-cancel")
        self.controls = TrashControls(
            undo, gr.State(None), timer, accordion, deleted, restore, gr.State(None),
            purge, purge_ask, purge_confirm, purge_cancel,
        )  # fmt: skip
        return self.controls

    def wire(self) -> None:
        """The events within the panel; opening what was restored is the page's (``restored`` changes)."""
        c = self.controls
        c.timer.tick(self.undo_expired, None, [c.undo, c.deleted_id, c.timer], api_visibility="private")
        c.accordion.expand(self.listing, None, [c.deleted], api_visibility="private", show_progress="hidden")

        def ask(shown: bool) -> dict[Any, Any]:
            return {c.purge_ask: gr.update(visible=shown)}

        c.purge.click(lambda: ask(True), None, [c.purge_ask], api_visibility="private", show_progress="hidden")
        c.purge_cancel.click(lambda: ask(False), None, [c.purge_ask], api_visibility="private", show_progress="hidden")
        c.purge_confirm.click(lambda: ask(False), None, [c.purge_ask], api_visibility="private").then(
            self.purge_chosen, [c.deleted], [c.deleted], api_visibility="private"
        )

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

    async def purge_chosen(self, chosen: str | None, request: gr.Request) -> dict[Any, Any]:
        """Delete the conversation chosen in "Recently deleted" for good, with the images only it named."""
        cid = parse_conversation_id(chosen)
        user_id = self._user_id_of(request)
        try:
            if cid is None:
                raise MessageRejected(say("refusal_choose_deleted"))
            await self._recorder.purge(user_id=user_id, conversation_ids=[cid])
        except ChatLensError as exc:
            raise user_error(exc) from exc
        return await self.listing(request)

    def collapse(self) -> dict[Any, Any]:
        """ "Recently deleted" closed after a change made while it may be closed: the list is read when it opens
        (an update to the list while closed could land after a later one, once it opens)."""
        return {self.controls.accordion: gr.update(open=False)}

    async def listing(self, request: gr.Request) -> dict[Any, Any]:
        found = await asyncio.to_thread(self._store.list_deleted, self._user_id_of(request))
        return {self.controls.deleted: gr.update(choices=choices_of(found), value=None)}
