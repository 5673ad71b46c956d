"""The write-behind recorder: one writer thread owns every write and commits them in groups.

Callers on the event loop hand over a job and get a future; the thread drains whatever is queued, runs it in one
transaction and commits once (group commit), so 128 replies ending together cost one fsync, not 128, and the
event loop never waits on the database. A failing batch is retried job by job so one bad row cannot sink others.
Satisfies ``inference.service.Recorder`` structurally.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from analytics.store import Store
from inference.errors import ChatLensError
from inference.types import TurnRecord, TurnStart

log = logging.getLogger(__name__)

T = TypeVar("T")


class StorageFailed(ChatLensError):
    kind = "storage"
    default_message = "ChatLens could not save this message. Nothing was sent to the model; please retry."


@dataclass(slots=True)
class _Job:
    run: Callable[[Session], Any]
    future: concurrent.futures.Future[Any]


class WriteBehindRecorder:
    def __init__(self, store: Store, *, max_batch: int = 512) -> None:
        self._store = store
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="chatlens-db-writer", daemon=True)
        self.commit_ms: deque[float] = deque(maxlen=10_000)
        self._thread.start()

    def submit(self, run: Callable[[Session], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put(_Job(run, future))
        return future

    async def begin_turn(
        self, *, user_id: uuid.UUID, conversation_id: uuid.UUID | None, content: str, model_id: str | None
    ) -> TurnStart:
        return await self._await(
            self.submit(
                lambda s: self._store.add_user_message(
                    s, user_id=user_id, conversation_id=conversation_id, content=content, model_id=model_id
                )
            )
        )

    async def begin_retry(self, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> TurnStart:
        return await self._await(
            self.submit(lambda s: self._store.supersede_last_reply(s, user_id=user_id, conversation_id=conversation_id))
        )

    def finish_turn(self, record: TurnRecord) -> asyncio.Future[None]:
        """Queue the reply for the next group commit; await the result to know it is durable."""
        return asyncio.wrap_future(self.submit(lambda s: self._store.add_reply(s, record)))

    async def flush(self) -> None:
        await asyncio.wrap_future(self.submit(lambda s: None))

    def close(self, timeout_s: float = 10.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout_s)

    @staticmethod
    async def _await(future: concurrent.futures.Future[T]) -> T:
        try:
            return await asyncio.wrap_future(future)
        except ChatLensError:
            raise
        except Exception as exc:
            raise StorageFailed(detail=repr(exc)) from exc

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                batch.append(job)
            self._commit(batch)

    def _commit(self, batch: list[_Job]) -> None:
        started = time.monotonic()
        try:
            with self._store.sessions() as session:
                results = [job.run(session) for job in batch]
                session.commit()
        except Exception as exc:
            if len(batch) > 1:
                for job in batch:
                    self._commit([job])
                return
            if not isinstance(exc, ChatLensError):
                log.exception("database write failed")
            batch[0].future.set_exception(exc)
            return
        self.commit_ms.append((time.monotonic() - started) * 1000)
        for job, result in zip(batch, results, strict=True):
            job.future.set_result(result)
