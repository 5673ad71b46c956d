"""Files made for one user (conversation exports, the admins' CSV and Parquet downloads), served to that user only.

Gradio serves every file a handler returns from its cache as ``/gradio_api/file=<cache dir>/<hash>/<name>`` to
anyone holding the URL (measured, issue 15: another browser, and a client with no cookie at all, fetched a user's
export). The handler that makes such a file registers the cache name Gradio will give it (``<hash>/<name>``, the
content hash Gradio computes) with its owner; the gate (``access.gate``) then answers 404 to anyone else asking for
that name. Files nobody registered (Gradio's own assets, uploads) are left to Gradio.

Bounded and in this process, like Gradio's cache: past ``max_entries`` the oldest name is forgotten (a name, once
registered, never becomes public by age).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from urllib.parse import unquote

FILE_PREFIX = "/gradio_api/file="


def cache_name(path: str) -> str:
    """The last two parts of a cached file's path (``<hash>/<name>``): what identifies it in Gradio's cache."""
    parts = unquote(path).replace("\\", "/").rstrip("/").split("/")
    return "/".join(parts[-2:])


class Downloads:
    def __init__(self, *, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._owners: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._lock = threading.Lock()

    def grant(self, name: str, owner: str) -> None:
        """``owner`` (a user id) may fetch the cached file ``name`` (``<hash>/<file name>``); others may not."""
        with self._lock:
            self._owners[name] = self._owners.get(name, frozenset()) | {owner}
            self._owners.move_to_end(name)
            while len(self._owners) > self.max_entries:
                self._owners.popitem(last=False)

    def may_fetch(self, file_path: str, who: str | None) -> bool:
        """False when ``file_path`` is a registered download and ``who`` is not one of its owners."""
        with self._lock:
            owners = self._owners.get(cache_name(file_path))
        return owners is None or (who is not None and who in owners)
