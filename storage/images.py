"""Image files: the bytes of attached images, outside the database and outside message text.

Content-addressed and scoped to the owner: an image is ``<root>/<user id>/<sha256>``, so the same picture sent twice
by one user is one file, and no user's file is ever another's. Files are written (to a temporary name, then renamed)
before the message that names them is committed, so a stored row never points at a missing file; a file whose
message was never committed is harmless (nothing names it, nothing serves it). A deleted conversation keeps its
rows (its images are refused by ``Store.image_for_owner``), and a share snapshot names its images by hash.

Files are removed only when a conversation is purged for good (``storage.purge``): a file no row and no standing
share snapshot of its owner names is set aside (renamed) inside the purge's transaction and unlinked once it has
committed, or put back if it did not. A message committed meanwhile writes its file again (``ensure``), so a row
never outlives its file.

Which rows may be served is decided by the store (``Store.image_for_owner``, ``Store.image_for_share``); this
module only keeps bytes. Blocking I/O: call it off the event loop.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from inference.images import Image, ImageRef

_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(text: str) -> bool:
    return _SHA256.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class SetAside:
    """A file moved out of reach by a purge: unlinked once the purge commits, put back if it does not."""

    path: Path
    aside: Path

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.aside.unlink()

    def put_back(self) -> None:
        # Content-addressed: a file written again meanwhile has the same bytes, so replacing it changes nothing.
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.aside, self.path)


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

    def ensure(self, owner: uuid.UUID, images: Iterable[Image]) -> None:
        """Write again any of ``images`` whose file is gone (a purge removed it after ``save`` found it there)."""
        missing = [image for image in images if not self._path(owner, image.ref.sha256).exists()]
        if missing:
            self.save(owner, missing)

    def set_aside(self, owner: uuid.UUID, sha256: str) -> SetAside | None:
        """Move a file out of reach (a rename, so it can be put back); ``None`` if it is not there."""
        path = self._path(owner, sha256)
        aside = path.with_name(f".{sha256}.purged.{uuid.uuid4().hex}")
        try:
            os.replace(path, aside)
        except FileNotFoundError:
            return None
        return SetAside(path, aside)

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
