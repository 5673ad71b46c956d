"""Purging deleted conversations for good (issue 16): their rows go, and the image files no other row and no standing
share snapshot of the owner names are removed from disk — at once, and never under a message committed meanwhile.
A real database (DuckDB file, PostgreSQL), real files under tmp_path."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from errors import MessageRejected
from inference.images import Image, checked_images
from inference.turns import NewMessage
from storage.expiry import DeletedExpiry
from storage.schema import Conversation, Generation, Message, MessageImage, Share, utcnow
from storage.side_writes import CreateShare, RevokeShares
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.images import png
from tests.support.records import reply


def image(width: int, name: str = "a.png") -> Image:
    [checked] = checked_images([(name, png(width, 1))])
    return checked


@pytest.fixture
def files_store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    """A store whose image files are under tmp_path, on either database."""
    opened = Store.open(database_url, images_dir=tmp_path / "images")
    yield opened
    opened.close()


@pytest.fixture
def writer(files_store: Store) -> Iterator[WriteBehindRecorder]:
    opened = WriteBehindRecorder(files_store)
    yield opened
    opened.close()


def count(store: Store, model: type[Any], **where: Any) -> int:
    with store.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).filter_by(**where)) or 0)


async def conversation(recorder: WriteBehindRecorder, owner: uuid.UUID, *images: Image) -> uuid.UUID:
    start = await recorder.begin(NewMessage("What is this?", images=images), user_id=owner)
    await recorder.finish_turn(reply(start.conversation_id, owner, "Grey."))
    return start.conversation_id


def on_disk(store: Store, owner: uuid.UUID, picture: Image) -> bool:
    return (store.images.root / str(owner) / picture.sha256).is_file()


def test_a_purge_removes_its_rows_and_the_files_nothing_else_names(
    files_store: Store, writer: WriteBehindRecorder
) -> None:
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    only, also_elsewhere, in_a_snapshot, in_a_revoked = image(1), image(2), image(3), image(4)

    async def steps() -> None:
        purged = await conversation(writer, owner, only, also_elsewhere, in_a_snapshot, in_a_revoked)
        kept = await conversation(writer, owner, also_elsewhere)
        await conversation(writer, stranger, only)  # the same picture, another owner's file
        shown = {"messages": [{"role": "user", "content": "x", "images": [{"sha256": in_a_snapshot.sha256}]}]}
        gone = {"messages": [{"role": "user", "content": "x", "images": [{"sha256": in_a_revoked.sha256}]}]}
        await writer.record(CreateShare(owner, kept, "a" * 64, shown))
        other = await conversation(writer, owner)
        await writer.record(CreateShare(owner, other, "b" * 64, gone))
        await writer.record(RevokeShares(owner, other))
        await writer.record(CreateShare(owner, purged, "c" * 64, {"messages": []}))

        not_deleted = await writer.purge(user_id=owner, conversation_ids=[purged])
        assert not_deleted.conversation_ids == () and on_disk(files_store, owner, only)  # only deleted ones go
        await writer.delete(user_id=owner, conversation_id=purged)
        by_a_stranger = await writer.purge(user_id=stranger, conversation_ids=[purged])
        assert by_a_stranger.conversation_ids == ()

        done = await writer.purge(user_id=owner, conversation_ids=[purged])
        assert done.conversation_ids == (purged,) and done.files == 2
        assert not on_disk(files_store, owner, only) and not on_disk(files_store, owner, in_a_revoked)
        assert on_disk(files_store, owner, also_elsewhere) and on_disk(files_store, owner, in_a_snapshot)
        assert on_disk(files_store, stranger, only)
        assert files_store.image_for_owner(owner, also_elsewhere.sha256) is not None
        assert count(files_store, MessageImage, conversation_id=purged) == 0
        assert count(files_store, Message, conversation_id=purged) == 0
        assert count(files_store, Share, conversation_id=purged) == 0
        assert count(files_store, Conversation, id=purged) == 0
        assert count(files_store, Generation, conversation_id=purged) == 1  # metrics stay, without text
        with pytest.raises(MessageRejected):  # gone for good: nothing to restore, from the cache either
            await writer.restore(user_id=owner, conversation_id=purged)

        await writer.record(RevokeShares(owner, kept))
        await writer.delete(user_id=owner, conversation_id=kept)
        await writer.purge(user_id=owner, deleted_before=utcnow() + timedelta(seconds=1))
        assert not on_disk(files_store, owner, also_elsewhere) and not on_disk(files_store, owner, in_a_snapshot)
        assert [p.name for p in (files_store.images.root / str(owner)).iterdir()] == []  # nothing set aside left

    asyncio.run(steps())


def test_a_purge_whose_batch_fails_puts_its_files_back_before_it_is_applied_again(
    files_store: Store, writer: WriteBehindRecorder
) -> None:
    owner, picture = uuid.uuid4(), image(5)
    holding, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def hold_the_writer(session: Any) -> None:
        holding.set()
        release.wait(10)

    def fail_after_the_purge(session: Any) -> None:
        seen.append(on_disk(files_store, owner, picture))
        raise RuntimeError("this batch cannot commit")

    async def steps() -> None:
        cid = await conversation(writer, owner, picture)
        await writer.delete(user_id=owner, conversation_id=cid)
        hold = writer.submit(hold_the_writer)  # the next jobs queue up behind it: one batch
        assert await asyncio.to_thread(holding.wait, 10)
        purging = asyncio.ensure_future(writer.purge(user_id=owner, conversation_ids=[cid]))
        await asyncio.sleep(0.05)
        failing = writer.submit(fail_after_the_purge)
        release.set()
        done = await purging
        hold.result(10)
        with pytest.raises(RuntimeError):
            failing.result(10)
        # In the failed batch the file was set aside; put back when it rolled back, then set aside and removed
        # again when the purge was applied alone.
        assert seen == [False, False] and done.files == 1
        assert not on_disk(files_store, owner, picture)

    asyncio.run(steps())


def test_a_message_saved_while_a_purge_removes_the_same_image_keeps_its_file(
    files_store: Store, writer: WriteBehindRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new message finds the file there (``save`` leaves it), then the purge commits and removes it, then the
    message commits: its file is written again."""
    owner, picture = uuid.uuid4(), image(6)
    files = files_store.images
    save = files.save
    purge_now: list[uuid.UUID] = []

    async def steps() -> None:
        loop = asyncio.get_running_loop()
        old = await conversation(writer, owner, picture)
        await writer.delete(user_id=owner, conversation_id=old)

        def save_then_purge(who: uuid.UUID, images: Any) -> Any:
            refs = save(who, images)
            while purge_now:  # between the file check and the row: the purge commits
                purging = writer.purge(user_id=owner, conversation_ids=[purge_now.pop()])
                assert asyncio.run_coroutine_threadsafe(purging, loop).result(10).files == 1
                assert not on_disk(files_store, owner, picture)
            return refs

        monkeypatch.setattr(files, "save", save_then_purge)
        purge_now.append(old)
        cid = await conversation(writer, owner, picture)
        assert on_disk(files_store, owner, picture)
        assert files_store.image_for_owner(owner, picture.sha256) == ("image/png", picture.data)
        assert count(files_store, MessageImage, conversation_id=cid) == 1

    asyncio.run(steps())


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_replica_purging_waits_for_another_committing_the_same_image(
    files_store: Store, writer: WriteBehindRecorder, database_url: str, tmp_path: Path
) -> None:
    """PostgreSQL, two replicas sharing the image folder: one is committing a message with an image (its file
    checked) when the other purges the only conversation that named it. The purge waits for the owner's lock, then
    finds the new row and keeps the file."""
    owner, picture = uuid.uuid4(), image(7)
    other_store = Store.open(database_url, images_dir=tmp_path / "images")
    other = WriteBehindRecorder(other_store)
    in_window, release = threading.Event(), threading.Event()
    ensure = other_store.images.ensure

    def ensure_then_wait(who: uuid.UUID, images: Any) -> None:
        ensure(who, images)
        in_window.set()
        release.wait(10)  # the replica's transaction, lock held, not yet committed

    other_store.images.ensure = ensure_then_wait  # type: ignore[method-assign,assignment]

    async def steps() -> None:
        old = await conversation(writer, owner, picture)
        await writer.delete(user_id=owner, conversation_id=old)
        sending = asyncio.ensure_future(conversation(other, owner, picture))
        assert await asyncio.to_thread(in_window.wait, 10)
        purging = asyncio.ensure_future(writer.purge(user_id=owner, conversation_ids=[old]))
        await asyncio.sleep(0.5)
        assert not purging.done()  # waiting for the owner's lock
        release.set()
        cid = await sending
        done = await purging
        assert done.conversation_ids == (old,) and done.files == 0
        assert on_disk(files_store, owner, picture) and count(files_store, MessageImage, conversation_id=cid) == 1

    try:
        asyncio.run(steps())
    finally:
        release.set()
        other.close()
        other_store.close()


def test_recently_deleted_expires_after_its_days_with_its_images(
    files_store: Store, writer: WriteBehindRecorder
) -> None:
    owner, old_picture, new_picture = uuid.uuid4(), image(8), image(9)

    async def steps() -> tuple[uuid.UUID, uuid.UUID]:
        old = await conversation(writer, owner, old_picture)
        recent = await conversation(writer, owner, new_picture)
        for cid in (old, recent):
            await writer.delete(user_id=owner, conversation_id=cid)
        long_ago = utcnow() - timedelta(days=31)
        await writer.run(
            lambda session: session.execute(
                update(Conversation).where(Conversation.id == old).values(deleted_at=long_ago)
            )
        )
        return old, recent

    old, recent = asyncio.run(steps())
    assert DeletedExpiry(files_store, writer, keep_days=0).purge_expired() == []  # 0: kept
    [purged] = DeletedExpiry(files_store, writer, keep_days=30).purge_expired()
    assert purged.conversation_ids == (old,) and purged.files == 1
    assert not on_disk(files_store, owner, old_picture) and on_disk(files_store, owner, new_picture)
    assert [c.id for c in files_store.list_deleted(owner)] == [recent]


@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_conversation_restored_by_a_replica_while_another_purges_it_stays_whole(
    files_store: Store, writer: WriteBehindRecorder, database_url: str, tmp_path: Path
) -> None:
    """PostgreSQL: one replica's restore is committing (its row updated, not yet committed) when another purges the
    same conversation. The purge waits for the row, finds it no longer deleted, and removes nothing."""
    owner, picture = uuid.uuid4(), image(10)
    other_store = Store.open(database_url, images_dir=tmp_path / "images")
    other = WriteBehindRecorder(other_store)
    holding, queued, in_transaction, release = (threading.Event() for _ in range(4))

    def hold_the_writer(session: Any) -> None:
        holding.set()
        queued.wait(10)

    def wait_inside_the_restore(session: Any) -> None:
        in_transaction.set()
        release.wait(10)

    async def steps() -> None:
        cid = await conversation(writer, owner, picture)
        await writer.delete(user_id=owner, conversation_id=cid)
        other.submit(hold_the_writer)
        assert await asyncio.to_thread(holding.wait, 10)
        restoring = asyncio.ensure_future(other.restore(user_id=owner, conversation_id=cid))
        await asyncio.sleep(0.05)
        waiting = other.submit(wait_inside_the_restore)  # same batch: the restore's row stays locked meanwhile
        queued.set()
        assert await asyncio.to_thread(in_transaction.wait, 10)
        purging = asyncio.ensure_future(writer.purge(user_id=owner, conversation_ids=[cid]))
        await asyncio.sleep(0.5)
        assert not purging.done()  # waiting for the restore's row
        release.set()
        await restoring
        waiting.result(10)
        done = await purging
        assert done.conversation_ids == () and done.files == 0
        assert on_disk(files_store, owner, picture) and count(files_store, Message, conversation_id=cid) == 2
        view = files_store.load_conversation(cid, owner)
        assert view is not None and view.messages[0].images == (picture.ref,)

    try:
        asyncio.run(steps())
    finally:
        queued.set()
        release.set()
        other.close()
        other_store.close()
