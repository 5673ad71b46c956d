"""At run time ChatLens talks to its model server and to nothing else: huggingface_hub's Hub calls stay off.

huggingface_hub 2.x fetches an "agent harnesses" list from the Hub (``HF_ENDPOINT``) on the first model call, as part
of building its user agent, unless telemetry is off (the app turns it off); and it sends the host's Hugging Face
token (``HF_TOKEN``) to the model server unless given a key (the app's transport drops it: ``TGI_API_KEY`` is the only
credential sent). A recording HTTP server stands in for the Hub.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from gradio_client import Client

from tests.support.fake_tgi import FakeTgi
from tests.support.processes import AppProcess

pytestmark = pytest.mark.process  # every test starts `python app.py`


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b'{"standardEnvVars": [], "harnesses": {}}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_hub() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def chat_once(tmp_path: Path, fake_tgi: FakeTgi, hub_url: str, extra_env: dict[str, str]) -> str:
    app = AppProcess(
        {
            "TGI_URL": fake_tgi.url,
            "DATABASE_URL": f"duckdb:///{tmp_path / 'db.duckdb'}",
            "HF_ENDPOINT": hub_url,
            "HF_HOME": str(tmp_path / "hf-home"),  # no cached harness list from another run
            "HF_TOKEN": "hf_host_token_that_must_stay_home",
            **extra_env,
        },
        tmp_path / "app.log",
    )
    try:
        reply = Client(app.wait_ready().url, verbose=False).predict("hello", api_name="/chat")
        assert app.terminate() == 0
        return str(reply)
    finally:
        app.kill()


def test_a_chat_contacts_only_the_model_server(
    tmp_path: Path, fake_tgi: FakeTgi, fake_hub: tuple[str, list[str]]
) -> None:
    hub_url, hub_seen = fake_hub
    assert chat_once(tmp_path, fake_tgi, hub_url, {}).startswith("w0")
    assert hub_seen == []
    assert fake_tgi.authorizations == [""]


def test_the_probe_sees_the_hub_call_when_telemetry_is_left_on(
    tmp_path: Path, fake_tgi: FakeTgi, fake_hub: tuple[str, list[str]]
) -> None:
    """Without this, the test above could pass because the probe never sees anything."""
    hub_url, hub_seen = fake_hub
    chat_once(tmp_path, fake_tgi, hub_url, {"HF_HUB_DISABLE_TELEMETRY": "0", "TGI_API_KEY": "the-server-key"})
    assert "/api/agent-harnesses" in hub_seen
    assert fake_tgi.authorizations == ["Bearer the-server-key"]
