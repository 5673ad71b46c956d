""" "Recently deleted" expires: a conversation deleted more than ``DELETED_KEEP_DAYS`` ago is purged for good, with the
image files only it named (``storage.purge``).

A daemon thread, off every reply's path: at start and then every ``interval_s`` it reads which owners have expired
conversations and queues one purge per owner on the writer thread (each takes its owner's lock, like any purge).
With several replicas (PostgreSQL) each runs it; purging what another replica purged already finds nothing.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import select

from storage.purge import Purge, Purged
from storage.schema import Conversation, utcnow
from storage.store import Store
from storage.writer import WriteBehindRecorder

log = logging.getLogger(__name__)


class DeletedExpiry:
    def __init__(
        self, store: Store, recorder: WriteBehindRecorder, *, keep_days: float, interval_s: float = 3600.0
    ) -> None:
        self._store = store
        self._recorder = recorder
        self.keep_days = keep_days  # 0: deleted conversations are kept until restored or purged by hand
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def purge_expired(self, timeout_s: float = 60.0) -> list[Purged]:
        """Purge every conversation deleted more than ``keep_days`` ago; what was purged, per owner."""
        if self.keep_days <= 0:
            return []
        before = utcnow() - timedelta(days=self.keep_days)
        with self._store.sessions() as session:
            owners = list(
                session.scalars(select(Conversation.user_id).where(Conversation.deleted_at < before).distinct())
            )
        futures = [self._recorder.purge_later(Purge(owner, deleted_before=before)) for owner in owners]
        return [future.result(timeout_s) for future in futures]

    def start(self) -> threading.Thread | None:
        if self.keep_days <= 0:
            return None

        def loop() -> None:
            while True:
                try:
                    purged = self.purge_expired()
                    if removed := sum(len(p.conversation_ids) for p in purged):
                        files = sum(p.files for p in purged)
                        log.info("purged %d expired deleted conversations and %d image files", removed, files)
                except Exception:
                    log.exception("purging expired deleted conversations failed; trying again later")
                if self._stop.wait(self.interval_s):
                    return

        self._thread = threading.Thread(target=loop, name="chatlens-deleted-expiry", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
