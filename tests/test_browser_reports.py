"""The browser's reports as the store keeps them (``storage.browser_reports``), through the writer thread on a real
DuckDB file and PostgreSQL: a reply's report only against the sender's own generation and only once; errors counted
per fingerprint and bounded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from storage.browser_reports import ReplySeen, SaveBrowserError, SaveReplySeen
from storage.schema import BrowserError, BrowserReply, Generation
from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.seeds import MESSAGE, U1, U2, seed

SEEN = ReplySeen(felt_ttft_ms=250.0, felt_last_token_ms=900.0, frames=40, long_frames=1, fps=58.5, heap_bytes=1 << 33)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_reply_report_is_stored_once_against_the_senders_own_generation(
    store: Store, recorder: WriteBehindRecorder
) -> None:
    seed(store)  # reply 1 is U1's, reply 3 is U2's; reply 2 (U1's) came through the OpenAI-style API
    with store.sessions() as session:
        session.execute(update(Generation).where(Generation.message_id == MESSAGE[2]).values(source="openai_api"))
        session.commit()

    def save(message: uuid.UUID, user: uuid.UUID) -> str:
        return str(recorder.submit(SaveReplySeen(message, user, SEEN, "remote", NOW)).result(timeout=10))

    assert save(MESSAGE[3], U1) == "unknown"  # another user's reply
    assert save(uuid.uuid4(), U1) == "unknown"
    assert save(MESSAGE[2], U1) == "unknown"  # no page painted an API reply
    assert save(MESSAGE[1], U1) == "stored"
    assert save(MESSAGE[1], U1) == "replayed"
    with store.sessions() as session:
        [row] = session.query(BrowserReply).all()
        generation = session.query(Generation).filter_by(message_id=MESSAGE[1]).one()
    assert row.generation_id == generation.id and row.user_id == U1 and row.connection == "remote"
    assert (row.felt_ttft_ms, row.felt_last_token_ms, row.frames, row.long_frames, row.fps, row.heap_bytes) == (
        250.0, 900.0, 40, 1, 58.5, 1 << 33,
    )  # fmt: skip
    assert save(MESSAGE[3], U2) == "stored"


def test_errors_are_counted_per_fingerprint_and_bounded(store: Store, recorder: WriteBehindRecorder) -> None:
    def report(message: str, at: datetime, *, page: str = "/", max_rows: int = 3) -> str:
        job = SaveBrowserError("error", message, "Error: x\n at f", "0.1.0", page, at, max_rows=max_rows)
        return str(recorder.submit(job).result(timeout=10))

    assert report("boom", NOW) == "stored"
    assert report("boom", NOW + timedelta(minutes=5)) == "counted"
    assert report("boom", NOW + timedelta(minutes=5), page="/other") == "stored"  # another page: another row
    assert report("bang", NOW) == "stored"
    assert report("one too many", NOW) == "dropped"  # three distinct errors is the bound here
    assert report("boom", NOW + timedelta(minutes=9)) == "counted"  # known ones still count
    with store.sessions() as session:
        rows = {(r.message, r.page): r for r in session.query(BrowserError).all()}
    assert sorted(rows) == [("bang", "/"), ("boom", "/"), ("boom", "/other")]
    boom = rows[("boom", "/")]
    assert boom.count == 3
    assert (boom.first_seen.astimezone(UTC), boom.last_seen.astimezone(UTC)) == (NOW, NOW + timedelta(minutes=9))
