"""Privacy mode (``STORE_CONTENT=false``): message text is never written to the database; the metrics still are.

A running conversation still needs its earlier turns (the model gets them as context, the page reloads them after
Stop), so the text is kept in this process's memory only: a bounded, least-recently-used map from message id to
text. It is gone when the process stops; an old conversation then continues without its earlier text, and its
messages show as empty. Conversation titles taken from the first message are not stored either.

Thread-safe: the writer thread remembers, reader threads recall.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict

PRIVATE_TITLE = ""


class ContentKeeper:
    def __init__(self, *, max_messages: int = 50_000) -> None:
        self._texts: OrderedDict[uuid.UUID, str] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_messages

    def remember(self, message_id: uuid.UUID, content: str) -> str:
        """Keep ``content`` in memory; returns what the database gets instead (nothing)."""
        with self._lock:
            self._texts[message_id] = content
            self._texts.move_to_end(message_id)
            while len(self._texts) > self._max:
                self._texts.popitem(last=False)
        return ""

    def recall(self, message_id: uuid.UUID, stored: str) -> str:
        """The text of a message read back from the database: from memory if this process still has it."""
        with self._lock:
            text = self._texts.get(message_id)
            if text is not None:
                self._texts.move_to_end(message_id)
        return text if text is not None else stored

    def __len__(self) -> int:
        return len(self._texts)
