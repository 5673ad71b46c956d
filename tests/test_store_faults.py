"""The store's own faults (issue #21): a full disk, a disk turned read-only, PostgreSQL restarted mid-stream.

The promise each keeps: replies already streaming carry on to their end; a user whose message or reply could not be
made durable is told so in a sentence; ``/healthz`` says the database is failing while it is; nothing the app had
acknowledged (a user message whose first token was shown, a reply that completed) is lost; and the writer does
not wedge — writes resume by themselves once the database can take them again, without a restart.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client
from sqlalchemy import select

from storage.schema import Message
from storage.store import Store
from tests.support.apps import RunningApp, launched_app
from tests.support.config import make_settings
from tests.support.disks import ext4_image, fill, make_read_only, mounted_image, repair, small_tmpfs
from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.postgres import TempPostgres
from tests.support.processes import AppProcess
from tests.support.wait import wait_until

IN_FLIGHT = 6
PATIENT = {"timeout": 30}  # the client's own requests (joining the queue) on 2 loaded cores
# Replies of ~8 KB, so a reply's rows cannot fit in the slack of the WAL's last page once the disk is full.
LONG_REPLY = " ".join(f"w{i}-" + "x" * 200 for i in range(40))
BIG_MESSAGE = "".join(f"{i:05d}" for i in range(1600))  # 8 KB: no page's slack takes it, the model's window does
STREAMING = Behaviour(reply=LONG_REPLY, token_interval_s=0.05, finish_reason="stop")


def _settings(tmp_path: Path, folder: Path, fake_tgi: FakeTgi, **overrides: Any) -> Any:
    return make_settings(
        tmp_path, database_url=f"duckdb:///{folder / 'chatlens.duckdb'}", tgi_url=fake_tgi.url, auto_title=False,
        request_timeout_s=10, **overrides,
    )  # fmt: skip


def _health(app: RunningApp | AppProcess) -> tuple[int, str]:
    response = httpx.get(f"{app.url}/healthz", timeout=15)
    return response.status_code, response.json()["database"]


def _break_while_streaming(
    app: RunningApp | AppProcess, client: Client, fake_tgi: FakeTgi, tag: str, break_disk: Any
) -> None:
    """A turn saved, then ``IN_FLIGHT`` streams past their first token when ``break_disk()`` runs: they stream to
    the end and are told their reply could not be saved; a new message is refused with a sentence; /healthz fails."""
    fake_tgi.default = Behaviour(tokens=5, finish_reason="stop")
    assert client.predict(f"{tag} saved before", api_name="/chat") == "w0 w1 w2 w3 w4"
    fake_tgi.next(*[STREAMING] * IN_FLIGHT)
    jobs = [client.submit(f"{tag} in flight {i}", api_name="/chat") for i in range(IN_FLIGHT)]
    assert wait_until(lambda: all(job.outputs() for job in jobs), timeout_s=20)  # each user message is durable
    break_disk()
    for job in jobs:
        with pytest.raises(Exception, match="could not save this reply") as caught:
            job.result(timeout=30)
        assert "Traceback" not in str(caught.value)
        assert job.outputs()[-1] == LONG_REPLY  # the reply streamed to its end all the same
    assert _health(app) == (503, "failing")
    with pytest.raises(Exception, match="could not save this message"):
        client.predict(f"{tag} while broken {BIG_MESSAGE}", api_name="/chat")


def _acknowledged(rows: list[Message], tag: str) -> None:
    """What was acknowledged before the fault is stored; what was refused is not."""
    questions = {m.content for m in rows if m.role == "user" and m.content.startswith(tag)}
    assert questions >= {f"{tag} saved before", *(f"{tag} in flight {i}" for i in range(IN_FLIGHT))}
    assert not any(q.startswith(f"{tag} while broken") for q in questions)
    assert "w0 w1 w2 w3 w4" in {m.content for m in rows if m.role == "assistant" and m.status == "complete"}


@pytest.mark.process  # mount, umount
def test_a_full_disk_refuses_with_a_sentence_keeps_what_was_saved_and_recovers_when_space_frees(
    tmp_path: Path, fake_tgi: FakeTgi
) -> None:
    with small_tmpfs(tmp_path / "data", size_mb=24) as data:
        with launched_app(_settings(tmp_path, data, fake_tgi)) as app:
            client = Client(app.url, verbose=False, httpx_kwargs=PATIENT)
            filler: list[Path] = []
            _break_while_streaming(app, client, fake_tgi, "full", lambda: filler.append(fill(data)))

            filler[0].unlink()
            assert wait_until(lambda: _health(app) == (200, "ok"), timeout_s=15)  # no restart, no message needed
            assert client.predict("full after space freed", api_name="/chat") == "w0 w1 w2 w3 w4"
        rows = _stored(data)  # the app closed: read back from the file
        _acknowledged(rows, "full")
        assert "full after space freed" in {m.content for m in rows}


@pytest.mark.process  # losetup, mkfs.ext4, mount, umount, e2fsck
def test_a_disk_turned_read_only_refuses_with_a_sentence_and_keeps_what_was_saved(
    tmp_path: Path, fake_tgi: FakeTgi
) -> None:
    image = tmp_path / "disk.img"
    with ext4_image(tmp_path / "data", image) as device:
        data = tmp_path / "data"
        with launched_app(_settings(tmp_path, data, fake_tgi)) as app:
            client = Client(app.url, verbose=False, httpx_kwargs=PATIENT)
            _break_while_streaming(app, client, fake_tgi, "ro", lambda: make_read_only(device))
            assert _health(app) == (503, "failing")  # still: a read-only disk does not heal itself
    # Repaired and mounted again (what an operator does), the file holds everything acknowledged.
    repair(image)
    with mounted_image(image, tmp_path / "data"):
        _acknowledged(_stored(tmp_path / "data"), "ro")


APP_UID = 1000  # the image's user (Dockerfile); tests run as root, whom no permission stops


@pytest.mark.process  # python app.py as uid 1000 (setpriv)
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="running the app as uid 1000 needs root and setpriv"
)
def test_a_data_folder_made_read_only_by_permissions_refuses_with_a_sentence_and_recovers_when_writable(
    fake_tgi: FakeTgi,
) -> None:
    """The DuckDB file's folder chmod-ed to 0555 under an app running as its owner, uid 1000, as in the image.
    Unlike a read-only mount this leaves the open file and WAL writable, so nothing fails until DuckDB's next
    checkpoint (which removes the WAL); /healthz says so at once, and clears once the folder is writable again."""
    root = Path(tempfile.mkdtemp(prefix="chatlens-ro-perm-"))  # pytest's tmp_path is mode 700 under root's
    root.chmod(0o755)
    data, home = root / "data", root / "home"
    for folder in (data, home):
        folder.mkdir()
        os.chown(folder, APP_UID, APP_UID)
    env = {
        "HOME": str(home),  # not root's, which uid 1000 cannot read
        "TGI_URL": fake_tgi.url,
        "DATABASE_URL": f"duckdb:///{data / 'chatlens.duckdb'}",
        "DATA_DIR": str(data),
        "REQUEST_TIMEOUT_S": "10",
        "RATE_LIMIT_USER_PER_MIN": "0",
        "RATE_LIMIT_IP_PER_MIN": "0",
    }
    setpriv = ["setpriv", f"--reuid={APP_UID}", f"--regid={APP_UID}", "--clear-groups", "--"]
    app = AppProcess(env, root / "app.log", prefix=setpriv)
    try:
        app.wait_ready()
        client = Client(app.url, verbose=False, httpx_kwargs=PATIENT)
        fake_tgi.default = Behaviour(tokens=5, finish_reason="stop")
        assert client.predict("perm saved before", api_name="/chat") == "w0 w1 w2 w3 w4"
        fake_tgi.next(*[STREAMING] * IN_FLIGHT)
        jobs = [client.submit(f"perm in flight {i}", api_name="/chat") for i in range(IN_FLIGHT)]
        assert wait_until(lambda: all(job.outputs() for job in jobs), timeout_s=20)  # each user message is durable
        data.chmod(0o555)
        # The open database file and WAL stay writable: the replies stream to their end and are saved for real.
        assert [job.result(timeout=30) for job in jobs] == [LONG_REPLY] * IN_FLIGHT
        # But DuckDB's next checkpoint removes the WAL and would fail, invalidating the database: /healthz warns.
        assert _health(app) == (503, "failing")
        data.chmod(0o755)
        assert wait_until(lambda: _health(app) == (200, "ok"), timeout_s=15)  # no restart
        assert client.predict("perm after writable again", api_name="/chat") == "w0 w1 w2 w3 w4"
        assert app.terminate() == 0
        rows = _stored(data)
        assert {m.content for m in rows if m.role == "user"} >= {
            "perm saved before", "perm after writable again", *(f"perm in flight {i}" for i in range(IN_FLIGHT))
        }  # fmt: skip
        assert [m.content for m in rows if m.role == "assistant" and m.status == "complete"].count(LONG_REPLY) == 6
    finally:
        app.kill()
        print(app.log()[-4000:])  # shown if the test fails
        data.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def _stored(folder: Path) -> list[Message]:
    store = Store.open(f"duckdb:///{folder / 'chatlens.duckdb'}")
    try:
        with store.sessions() as session:
            return list(session.scalars(select(Message)))
    finally:
        store.close()


def test_postgres_restarted_mid_stream_loses_nothing_acknowledged_and_the_app_reconnects_by_itself(
    tmp_path: Path, fake_tgi: FakeTgi, postgres: TempPostgres
) -> None:
    settings = make_settings(
        tmp_path, database_url=postgres.new_database(), tgi_url=fake_tgi.url, auto_title=False, request_timeout_s=10
    )
    streams = 50
    reply = " ".join(f"w{i}" for i in range(40))
    with launched_app(settings) as app:
        client = Client(app.url, verbose=False, max_workers=streams + 4, httpx_kwargs=PATIENT)
        assert client.predict("pg saved before", api_name="/chat") == "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11"
        fake_tgi.default = Behaviour(tokens=40, token_interval_s=0.05, finish_reason="stop")
        texts = [f"pg stream {i}" for i in range(streams)]
        jobs = [client.submit(text, api_name="/chat") for text in texts]
        assert wait_until(lambda: sum(bool(job.outputs()) for job in jobs) >= 20, timeout_s=30)
        postgres.restart()
        first_token = {text for text, job in zip(texts, jobs, strict=True) if job.outputs()}
        still_streaming = {t for t, j in zip(texts, jobs, strict=True) if j.outputs() and j.outputs()[-1] != reply}
        assert still_streaming, "the restart came after every stream had ended: this tested nothing"
        completed: set[str] = set()
        for text, job in zip(texts, jobs, strict=True):
            try:
                assert job.result(timeout=60) == reply
                completed.add(text)
            except Exception as exc:  # only a turn that could not be made durable may fail, and it says so
                assert "could not save" in str(exc) and "Traceback" not in str(exc), exc
        # A restart of a second or two is ridden out: the writer tries a batch again while PostgreSQL is back.
        assert len(completed) == streams, f"{len(completed)} of {streams} completed ({len(first_token)} first tokens)"

        fake_tgi.default = Behaviour(tokens=5, finish_reason="stop")
        assert client.predict("pg after the restart", api_name="/chat") == "w0 w1 w2 w3 w4"  # the writer is not wedged
        assert httpx.get(f"{app.url}/healthz", timeout=15).json()["database"] == "ok"
        rows = app.rows(Message)
    users = [m for m in rows if m.role == "user"]
    by_text = {m.content: m for m in users}
    for text in first_token | completed | {"pg saved before", "pg after the restart"}:
        assert sum(m.content == text for m in users) == 1, text
    for text in completed:
        replies = [m for m in rows if m.conversation_id == by_text[text].conversation_id and m.role == "assistant"]
        assert [(m.content, m.status) for m in replies] == [(reply, "complete")], text
