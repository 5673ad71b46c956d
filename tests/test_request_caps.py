"""Request bodies over REQUEST_MAX_BYTES get 413 before any handler — declared or chunked — while the server keeps
serving others, and the log never holds the body. Runs ``python app.py`` to read its real log."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from tests.support.fake_tgi import Behaviour, FakeTgi
from tests.support.processes import AppProcess
from tests.support.rawqueue import call

pytestmark = pytest.mark.process  # every test talks to `python app.py`

MARKER = "BODYMARKER"


@pytest.fixture(scope="module")
def process(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    root = tmp_path_factory.mktemp("caps")
    env = {
        "TGI_URL": fake_tgi_server.url,
        "DATABASE_URL": f"duckdb:///{root / 'store.duckdb'}",
        "SESSION_SECRET_FILE": str(root / "session-secret"),
        "REQUEST_MAX_BYTES": str(64 * 1024),
    }
    app = AppProcess(env, root / "app.log").wait_ready()
    yield app
    app.terminate()


def _join_body(size: int) -> bytes:
    text = (MARKER * (size // len(MARKER) + 1))[:size]
    return b'{"data":["' + text.encode() + b'"],"fn_index":0,"session_hash":"abc"}'


def test_a_declared_oversized_body_gets_413(process: AppProcess) -> None:
    response = httpx.post(f"{process.url}/gradio_api/queue/join", content=_join_body(100_000))
    assert response.status_code == 413 and "65,536 bytes" in response.json()["detail"]
    small = httpx.post(f"{process.url}/gradio_api/queue/join", content=_join_body(1_000))
    assert small.status_code != 413  # under the cap it reaches Gradio (which judges the body itself)


def test_a_chunked_oversized_body_is_counted_and_refused_while_others_are_served(
    process: AppProcess, fake_tgi: FakeTgi
) -> None:
    outcome: dict[str, int] = {}

    def slow_chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield (MARKER * 205).encode()  # 2,050 bytes a chunk: over 64 KiB after 32 chunks
            time.sleep(0.02)

    def send_chunked() -> None:
        try:
            outcome["status"] = httpx.post(f"{process.url}/gradio_api/queue/join", content=slow_chunks()).status_code
        except httpx.HTTPError:
            outcome["status"] = -1  # the server may close before all chunks are written

    sender = threading.Thread(target=send_chunked)
    sender.start()
    fake_tgi.next(Behaviour(tokens=5))
    assert Client(process.url, verbose=False).predict("still served?", api_name="/chat") == "w0 w1 w2 w3 w4"
    sender.join(30)
    assert outcome["status"] in (413, -1)
    if outcome["status"] == -1:  # then check the verdict with a body sent all at once, without Content-Length
        chunked = httpx.post(f"{process.url}/gradio_api/queue/join", content=iter([_join_body(70_000)]))
        assert chunked.status_code == 413


def test_the_log_never_holds_a_body(process: AppProcess) -> None:
    httpx.post(f"{process.url}/gradio_api/queue/join", content=_join_body(100_000))
    with httpx.Client(base_url=process.url) as client:
        config = client.get("/config").json()
        chat = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "chat")
        # Under the cap but one input short: Gradio's error quotes the inputs it received.
        failed = call(client, chat, [MARKER * 5000])
    assert not failed["success"]
    log = Path(process.log_path).read_text(errors="replace")
    assert "didn't receive enough input values" in log  # the error is logged…
    assert log.count(MARKER) < 40, "a request body reached the log"  # …but not the 50 KB it quoted


def test_imports_keep_their_larger_upload_cap(process: AppProcess) -> None:
    with httpx.Client(base_url=process.url) as client:
        client.get("/config")  # a session, as a browser has
        export = b'{"messages": []}' + b" " * 1_000_000  # 1 MB: over REQUEST_MAX_BYTES, within the import limit
        uploaded = client.post("/gradio_api/upload", files={"files": ("chat.json", export, "application/json")})
        assert uploaded.status_code == 200, uploaded.text[:200]
        over = 50_200_000  # over IMPORT_MAX_BYTES (50 MB by default: other tools export every chat in one file)
        huge = client.post("/gradio_api/upload", files={"files": ("big.json", b" " * over, "application/json")})
        assert huge.status_code == 413


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def test_eight_parallel_50_mb_posts_leave_the_server_memory_bounded(process: AppProcess) -> None:
    before = _rss_mb(process.proc.pid)

    def fifty_megabytes() -> Iterator[bytes]:
        chunk = b"x" * 1_000_000
        for _ in range(50):
            yield chunk

    def post(declared: bool) -> int:
        headers = {"content-length": str(50_000_000)} if declared else {}
        try:
            return httpx.post(
                f"{process.url}/gradio_api/queue/join", content=fifty_megabytes(), headers=headers, timeout=60
            ).status_code
        except httpx.HTTPError:
            return -1  # refused and closed before the client finished writing

    statuses: list[int] = []
    threads = [threading.Thread(target=lambda d=i % 2 == 0: statuses.append(post(d))) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(statuses) == 8 and set(statuses) <= {413, -1}
    assert _rss_mb(process.proc.pid) - before < 100  # nothing near 8 × 50 MB was buffered
    assert httpx.get(f"{process.url}/healthz").status_code == 200
