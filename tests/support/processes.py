"""ChatLens as a separate process (``python app.py``), for the tests that need real signals or several replicas."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.support.fake_tgi import free_port

ROOT = Path(__file__).resolve().parents[2]


class AppProcess:
    def __init__(self, env: dict[str, str], log_path: Path, prefix: Sequence[str] = ()) -> None:
        """``prefix``: a command the app runs under (e.g. ``setpriv --reuid=1000 … --``)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {
            **os.environ,
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "AUTO_TITLE": "false",  # tests count the model calls; titles are tested in tests/test_context.py
            **env,
        }
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "app.py"], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout_s: float = 60) -> AppProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"app not ready after {timeout_s} s:\n{self.log()}")

    def terminate(self, timeout_s: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def run_app_to_exit(env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """Start ``python app.py`` expecting it to refuse to start; returns its exit code and output."""
    full_env = {**os.environ, "GRADIO_SERVER_PORT": str(free_port()), "GRADIO_ANALYTICS_ENABLED": "False", **env}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout_s
    )
