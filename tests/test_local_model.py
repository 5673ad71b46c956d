"""Local mode end to end with the real small model: llama.cpp's server as ChatLens's child process.

The one test suite part that runs a real model (Gemma 3 270M, Q4_K_M, on the CPU); everything else uses the fake.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from storage.schema import Generation
from storage.store import Store
from tests.support.processes import AppProcess
from tests.support.wait import wait_until

pytestmark = pytest.mark.process  # `python app.py` and its llama.cpp server


def children_running(parent_pid: int, marker: str) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent_pid and marker in cmdline:
            found.append(int(stat.parent.name))
    return found


def answered_within_tries(client: Client, tries: int) -> bool:
    """Recovery as a user sees it: a message (retried by hand if it fails) gets an answer again."""
    for _ in range(tries):
        try:
            return bool(client.predict("Hello", "", 0.0, None, 8, api_name="/chat").strip())
        except Exception:
            time.sleep(1)
    return False


@pytest.fixture
def local_app(tmp_path: Path) -> Iterator[AppProcess]:
    app = AppProcess(
        {"LOCAL_MODE": "true", "TGI_URL": "", "DATABASE_URL": f"duckdb:///{tmp_path / 'db.duckdb'}"},
        tmp_path / "app.log",
    )
    try:
        yield app.wait_ready(timeout_s=180)
    finally:
        app.kill()


def test_local_mode_streams_a_real_reply_survives_its_server_dying_and_leaves_no_orphan(
    local_app: AppProcess, tmp_path: Path
) -> None:
    log = local_app.log()
    assert "assembling and checking gemma-3-270m" in log and "answering on http://127.0.0.1:" in log
    assert httpx.get(f"{local_app.url}/healthz").json()["model_server"] == "ok"
    client = Client(local_app.url, verbose=False)

    conversation = str(uuid.uuid4())
    job = client.submit("The capital of France is", conversation, 0.0, None, 24, api_name="/chat")
    reply = job.result(timeout=120)
    assert reply.strip() and len(job.outputs()) >= 2

    # Two users at once: llama.cpp's server answers one request at a time; the queue holds the second.
    both = [client.submit(f"Say hello to {who}.", "", 0.0, None, 16, api_name="/chat") for who in ("Ann", "Bob")]
    assert all(job.result(timeout=120).strip() for job in both)

    [server] = children_running(local_app.proc.pid, "llama_cpp.server")
    slow = client.submit("Write a long story about a lighthouse.", "", None, None, 180, api_name="/chat")
    assert wait_until(lambda: len(slow.outputs()) >= 2, 60)
    os.kill(server, signal.SIGSEGV)  # dies as a build that does not fit the CPU did (an AMX fault, in CI once)
    with pytest.raises(Exception, match=r"broke in the middle|cannot be reached|ended the reply early"):
        slow.result(timeout=60)

    assert wait_until(lambda: children_running(local_app.proc.pid, "llama_cpp.server") not in ([], [server]), 60)
    assert wait_until(lambda: httpx.get(f"{local_app.url}/healthz").json()["model_server"] == "ok", 120)
    assert answered_within_tries(client, 3), "no recovery after the restart"
    assert "restarting" in local_app.log()
    assert "crashed (SIGSEGV)" in local_app.log() and "`make install` builds it for any AVX2" in local_app.log()

    [restarted] = children_running(local_app.proc.pid, "llama_cpp.server")
    assert local_app.terminate() == 0
    assert wait_until(lambda: not Path(f"/proc/{restarted}").exists(), 20), "llama.cpp's server outlived ChatLens"

    store = Store.open(f"duckdb:///{tmp_path / 'db.duckdb'}")
    try:
        with store.sessions() as session:
            rows = session.query(Generation).order_by(Generation.created_at).all()
    finally:
        store.close()
    first = rows[0]
    assert len(rows) >= 5 and [r.status for r in rows[1:3]] == ["complete", "complete"], [r.status for r in rows]
    assert (first.status, first.backend, first.model_id) == (
        "complete",
        "llama.cpp",
        "Gemma 3 270M · local CPU demo model",
    )
    assert first.time_to_first_token_ms and first.time_to_first_token_ms > 0
    assert first.tokens_per_s and first.tokens_per_s > 1
    assert first.output_tokens > 1
    assert rows[3].status == "error" and rows[3].error_type in ("incomplete", "unreachable")
    assert rows[-1].status == "complete"
