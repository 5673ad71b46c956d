"""Start-up and shutdown of the real process: bad configuration, an absent model server, SIGTERM mid-reply."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from gradio_client import Client

from tests.support.fake_tgi import Behaviour, FakeTgi, free_port
from tests.support.processes import AppProcess, run_app_to_exit

pytestmark = pytest.mark.process  # every test starts `python app.py`


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TGI_URL": "ftp://model-server"}, "bad configuration: TGI_URL: TGI_URL must start with http"),
        ({"REQUEST_TIMEOUT_S": "soon"}, "bad configuration: REQUEST_TIMEOUT_S"),
        (
            {"DATABASE_URL": "duckdb:////proc/chatlens/chatlens.duckdb"},
            "the data folder /proc/chatlens cannot be written",
        ),
    ],
)
def test_bad_configuration_stops_start_up_with_one_clear_line(env: dict[str, str], expected: str) -> None:
    result = run_app_to_exit({"TGI_URL": "", **env})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ChatLens cannot start: ") and expected in last_line, result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def slow_tgi() -> Iterator[FakeTgi]:
    fake = FakeTgi(default=Behaviour(tokens=400, token_interval_s=0.02)).start()
    yield fake
    fake.stop()


def test_unreachable_model_server_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    app = AppProcess(
        {"TGI_URL": f"http://127.0.0.1:{free_port()}", "DATABASE_URL": f"duckdb:///{tmp_path / 'db.duckdb'}"},
        tmp_path / "app.log",
    )
    try:
        app.wait_ready()
        assert httpx.get(f"{app.url}/healthz").json()["model_server"] == "unreachable"
        assert "does not answer /health" in app.log()
        assert app.terminate() == 0
    finally:
        app.kill()


def test_sigterm_lets_replies_finish_then_saves_the_rest_as_stopped(tmp_path: Path, slow_tgi: FakeTgi) -> None:
    db_path = tmp_path / "db.duckdb"
    app = AppProcess(
        {"TGI_URL": slow_tgi.url, "DATABASE_URL": f"duckdb:///{db_path}", "SHUTDOWN_GRACE_S": "1.5"},
        tmp_path / "app.log",
    )
    try:
        client = Client(app.wait_ready().url, verbose=False)
        slow_tgi.next(Behaviour(tokens=20, token_interval_s=0.05), Behaviour(tokens=400, token_interval_s=0.02))
        short_id, long_id = str(uuid.uuid4()), str(uuid.uuid4())
        short = client.submit("short one", short_id, api_name="/chat")
        deadline = time.monotonic() + 10
        while not slow_tgi.streams:  # one at a time, so each gets its scripted behaviour
            assert time.monotonic() < deadline, "short stream did not start"
            time.sleep(0.02)
        client.submit("long one", long_id, api_name="/chat")
        while len(slow_tgi.streams) < 2 or slow_tgi.streams[1].tokens_sent < 5:
            assert time.monotonic() < deadline, "streams did not start"
            time.sleep(0.02)

        exit_code: list[int] = []
        stopper = threading.Thread(target=lambda: exit_code.append(app.terminate()))
        stopper.start()
        time.sleep(0.3)
        with pytest.raises(Exception, match="ChatLens is restarting"):
            client.predict("one more?", api_name="/chat")
        assert short.result(timeout=10) == "".join(Behaviour(tokens=20).reply_tokens())
        stopper.join(30)
        assert exit_code == [0], app.log()
        assert "stopped cleanly" in app.log()
    finally:
        app.kill()

    [long_stream] = [s for s in slow_tgi.streams if s.body["messages"][-1]["content"] == "long one"]
    assert long_stream.client_closed and long_stream.tokens_sent < 400
    with duckdb.connect(str(db_path)) as db:
        rows = db.execute(
            "SELECT c.id, m.role, m.status, length(m.content) FROM messages m JOIN conversations c "
            "ON c.id = m.conversation_id ORDER BY c.id, m.seq"
        ).fetchall()
    by_conversation: dict[str, list[tuple[str, str, int]]] = {}
    for cid, role, status, length in rows:
        by_conversation.setdefault(str(cid), []).append((role, status, length))
    assert by_conversation[short_id][1][:2] == ("assistant", "complete")
    assert by_conversation[long_id][1][:2] == ("assistant", "stopped")
    assert 0 < by_conversation[long_id][1][2] < len("".join(Behaviour(tokens=400).reply_tokens()))
