"""Images attached to a message on the page and through ``/chat``: the composer, and uploaded files as checked images.

The composer is Gradio's ``MultimodalTextbox`` (its attach button, drag-and-drop and paste) with elem_id
``cl-input``; its attach button is shown only while the chosen model server says it sees images. Whatever the page
shows, every file is checked by its bytes here (``inference.images``) and refused with the reason; the refusal
leaves the box as it was, the typed text included. Privacy mode keeps no content, images included: none are taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from errors import MessageRejected
from inference.images import Image, checked_images
from inference.types import ModelInfo
from settings import Settings
from ui.i18n import say, t

EMPTY: dict[str, Any] = {"text": "", "files": []}
CSS = """
.cl-thumbs { display: flex; flex-wrap: wrap; gap: .4rem; margin-top: .4rem; }
.cl-thumb { max-height: 9rem; max-width: 14rem; border-radius: .45rem; object-fit: cover; }
"""


def composer(settings: Settings) -> gr.MultimodalTextbox:
    """The message box: text, plus an attach button while the model sees images (``attach_update``)."""
    return gr.MultimodalTextbox(
        elem_id="cl-input",
        show_label=False,
        label=t("composer_label"),
        placeholder=str(t("composer_placeholder")),
        lines=1,
        max_lines=12,
        scale=8,
        autofocus=True,
        sources=[],  # no attach button until the model server says it sees
        file_types=["image"],
        file_count="multiple",
        submit_btn=False,
        # Gradio turns pasted text longer than this into a .txt attachment: a long paste must stay text.
        max_plain_text_length=settings.max_message_chars + 1,
    )


def sees(info: ModelInfo | None, settings: Settings) -> bool:
    return info is not None and info.vision is True and settings.store_content


def attach_update(info: ModelInfo | None, settings: Settings) -> Any:
    return gr.update(sources=["upload"] if sees(info, settings) else [])


def typed(value: Any) -> tuple[str, list[str]]:
    """(text, uploaded file paths) of the composer's value (a plain string from older callers)."""
    if isinstance(value, dict):
        return str(value.get("text") or ""), [str(f) for f in value.get("files") or []]
    return str(value or ""), []


async def read_images(paths: Sequence[str | Path], settings: Settings) -> tuple[Image, ...]:
    """The uploaded files as checked images; ``MessageRejected`` (with the reason) for what is not taken."""
    if not paths:
        return ()
    if not settings.store_content:
        raise MessageRejected(say("refusal_privacy_images"))
    if len(paths) > settings.images_per_message:  # refused before anything is read
        return checked_images([("", b"")] * len(paths), max_images=settings.images_per_message)
    files = await asyncio.to_thread(lambda: [(Path(p).name, Path(p).read_bytes()) for p in paths])
    return checked_images(files, max_bytes=settings.image_max_bytes, max_images=settings.images_per_message)
