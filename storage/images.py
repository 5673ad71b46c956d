"""Image files: the bytes of attached images, outside the database and outside message text.

Content-addressed and scoped to the owner: an image is ``<root>/<user id>/<sha256>``, so the same picture sent twice
by one user is one file, and no user's file is ever another's. Files are written (to a temporary name, then renamed)
before the message that names them is committed, so a stored row never points at a missing file; a file whose
message was never committed is harmless (nothing names it, nothing serves it). Files are never removed while a
row may name them: a deleted conversation keeps its rows (its images are refused by ``Store.image_for_owner``),
and a share snapshot names its images by hash.

Which rows may be served is decided by the store (``Store.image_for_owner``, ``Store.image_for_share``); this
module only keeps bytes. Blocking I/O: call it off the event loop.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

from inference.images import Image, ImageRef

_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(text: str) -> bool:
    return _SHA256.fullmatch(text) is not None


class ImageFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, owner: uuid.UUID, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / str(owner) / sha256

    def save(self, owner: uuid.UUID, images: Iterable[Image]) -> tuple[ImageRef, ...]:
        """Write each image once (already there: left as it is); returns the references the rows keep."""
        refs = []
        for image in images:
            ref = image.ref
            path = self._path(owner, ref.sha256)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(f".{ref.sha256}.{uuid.uuid4().hex}")
                partial.write_bytes(image.data)
                os.replace(partial, path)
            refs.append(ref)
        return tuple(refs)

    def read(self, owner: uuid.UUID, sha256: str) -> bytes | None:
        try:
            return self._path(owner, sha256).read_bytes()
        except (OSError, ValueError):
            return None

    def load(self, owner: uuid.UUID, refs: Iterable[ImageRef]) -> tuple[Image, ...]:
        """The images named by ``refs``, as the model is sent them; a file gone missing is left out."""
        loaded = []
        for ref in refs:
            data = self.read(owner, ref.sha256)
            if data is not None:
                loaded.append(Image(ref.mime_type, data, ref.name, sha256=ref.sha256))
        return tuple(loaded)
