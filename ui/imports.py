"""Importing conversations: ChatLens's own JSON, ChatGPT's ``conversations.json``, Open WebUI's chat export.

A file is read and checked first, with a progress bar (``storage.import_formats``: refused as a whole, with the
reason, or a preview of how many conversations and messages will be imported and what is left out). Nothing is
written until the user confirms. The conversations are then written in parts of ``PART_CONVERSATIONS`` through
the writer thread, so other users' turns are not held up behind one long transaction; a part that fails takes
back the parts already written (``ForgetImport``), so nothing partial stays.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import gradio as gr

import locales
from errors import ChatLensError, MessageRejected
from storage.import_formats import ImportBatch, parse_export
from storage.side_writes import ForgetImport, ImportConversations
from storage.writer import WriteBehindRecorder
from ui.errors import request_language, user_error
from ui.i18n import t
from ui.turns import UserIdOf

PART_CONVERSATIONS = 250


@dataclass
class ImportControls:
    upload: gr.UploadButton
    preview: gr.Markdown  # what the file holds, before anything is written; the progress bars show here
    ask: gr.Row  # Import / Cancel
    confirm: gr.Button
    cancel: gr.Button
    batch: gr.State  # the checked file, waiting for the confirmation (server-side session memory)
    imported: gr.State  # the first conversation written, for the page to open


class ImportPanel:
    controls: ImportControls  # once rendered

    def __init__(
        self, *, recorder: WriteBehindRecorder, user_id_of: UserIdOf, max_bytes: int, keeps_text: bool = True
    ) -> None:
        """``keeps_text`` false (privacy mode): every import is refused before the file is read."""
        self._keeps_text = keeps_text
        self._recorder = recorder
        self._user_id_of = user_id_of
        self._max_bytes = max_bytes

    def render_button(self) -> gr.UploadButton:
        return gr.UploadButton(
            str(t("portability_import")), size="sm", file_types=[".json"], type="binary", elem_id="cl-import"
        )

    def render(self, upload: gr.UploadButton) -> ImportControls:
        """The preview and its buttons, under the row holding ``upload``."""
        preview = gr.Markdown("", elem_id="cl-import-preview")
        with gr.Row(visible=False, elem_id="cl-import-ask") as ask:
            confirm = gr.Button(t("import_confirm"), size="sm", variant="primary", elem_id="cl-import-confirm")
            cancel = gr.Button(t("import_cancel"), size="sm", elem_id="cl-import-cancel")
        self.controls = ImportControls(upload, preview, ask, confirm, cancel, gr.State(None), gr.State(None))
        return self.controls

    def wire(self) -> Any:
        """The events; returns the confirmation's, which the page follows by opening ``imported``."""
        c = self.controls
        c.upload.upload(self.preview, [c.upload], [c.preview, c.ask, c.batch], api_visibility="private")
        c.cancel.click(self.cancelled, None, [c.preview, c.ask, c.batch], api_visibility="private")
        return c.confirm.click(
            self.import_confirmed, [c.batch], [c.preview, c.ask, c.batch, c.imported], api_visibility="private"
        )

    async def preview(self, data: bytes | None, progress: gr.Progress = gr.Progress()) -> dict[Any, Any]:  # noqa: B008
        """Read and check the file (nothing is written): what it holds, and Import / Cancel."""
        c = self.controls
        language = request_language()
        progress(0, desc=locales.text("import_reading", language))
        checking, unit = locales.text("import_checking", language), locales.text("import_unit", language)

        def read() -> ImportBatch:
            return parse_export(
                data or b"",
                max_bytes=self._max_bytes,
                progress=lambda done, total: progress((done, total), desc=checking, unit=unit),
            )

        try:
            if not self._keeps_text:
                raise MessageRejected(locales.text("refusal_privacy_import", language))
            batch = await asyncio.to_thread(read)
        except ChatLensError as exc:
            raise user_error(exc) from exc
        return {c.preview: preview_of(batch, language), c.ask: gr.update(visible=True), c.batch: batch}

    def cancelled(self) -> dict[Any, Any]:
        c = self.controls
        return {c.preview: "", c.ask: gr.update(visible=False), c.batch: None}

    async def import_confirmed(
        self,
        batch: ImportBatch | None,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> dict[Any, Any]:
        """Write the previewed conversations, part by part; all or nothing."""
        c = self.controls
        if batch is None:
            return self.cancelled()
        user_id = self._user_id_of(request)
        written: list[uuid.UUID] = []
        total = len(batch.conversations)
        language = request_language()
        writing, unit = locales.text("import_writing", language), locales.text("import_unit", language)
        try:
            for start in range(0, total, PART_CONVERSATIONS):
                progress((start, total), desc=writing, unit=unit)
                part = batch.conversations[start : start + PART_CONVERSATIONS]
                written += await self._recorder.record(ImportConversations(user_id, part))
        except ChatLensError as exc:
            if written:
                await self._recorder.record(ForgetImport(user_id, tuple(written)))
            raise user_error(exc) from exc
        gr.Info(
            locales.text(
                "import_done", language, source=batch.source,
                conversations=locales.counted("conversation", total, language),
                messages=locales.counted("message", batch.message_count, language),
            )
        )  # fmt: skip
        return {**self.cancelled(), c.imported: str(written[0])}


def preview_of(batch: ImportBatch, language: str) -> str:
    """The preview in ``language``: what will be imported, and what will not (``ImportBatch.summary`` in English)."""

    def counted(noun: str, count: int) -> str:
        return locales.counted(noun, count, language)

    lines = [
        locales.text(
            "import_preview", language, source=batch.source,
            conversations=counted("conversation", len(batch.conversations)),
            messages=counted("message", batch.message_count),
        )
    ]  # fmt: skip
    left = [
        locales.text(key, language, **{field: counted(noun, count)})
        for key, field, noun, count in (
            ("import_skipped_messages", "messages", "message", batch.skipped_messages),
            ("import_skipped_parts", "parts", "part", batch.skipped_parts),
            ("import_dropped_images", "images", "image", batch.dropped_images),
            ("import_empty", "conversations", "conversation", batch.empty_conversations),
        )
        if count
    ]
    if left:
        joined = locales.text("list_separator", language).join(left)
        lines.append(joined[0].upper() + joined[1:] + ".")
    return "\n\n".join(lines)
