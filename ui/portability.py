"""Taking conversations out and in: export (Markdown + JSON downloads), import (JSON), read-only share links.

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
from storage.side_writes import CreateShare, ImportConversation, RevokeShares
from storage.store import ConversationView, Store
from storage.writer import WriteBehindRecorder
from ui.api import parse_conversation_id
from ui.downloads import owned_download
from ui.errors import user_error
from ui.i18n import t
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
    upload: gr.UploadButton
    imported: gr.State
    share: gr.Button
    revoke: gr.Button
    link: gr.Textbox


class PortabilityPanel:
    def __init__(
        self, *, store: Store, recorder: WriteBehindRecorder, user_id_of: UserIdOf, downloads: Downloads
    ) -> None:
        self._store = store
        self._downloads = downloads
        self._recorder = recorder
        self._user_id_of = user_id_of
        self._exports = Path(tempfile.mkdtemp(prefix="chatlens-exports-"))

    def render(self) -> PortabilityControls:
        with gr.Accordion(t("portability_label"), open=False, elem_id="cl-portability"):
            with gr.Row():
                export = gr.Button(t("portability_export"), size="sm", elem_id="cl-export")
                upload = gr.UploadButton(
                    str(t("portability_import")), size="sm", file_types=[".json"], type="binary", elem_id="cl-import"
                )
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
            link = gr.Textbox(
                label=t("portability_link"), visible=False, elem_id="cl-link",
                buttons=["copy"], interactive=False,
            )  # fmt: skip
        return PortabilityControls(export, files, upload, gr.State(None), share, revoke, link)

    async def _owned_view(self, conversation_id: str, request: gr.Request) -> ConversationView:
        cid = parse_conversation_id(conversation_id)
        view = await asyncio.to_thread(self._store.load_conversation, cid, self._user_id_of(request)) if cid else None
        if view is None:
            raise user_error(MessageRejected("Open a conversation first."))
        return view

    async def export(self, conversation_id: str, request: gr.Request) -> Any:
        """The open conversation as Markdown and as JSON (with each reply's metrics)."""
        view = await self._owned_view(conversation_id, request)
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

    async def import_(self, data: bytes | None, request: gr.Request) -> str:
        """A ChatLens JSON export becomes a new conversation of the caller's (messages only, no metrics)."""
        try:
            conversation = portability.parse_import(data or b"")
            cid: uuid.UUID = await self._recorder.record(ImportConversation(self._user_id_of(request), conversation))
        except ChatLensError as exc:
            raise user_error(exc) from exc
        gr.Info(f"Imported “{conversation.title or 'Untitled'}” ({len(conversation.messages)} messages).")
        return str(cid)

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
        gr.Info(f"Revoked {count} share link{'s' if count != 1 else ''}: they now show “not found”.")
        return gr.update(value="", visible=False)
