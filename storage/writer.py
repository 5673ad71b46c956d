"""The write-behind recorder: one writer thread owns every write and commits them in groups.

Callers on the event loop hand over a job and get a future; the thread takes whatever has queued up, applies it as
one batch (``storage.writes``) in one transaction and commits once (group commit). So a burst of replies ending
together costs one fsync, the event loop never waits on the database, and DuckDB never sees two writers or
conflicting updates. A failing batch is retried job by job so one bad row cannot sink the others.

When the database itself fails (PostgreSQL restarting, a full or read-only disk), a batch that lost its PostgreSQL
connection is tried again for up to ``reconnect_s`` (a restart takes about a second) before its callers are told it
could not be saved; nothing is kept to be written later, so what a caller was told saved is saved and what it was
told failed is not. ``failing`` says why the last commit failed until one succeeds; ``healthy()`` (``/healthz``)
then probes for room and with a real write, so recovery shows without waiting for a user's message.
Satisfies ``inference.ports.Recorder`` structurally.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, assert_never

from sqlalchemy import delete, insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from errors import ChatLensError
from inference.images import Image, ImageRef
from inference.turns import Continue, Edit, NewMessage, Retry, Turn
from inference.types import ChatMessage, ConversationSetup, Origin, TurnRecord, TurnStart
from storage import writes
from storage.purge import Purge, Purged, lock_owners, purge
from storage.schema import Generation, RateEvent, utcnow
from storage.server_state import RecentReadings
from storage.side_writes import Extra
from storage.store import Store
from storage.writes import ConversationCache, Delete, Rename, Reply, Restore, UserTurn, WriteJob, apply_batch

log = logging.getLogger(__name__)


class StorageFailed(ChatLensError):
    kind = "storage"
    default_message = "ChatLens could not save this message, so it was not answered; please retry."


class ReplyNotSaved(StorageFailed):
    default_message = (
        "ChatLens could not save this reply: the database is not accepting writes. It is shown here but will be "
        "missing when you reopen the chat — copy it now if you need it."
    )


PROBE_USER = uuid.UUID(int=0)  # the rate-limit row a health probe writes: no user has this id
PROBE_IP = "chatlens-health-probe"


@dataclass(frozen=True, slots=True)
class Work:
    """A write that is not part of a chat turn (accounts, tokens, rate-limit events), run in the batch's transaction."""

    apply: Callable[[Session], Any]


@dataclass(slots=True)
class _Job:
    spec: WriteJob | Work | Purge | None  # None: a barrier, done once everything queued before it is committed
    future: concurrent.futures.Future[Any]
    # A new message's: its result as soon as it is decided, before the batch commits (``begin``).
    early: concurrent.futures.Future[Any] | None = None


class WriteBehindRecorder:
    def __init__(
        self,
        store: Store,
        *,
        observers: Sequence[Callable[[TurnRecord], None]] = (),
        max_batch: int = 512,
        reconnect_s: float = 10.0,
        cache_conversations: bool | None = None,
        readings: RecentReadings | None = None,
    ) -> None:
        """``readings``: the model servers' recent load readings (the load scraper adds them); each reply's row
        gets its server's state at its start from them."""
        self._store = store
        self._readings = readings
        self._max_batch = max_batch
        self._reconnect_s = reconnect_s
        self.failing: str | None = None  # why the last commit failed, until one succeeds
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._known_users: set[uuid.UUID] = set()
        # Conversations as the last commit left them, where nobody else writes the store (one process per DuckDB
        # file); PostgreSQL replicas read them in each batch.
        if cache_conversations is None:  # by default: where this process is the only writer
            cache_conversations = store.engine.dialect.name == "duckdb"
        self._cache = ConversationCache() if cache_conversations else None
        self.commit_ms: deque[float] = deque(maxlen=10_000)
        # Called once per finished reply, on the caller's thread (e.g. Prometheus counters); must be cheap.
        self._observers = tuple(observers)
        self._thread = threading.Thread(target=self._run, name="chatlens-db-writer", daemon=True)
        self._thread.start()

    def _submit(self, spec: WriteJob | Work | Purge | None) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put(_Job(spec, future))
        return future

    async def _submit_early(self, spec: UserTurn) -> tuple[TurnStart, asyncio.Future[Any]]:
        """Queue a new message; returns its turn as soon as the writer has decided it, and a future that completes
        once it is committed, or fails with ``StorageFailed``."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        early: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put(_Job(spec, future, early))
        start: TurnStart = await self._await(early)

        async def committed() -> None:
            final: TurnStart = await self._await(future)
            if (final.conversation_id, final.user_message_id, final.resent, final.answer) != (
                start.conversation_id, start.user_message_id, start.resent, start.answer,
            ):  # fmt: skip
                # Its batch failed and, applied again alone, it came out otherwise (another replica stored the
                # same client message id meanwhile): what was started on is not what is stored.
                raise StorageFailed(detail="the message was stored otherwise when its batch was applied again")

        durable = asyncio.ensure_future(committed())
        durable.add_done_callback(_retrieved)  # a caller that stops before awaiting it must not log a warning
        return start, durable

    async def begin(
        self,
        turn: Turn,
        *,
        user_id: uuid.UUID,
        model_id: str | None = None,
        setup: ConversationSetup | None = None,
        origin: Origin | None = None,
        early: bool = False,
    ) -> TurnStart:
        """Commit the user's side of ``turn`` with the next group; returns the history to answer.

        ``early``: a new message's turn is returned as soon as the writer has decided it, before its batch commits,
        with ``TurnStart.durable`` to await (the model can be asked meanwhile); other turns are returned committed.

        The one place a turn becomes a write job: the job adds who sends it and, for a new message, what its
        conversation keeps (the model it was started with, its setup)."""
        job: WriteJob
        durable: asyncio.Future[Any] | None = None
        match turn:
            case NewMessage(content, conversation_id, message_id, earlier, images):
                # The files first: a committed row never names a missing file. A turn that keeps no text (metrics
                # only, privacy mode) keeps no images either: they are sent from memory and written nowhere.
                store_text = origin is None or origin.store_text
                keep_images = store_text and self._store.keeper is None
                every = images + tuple(image for message in earlier for image in message.images)
                if every and keep_images:
                    try:
                        await asyncio.to_thread(self._store.images.save, user_id, every)
                    except OSError as exc:  # a full or read-only disk: nothing is stored, the caller keeps its turn
                        raise StorageFailed(detail=f"saving image files: {exc!r}") from exc
                job = UserTurn(
                    user_id, conversation_id, content, model_id, setup or ConversationSetup(), message_id,
                    earlier=earlier, store_text=store_text, images=tuple(image.ref for image in images),
                    keep_images=keep_images, files=every if keep_images else (),
                )  # fmt: skip
            case Retry(conversation_id, reply_id):
                job = writes.Retry(user_id, conversation_id, reply_id)
            case Edit(conversation_id, message_id, content):
                job = writes.Edit(user_id, conversation_id, message_id, content)
            case Continue(conversation_id):
                job = writes.Continue(user_id, conversation_id)
            case _:
                assert_never(turn)
        if early and isinstance(job, UserTurn):  # the hot path: the model is asked while the message commits
            start, durable = await self._submit_early(job)
        else:
            start = await self._await(self._submit(job))
        if start.history_images:
            sent = (
                turn.images + tuple(image for message in turn.earlier for image in message.images)
                if isinstance(turn, NewMessage)
                else ()
            )
            start = await self._with_images(start, user_id, sent)
        return replace(start, durable=durable) if durable is not None else start

    async def _with_images(self, start: TurnStart, user_id: uuid.UUID, sent: tuple[Image, ...]) -> TurnStart:
        """The history with its images' bytes: the ones just sent from memory, earlier ones read from their files
        (off the writer thread and the event loop)."""
        in_hand = {image.ref.sha256: image for image in sent}
        files = self._store.images

        def images_of(refs: tuple[ImageRef, ...]) -> tuple[Image, ...]:
            held = [in_hand.get(ref.sha256) for ref in refs]
            if all(held):
                return tuple(image for image in held if image is not None)
            return files.load(user_id, refs)

        def read() -> tuple[ChatMessage, ...]:
            return tuple(
                replace(message, images=images_of(refs)) if refs else message
                for message, refs in zip(start.history, start.history_images, strict=True)
            )

        return replace(start, history=await asyncio.to_thread(read), history_images=())

    async def record(self, job: Extra) -> Any:
        """Feedback, share links, imports: applied in order with everything else; returns the job's result."""
        return await self._await(self._submit(job))

    async def rename(
        self, *, user_id: uuid.UUID, conversation_id: uuid.UUID, title: str, unless_changed_from: str | None = None
    ) -> None:
        await self._await(self._submit(Rename(user_id, conversation_id, title, unless_changed_from)))

    async def delete(self, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
        await self._await(self._submit(Delete(user_id, conversation_id)))

    async def purge(
        self, *, user_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID] = (), deleted_before: datetime | None = None
    ) -> Purged:
        """Delete for good the user's deleted conversations (``storage.purge``), and the image files only they
        named; returns what was removed, once committed and the files are gone."""
        done: Purged = await self._await(self._submit(Purge(user_id, tuple(conversation_ids), deleted_before)))
        return done

    def purge_later(self, job: Purge) -> concurrent.futures.Future[Purged]:
        """Queue a purge without waiting (a thread of its own: ``storage.expiry``); its future says what it did."""
        return self._submit(job)

    async def switch_version(self, *, user_id: uuid.UUID, conversation_id: uuid.UUID, message_id: uuid.UUID) -> None:
        """Show version ``message_id`` of a message on screen, with the continuation last shown under it."""
        await self._await(self._submit(writes.SwitchVersion(user_id, conversation_id, message_id)))

    async def restore(self, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
        """Undo ``delete``: the conversation comes back with everything it had."""
        await self._await(self._submit(Restore(user_id, conversation_id)))

    async def run(self, apply: Callable[[Session], Any]) -> Any:
        """Run ``apply(session)`` on the writer thread, committed with the next group; returns its result."""
        return await self._await(self._submit(Work(apply)))

    def submit(self, apply: Callable[[Session], Any]) -> concurrent.futures.Future[Any]:
        """Queue ``apply(session)`` for the next group commit without waiting: its future says when it is durable."""
        return self._submit(Work(apply))

    def finish_turn(self, record: TurnRecord) -> asyncio.Future[None]:
        """Queue the reply for the next group commit; await the result to know it is durable."""
        self._observe(record)
        return asyncio.ensure_future(self._durable(self._submit(Reply(record))))

    def finish_metrics_only(self, record: TurnRecord) -> asyncio.Future[None]:
        """A reply whose text is kept nowhere (a temporary chat, ``storage.temporary``): its generation row alone,
        observed like any other reply."""
        self._observe(record)
        row = writes.generation_row(record, utcnow(), self._readings)

        def write(session: Session) -> None:
            session.execute(insert(Generation), [row])

        return asyncio.ensure_future(self._durable(self._submit(Work(write))))

    def _observe(self, record: TurnRecord) -> None:
        for observe in self._observers:
            try:
                observe(record)
            except Exception:
                log.exception("a reply observer failed")

    @staticmethod
    async def _durable(future: concurrent.futures.Future[None]) -> None:
        try:
            await asyncio.wrap_future(future)
        except ChatLensError:
            raise
        except Exception as exc:
            raise ReplyNotSaved(detail=repr(exc)) from exc

    async def healthy(self, timeout_s: float = 5.0) -> bool:
        """Whether writes are committed: yes unless the last commit failed or the DuckDB folder is not writable (a
        chmod leaves the open files writable, but the next checkpoint fails on it); after a failed commit, room on
        the disk and a probe write decide (a small write alone could pass on a full disk, fitting in the last page
        of DuckDB's WAL)."""
        if not self._store.folder_writable():
            return False
        if self.failing is None:
            return True
        if not await asyncio.to_thread(self._store.has_room):
            return False
        try:
            async with asyncio.timeout(timeout_s):
                await self.run(_probe)
        except (TimeoutError, StorageFailed):
            return False
        return True

    def barrier(self) -> concurrent.futures.Future[None]:
        """A future that completes once every write queued so far is committed."""
        return self._submit(None)

    async def flush(self) -> None:
        await asyncio.wrap_future(self.barrier())

    def close(self, timeout_s: float = 10.0) -> None:
        self._jobs.put(None)
        self._thread.join(timeout_s)

    @staticmethod
    async def _await(future: concurrent.futures.Future[Any]) -> Any:
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
            for job in batch:
                # From now on the job cannot be cancelled: a caller that went away (a Stop, a closed event loop)
                # cancelled the future before this, or not at all. Its write is made either way.
                job.future.set_running_or_notify_cancel()
            self._commit(batch)

    def _commit(self, batch: list[_Job], *, again: bool = False, reconnect: bool = True) -> None:
        started = time.monotonic()
        specs = [job.spec for job in batch if job.spec is not None]
        delay_s = 0.1
        early = {id(job.spec): job.early for job in batch if job.early is not None}
        while True:
            try:
                results = iter(self._apply(specs, early))
                break
            except DBAPIError as exc:
                # The connection was lost or cannot be made (PostgreSQL restarting): the server aborted the
                # transaction, so the batch is tried again whole, on a new connection, for up to ``reconnect_s``. A
                # commit lost after it was applied finds its message ids taken when tried again, and fails rather
                # than storing twice.
                if reconnect and self._transient(exc) and time.monotonic() - started < self._reconnect_s:
                    self.failing = f"database connection lost: {str(exc.orig)[:300]}"
                    log.warning("database connection lost; trying the batch again in %.1f s (%s)", delay_s, exc.orig)
                    time.sleep(delay_s)
                    delay_s = min(delay_s * 2, 1.0)
                    continue
                self._failed(batch, exc, again)
                return
            except Exception as exc:
                self._failed(batch, exc, again)
                return
        self.failing = None
        self.commit_ms.append((time.monotonic() - started) * 1000)
        self._known_users.update(spec.user_id for spec in specs if isinstance(spec, UserTurn))
        for job in batch:
            _settle(job.future, next(results) if job.spec is not None else None)

    def _transient(self, exc: DBAPIError) -> bool:
        """A lost connection; with PostgreSQL, any operational error (connection refused while it restarts, the
        server shutting sessions down, too many connections). Not DuckDB's: a full disk is not over in seconds."""
        if exc.connection_invalidated:
            return True
        return self._store.engine.dialect.name == "postgresql" and isinstance(exc, OperationalError)

    def _apply(
        self, specs: list[WriteJob | Work | Purge], early: dict[int, concurrent.futures.Future[Any]] | None = None
    ) -> list[Any]:
        """Apply ``specs`` in one transaction and commit; one result (or exception) per spec. The ``early`` futures
        (by ``id`` of their spec) get their spec's result once it is decided, before the commit.

        Purges run after the batch's turns, so they find the image rows those add; the files they set aside are
        removed once the commit is made, and put back if it is not (``storage.purge``)."""
        purged: list[Purged] = []
        with self._store.sessions() as session:
            turns = [spec for spec in specs if not isinstance(spec, Work | Purge)]

            def applied(results: list[Any]) -> None:
                for spec, result in zip(turns, results, strict=True):
                    future = early.get(id(spec)) if early else None
                    if future is not None and not future.done():  # a batch applied again: the first result stands
                        _settle(future, result)

            try:
                self._hold_images(session, specs)
                turn_results = iter(
                    apply_batch(
                        session, turns, self._known_users, self._store.keeper, self._cache, applied, self._readings
                    )
                    if turns
                    else []
                )
                results = [self._apply_one(session, s, turn_results, purged) for s in specs]
                session.commit()
            except BaseException:
                if self._cache is not None:
                    self._cache.discard()
                for done in purged:
                    for aside in done.set_aside:
                        aside.put_back()
                raise
        if self._cache is not None:
            self._cache.keep()
        for done in purged:
            for aside in done.set_aside:
                aside.remove()
        return results

    def _hold_images(self, session: Session, specs: Sequence[WriteJob | Work | Purge]) -> None:
        """The image lock of every owner whose images this batch adds or purges, then the files of the messages
        it adds, written again where a purge removed them since they were saved (``storage.purge``)."""
        adding = [spec for spec in specs if isinstance(spec, UserTurn) and spec.files]
        purging = [spec for spec in specs if isinstance(spec, Purge)]
        if not adding and not purging:
            return
        lock_owners(session, [spec.user_id for spec in adding + purging])
        for spec in adding:
            self._store.images.ensure(spec.user_id, spec.files)

    def _apply_one(
        self, session: Session, spec: WriteJob | Work | Purge, turn_results: Iterator[Any], purged: list[Purged]
    ) -> Any:
        if isinstance(spec, Work):
            return spec.apply(session)
        if isinstance(spec, Purge):
            done = purge(session, spec, self._store.images)
            purged.append(done)
            if self._cache is not None:
                self._cache.forget(done.conversation_ids)
            return done
        return next(turn_results)

    def _failed(self, batch: list[_Job], exc: Exception, again: bool) -> None:
        if not isinstance(exc, IntegrityError):  # a conflicting row is the job's fault, not the database's
            self.failing = f"{type(exc).__name__}: {str(exc)[:300]}"
        if len(batch) > 1:
            for job in batch:
                self._commit([job], reconnect=False)  # the batch already waited for the database to come back
            return
        spec = batch[0].spec
        if isinstance(exc, IntegrityError) and isinstance(spec, UserTurn) and spec.message_id and not again:
            # Another writer (a replica) stored this client message id after our lookup: now it is found.
            log.info("message id %s was stored by another writer; applying the send again", spec.message_id)
            self._commit(batch, again=True, reconnect=False)
            return
        log.exception("database write failed")
        early = batch[0].early
        if early is not None and not early.done():  # failed before it was decided: the caller waits on this one
            _settle(early, exc)
        _settle(batch[0].future, exc)


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(future: concurrent.futures.Future[Any], result: Any) -> None:
    """Hand a job's result (or exception) to its caller, unless the caller cancelled it before the batch began:
    setting a cancelled future raises, and the writer thread must outlive every caller."""
    if future.cancelled():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _probe(session: Session) -> None:
    """A write that must reach the disk (DuckDB skips the WAL for changes undone in their own transaction): one
    rate-limit row under an id no user has, replacing the previous probe's. No limit counts it."""
    session.execute(delete(RateEvent).where(RateEvent.user_id == PROBE_USER))
    session.execute(insert(RateEvent).values(id=uuid.uuid4(), user_id=PROBE_USER, ip=PROBE_IP, created_at=utcnow()))
