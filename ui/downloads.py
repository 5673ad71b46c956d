"""A file a handler returns for download, registered so that only its owner can fetch it (``access.downloads``)."""

from __future__ import annotations

import uuid
from pathlib import Path

from gradio import processing_utils
from gradio_client import utils as client_utils

from access.downloads import Downloads


def owned_download(downloads: Downloads, path: Path, owner: uuid.UUID) -> str:
    """``path`` as a handler returns it, after registering the name Gradio's cache will serve it under
    (``<content hash>/<file name>``, as ``processing_utils.save_file_to_cache`` makes it) to ``owner``."""
    name = client_utils.strip_invalid_filename_characters(path.name)
    downloads.grant(f"{processing_utils.hash_file(path)}/{name}", str(owner))
    return str(path)
