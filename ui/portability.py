"""Taking conversations out and in: export (Markdown + JSON downloads), import (``ui.imports``), read-only share links.

A share link shows a snapshot taken when it was made (later messages never appear through it) behind a 256-bit
random token, of which only the SHA-256 is stored; its owner can revoke every link of a conversation at once.
Every action is scoped to the caller in the store (``storage.side_writes`` checks ownership on the writer thread).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.route_utils import get_root_url

from access.downloads import Downloads
from errors import ChatLensError, MessageRejected
from storage import portability
from storage.side_writes import CreateShare, RevokeShares
from storage.store import ConversationView, Store
from storage.temporary import TemporaryChats
from storage.writer import WriteBehindRecorder
from ui.api import parse_conversation_id
from ui.downloads import owned_download
from ui.errors import user_error
from ui.i18n import say, t
from ui.imports import ImportControls, ImportPanel
from ui.turns import UserIdOf
from web.share import SHARE_PATH, token_hash


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:60].lower() or "conversation"


def _root_url(request: gr.Request) -> str:
    """The app's public address as the browser sees it (proxy headers included)."""
    http = request.request
    return get_root_url(http, http.url.path, None) if http is not None else ""


@dataclass
class PortabilityControls:
    export: gr.Button
    files: gr.File
    imports: ImportControls
    share: gr.Button
    revoke: gr.Button
    link: gr.Textbox
    confirm: gr.Row  # "Revoke every link?" with its two buttons, shown after Revoke links
    revoke_confirm: gr.Button
    revoke_cancel: gr.Button


class PortabilityPanel:
    controls: PortabilityControls  # once rendered

    def __init__(
        self,
        *,
        store: Store,
        recorder: WriteBehindRecorder,
        user_id_of: UserIdOf,
        downloads: Downloads,
        import_max_bytes: int,
        temporary: TemporaryChats | None = None,
        keeps_text: bool = True,
    ) -> None:
        self._temporary = temporary
        self.imports = ImportPanel(
            recorder=recorder, user_id_of=user_id_of, max_bytes=import_max_bytes, keeps_text=keeps_text
        )
        self._store = store
        self._downloads = downloads
        self._recorder = recorder
        self._user_id_of = user_id_of
        self._exports = Path(tempfile.mkdtemp(prefix="chatlens-exports-"))

    def render(self) -> PortabilityControls:
        with gr.Accordion(t("portability_label"), open=False, elem_id="cl-portability"):
            with gr.Row():
                export = gr.Button(t("portability_export"), size="sm", elem_id="cl-export")
                upload = self.imports.render_button()
            imports = self.imports.render(upload)
            files = gr.File(
                label=t("portability_downloads"),
                visible=False,
                file_count="multiple",
                interactive=False,
                elem_id="cl-files",
            )
            with gr.Row():
                share = gr.Button(t("portability_share"), size="sm", elem_id="cl-share")
                revoke = gr.Button(t("portability_revoke"), size="sm", elem_id="cl-revoke")
            with gr.Row(visible=False, elem_id="cl-revoke-ask") as confirm:
                revoke_confirm = gr.Button(t("revoke_confirm"), size="sm", variant="stop", elem_id="cl-revoke-confirm")
                revoke_cancel = gr.Button(t("revoke_cancel"), size="sm", elem_id="cl-revoke-cancel")
            link = gr.Textbox(
                label=t("portability_link"), visible=False, elem_id="cl-link",
                buttons=["copy"], interactive=False,
            )  # fmt: skip
        self.controls = PortabilityControls(
            export, files, imports, share, revoke, link, confirm, revoke_confirm, revoke_cancel
        )
        return self.controls

    def wire_revoke(self, conversation_id: gr.Textbox) -> None:
        """Revoke links asks first: nothing is revoked until the confirmation is clicked."""
        c = self.controls

        def ask(shown: bool) -> dict[Any, Any]:
            return {c.confirm: gr.update(visible=shown)}

        c.revoke.click(lambda: ask(True), None, [c.confirm], api_visibility="private", show_progress="hidden")
        c.revoke_cancel.click(lambda: ask(False), None, [c.confirm], api_visibility="private", show_progress="hidden")
        c.revoke_confirm.click(lambda: ask(False), None, [c.confirm], api_visibility="private").then(
            self.revoke, [conversation_id], [c.link], api_visibility="private"
        )

    async def _owned_view(
        self, conversation_id: str, request: gr.Request, *, every_version: bool = False
    ) -> ConversationView:
        cid, user_id = parse_conversation_id(conversation_id), self._user_id_of(request)
        if self._temporary is not None and self._temporary.holds(cid):
            raise user_error(MessageRejected(say("refusal_temporary_share")))
        load = self._store.load_conversation
        view = await asyncio.to_thread(load, cid, user_id, every_version=every_version) if cid else None
        if view is None:
            raise user_error(MessageRejected(say("refusal_open_first")))
        return view

    async def export(self, conversation_id: str, request: gr.Request) -> Any:
        """The open conversation as Markdown (the branch on screen) and as JSON (with each reply's metrics, and every
        version: ``storage.portability``)."""
        view = await self._owned_view(conversation_id, request, every_version=True)
        await asyncio.to_thread(self._forget_old_exports)
        folder = self._exports / uuid.uuid4().hex
        folder.mkdir()
        name = _slug(view.title)
        markdown, document = folder / f"{name}.md", folder / f"{name}.json"
        markdown.write_text(portability.export_markdown(view), encoding="utf-8")
        document.write_text(portability.export_json(view, exported_at=datetime.now(UTC)), encoding="utf-8")
        owner = self._user_id_of(request)
        files = [owned_download(self._downloads, path, owner) for path in (markdown, document)]
        return gr.update(value=files, visible=True)

    def _forget_old_exports(self, max_age_s: float = 3600) -> None:
        """Gradio has served (and cached) an export once it is downloaded; our copies need not outlive an hour."""
        cutoff = time.time() - max_age_s
        for folder in self._exports.iterdir():
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    async def share(self, conversation_id: str, request: gr.Request) -> Any:
        view = await self._owned_view(conversation_id, request)
        token = secrets.token_urlsafe(32)
        snapshot = {
            "title": view.title,
            "model_id": view.model_id,
            "shared_at": datetime.now(UTC).isoformat(),
            "messages": [portability.message_record(m) for m in view.messages],
        }
        try:
            await self._recorder.record(CreateShare(self._user_id_of(request), view.id, token_hash(token), snapshot))
        except ChatLensError as exc:
            raise user_error(exc) from exc
        return gr.update(value=f"{_root_url(request)}{SHARE_PATH}{token}", visible=True)

    async def revoke(self, conversation_id: str, request: gr.Request) -> Any:
        view = await self._owned_view(conversation_id, request)
        try:
            count = await self._recorder.record(RevokeShares(self._user_id_of(request), view.id))
        except ChatLensError as exc:
            raise user_error(exc) from exc
        gr.Info(say("revoke_done_one" if count == 1 else "revoke_done_many", count=count))
        return gr.update(value="", visible=False)
