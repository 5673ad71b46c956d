"""Images attached to a message: checked, then sent as OpenAI-style ``image_url`` parts with data URLs.

TGI (for VLMs such as Qwen2-VL, Idefics, Llava-Next, Gemma 3), vLLM and llama-server (with ``--mmproj``) take a user
message's ``content`` as a list of parts, ``[{"type": "text", …}, {"type": "image_url", "image_url": {"url":
"data:image/png;base64,…"}}]`` (``shared/reference/reasoning-and-vision.md``). Only data URLs are made: an
http(s) URL would make the *server* fetch the image.

What is accepted is decided by the bytes, never by the name or the declared type: PNG, JPEG, WebP and GIF by their
signatures, at most ``max_bytes`` per image and ``max_images`` per message. Refusals are ``MessageRejected`` with
the reason (the page keeps the typed text). Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import errors

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGES_PER_MESSAGE = 4
# Server pipeline tags of models that see (TGI's /info ``model_pipeline_tag``).
VISION_PIPELINES = frozenset({"image-text-to-text", "visual-question-answering", "image-to-text"})


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A stored image, named by the SHA-256 of its bytes (content-addressed); ``name`` is the user's file name."""

    sha256: str
    mime_type: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Image:
    """One checked image: its MIME type (from its bytes), the bytes, and the file name it came with (shown only)."""

    mime_type: str
    data: bytes
    name: str = ""
    sha256: str = field(default="", compare=False)  # of ``data``: hashed once, when made

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    @property
    def data_url(self) -> str:
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def ref(self) -> ImageRef:
        return ImageRef(self.sha256, self.mime_type, self.name)


def image_type(data: bytes) -> str | None:
    """The MIME type the bytes are (PNG, JPEG, WebP, GIF), or ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def checked_images(
    files: Sequence[tuple[str, bytes]],
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_images: int = MAX_IMAGES_PER_MESSAGE,
) -> tuple[Image, ...]:
    """``(name, bytes)`` pairs as images, or ``MessageRejected`` naming the first one refused and why."""
    if len(files) > max_images:
        raise errors.MessageRejected(
            f"A message takes at most {max_images} images; this one has {len(files)}. Remove some and send again."
        )
    images = []
    for name, data in files:
        shown = _shown_name(name)
        kind = image_type(data)
        if kind is None:
            raise errors.MessageRejected(f"{shown} is not a PNG, JPEG, WebP or GIF image.")
        if len(data) > max_bytes:
            raise errors.MessageRejected(
                f"{shown} is {_size(len(data))}; images are limited to {_size(max_bytes)} each."
            )
        images.append(Image(kind, data, " ".join((name or "").split())[:120]))
    return tuple(images)


def content_parts(text: str, images: Sequence[Image]) -> str | list[dict[str, object]]:
    """A message's ``content`` as sent: plain text, or the text then one ``image_url`` part per image."""
    if not images:
        return text
    parts: list[dict[str, object]] = [{"type": "text", "text": text}] if text else []
    parts += [{"type": "image_url", "image_url": {"url": image.data_url}} for image in images]
    return parts


def _size(count: int) -> str:
    if count >= 1_048_576:
        return f"{count / 1_048_576:.1f}".removesuffix(".0") + " MB"
    return f"{-(-count // 1024)} KB"


def _shown_name(name: str) -> str:
    """A file name as it may appear in a message: one line, short (it is the user's, and may be hostile)."""
    flat = " ".join((name or "the file").split())
    return repr(flat if len(flat) <= 60 else flat[:59] + "…")
