"""The ways ChatLens is started for real, each run as a separate ``python app.py`` (issue 23).

- The image: exactly the files the Dockerfile copies, root-owned and read-only, its CMD run as uid 1000 with its ENV,
  the locked packages only (``-S`` + ``PYTHONPATH``), in a private mount namespace where every mount but the data
  folder is read-only (``docker run --read-only -v …:/data``); polled with its HEALTHCHECK; restarted from a fresh
  copy with the same data folder.
- A Space: the variables Hugging Face sets, with and without ``hf_oauth``, with and without persistent storage.
- Behind a proxy: visitors arriving from 127.0.0.2 with their own ``X-Forwarded-For``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.dockerfile import dockerfile_env, dockerfile_instructions, exec_form, on_this_python
from tests.support.fake_oidc import FakeOidc
from tests.support.fake_tgi import FakeTgi, free_port

pytestmark = pytest.mark.process  # every test starts `python app.py` as the image or a Space would

ROOT = Path(__file__).resolve().parent.parent
SITE_PACKAGES = os.pathsep.join(sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}))
APP_UID = 1000

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None,
    reason="a read-only mount namespace and a switch to uid 1000 need root, unshare and setpriv",
)


# --- helpers -------------------------------------------------------------------------------------------------------


def copy_what_the_dockerfile_copies(workdir: Path) -> Path:
    """The image's /app: every COPY of the Dockerfile, owned by root and not writable by anyone."""
    workdir.mkdir(parents=True)
    for keyword, rest in dockerfile_instructions():
        if keyword != "COPY":
            continue
        *sources, destination = shlex.split(rest)
        for source in sources:
            path, target = ROOT / source, workdir / destination
            if path.is_dir():
                shutil.copytree(path, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
    for path in [workdir, *workdir.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return workdir


READ_ONLY_EXCEPT_DATA = r"""
set -e
mount --bind "$DATA" "$DATA"
for target in $(findmnt -rn -o TARGET); do
    case "$target" in /proc*|/sys*|/dev*|"$DATA") continue ;; esac
    mount -o remount,bind,ro "$target" 2>/dev/null || true
done
if touch /probe-rw 2>/dev/null || touch /tmp/probe-rw 2>/dev/null || touch "$PWD/probe-rw" 2>/dev/null; then
    echo "the namespace is not read-only" >&2; exit 97
fi
exec setpriv --reuid=1000 --regid=1000 --clear-groups -- "$@"
"""


class ImageRun:
    """The image's CMD in a read-only namespace: only ``data_dir`` (standing for /data) is writable."""

    def __init__(self, code: Path, data_dir: Path, env: dict[str, str], log_path: Path) -> None:
        instructions = dockerfile_instructions()
        (command,) = [exec_form(rest) for keyword, rest in instructions if keyword == "CMD"]
        (self.healthcheck,) = [exec_form(rest) for keyword, rest in instructions if keyword == "HEALTHCHECK"]
        image_env = dockerfile_env()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/nonexistent",
            **{key: value.replace("/data", str(data_dir)) for key, value in image_env.items()},
            "GRADIO_SERVER_NAME": "127.0.0.1",  # the image listens on 0.0.0.0; a test only on loopback
            "GRADIO_SERVER_PORT": str(self.port),
            "PYTHONPATH": SITE_PACKAGES,
            "DATA": str(data_dir),
            **env,
        }
        assert self.env["DATABASE_URL"] == f"duckdb:///{data_dir}/chatlens.duckdb", self.env["DATABASE_URL"]
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_EXCEPT_DATA, "sh",
                 *on_this_python(command, "-S")],
                cwd=code, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def healthy(self) -> bool:
        check = subprocess.run(on_this_python(self.healthcheck), env=self.env, capture_output=True, timeout=10)
        return check.returncode == 0

    def wait_healthy(self, timeout_s: float = 60) -> ImageRun:
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            assert self.proc.poll() is None, f"the app exited ({self.proc.returncode}):\n{self.log()}"
            assert time.monotonic() < deadline, f"never healthy:\n{self.log()}"
            time.sleep(0.3)
        return self

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)  # what `docker stop` sends to the CMD (PID 1, exec form)
        try:
            return self.proc.wait(timeout=40)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def app_process(
    env: dict[str, str], cwd: Path, log_path: Path, code: Path = ROOT
) -> tuple[subprocess.Popen[bytes], str]:
    """``python app.py`` from ``code`` (a Space runs it from its checkout), in ``cwd``, with only ``env`` set."""
    port = free_port()
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "AUTO_TITLE": "false",
        **env,
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(code / "app.py")], cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the app exited ({proc.returncode}):\n{log_path.read_text()}"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"never healthy:\n{log_path.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def visitor(url: str, *, local_address: str = "127.0.0.1") -> httpx.Client:
    """A browser-like client with its own cookie jar: the page load gives it its anonymous session cookie."""
    client = httpx.Client(
        base_url=url, transport=httpx.HTTPTransport(local_address=local_address), timeout=30, follow_redirects=True
    )
    assert client.get("/").status_code == 200
    assert client.cookies, "the page load set no session cookie"
    return client


def chat(client: httpx.Client, message: str, conversation_id: str = "", **headers: str) -> tuple[str, str]:
    """One ``/chat`` call over Gradio's REST API: ("complete" | "error", the last data line)."""
    # /chat takes 15 values (docs/api.md): the message, the conversation, then 13 left unset.
    started = client.post(
        "/gradio_api/call/chat", json={"data": [message, conversation_id, *[None] * 13]}, headers=headers
    )
    assert started.status_code == 200, started.text
    event_id = started.json()["event_id"]
    event, data = "", ""
    with client.stream("GET", f"/gradio_api/call/chat/{event_id}", headers=headers) as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
            if event in ("complete", "error") and line.startswith("data: "):
                break
    return event, data


# --- the image -----------------------------------------------------------------------------------------------------


@pytest.fixture
def world_readable_tmp() -> Iterator[Path]:
    """A temporary folder uid 1000 can reach (pytest's own is mode 700 under root's)."""
    folder = Path(tempfile.mkdtemp(prefix="chatlens-image-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@needs_root
def test_image_starts_read_only_as_uid_1000_and_a_restart_keeps_an_anonymous_visitors_conversation(
    world_readable_tmp: Path, fake_tgi: FakeTgi
) -> None:
    tmp_path = world_readable_tmp
    data_dir = tmp_path / "data"  # the /data volume: the only thing the app may write
    data_dir.mkdir()
    os.chown(data_dir, APP_UID, APP_UID)
    env = {"TGI_URL": fake_tgi.url, "AUTO_TITLE": "false"}  # the README's `docker run … -e TGI_URL=…`

    first = ImageRun(copy_what_the_dockerfile_copies(tmp_path / "app-1"), data_dir, env, tmp_path / "run-1.log")
    try:
        first.wait_healthy()
        browser = visitor(first.url)
        conversation = str(uuid.uuid4())
        event, data = chat(browser, "remember the lighthouse", conversation)
        assert event == "complete", f"{event}: {data}\n{first.log()}"
        scratch = list((data_dir / "tmp").glob("run-*"))
        assert len(scratch) == 1, f"one scratch folder for the running process: {scratch}"
    finally:
        code = first.stop()
    assert code == 0, f"SIGTERM did not stop the app cleanly:\n{first.log()}"
    secret = data_dir / "session-secret"
    assert secret.is_file() and stat.S_IMODE(secret.stat().st_mode) == 0o600, sorted(data_dir.iterdir())
    assert secret.stat().st_uid == APP_UID
    assert not list((data_dir / "tmp").iterdir()), "the scratch folder outlived the process"

    second = ImageRun(copy_what_the_dockerfile_copies(tmp_path / "app-2"), data_dir, env, tmp_path / "run-2.log")
    try:
        second.wait_healthy()
        browser = httpx.Client(base_url=second.url, cookies=browser.cookies, timeout=30)
        event, data = chat(browser, "what did I ask you to remember?", conversation)
        assert event == "complete", f"{event}: {data}\n{second.log()}"
        sent = [message["content"] for message in fake_tgi.streams[-1].body["messages"]]
        assert "remember the lighthouse" in json.dumps(sent), f"the conversation was not opened again: {sent}"
    finally:
        assert second.stop() == 0, second.log()


@needs_root
def test_after_a_kill_the_next_start_removes_the_dead_processs_scratch_folder(
    world_readable_tmp: Path, fake_tgi: FakeTgi
) -> None:
    """`docker kill` (or the OOM killer) leaves the scratch folder: the next start, same volume, removes it."""
    data_dir = world_readable_tmp / "data"
    data_dir.mkdir()
    os.chown(data_dir, APP_UID, APP_UID)
    env = {"TGI_URL": fake_tgi.url, "AUTO_TITLE": "false"}
    code = copy_what_the_dockerfile_copies(world_readable_tmp / "app")
    first = ImageRun(code, data_dir, env, world_readable_tmp / "run-1.log").wait_healthy()
    [stale] = list((data_dir / "tmp").glob("run-*"))
    (stale / "upload.bin").write_bytes(b"x" * 1024)  # something Gradio cached there
    first.proc.kill()
    first.proc.wait(timeout=20)
    assert stale.is_dir(), "SIGKILL gives the app no chance to clean up: the folder stays until the next start"

    second = ImageRun(code, data_dir, env, world_readable_tmp / "run-2.log")
    try:
        second.wait_healthy()
        now = list((data_dir / "tmp").glob("run-*"))
        assert not stale.exists() and len(now) == 1 and now[0] != stale, (now, second.log())
    finally:
        assert second.stop() == 0, second.log()
    assert not list((data_dir / "tmp").iterdir())


@needs_root
def test_image_refuses_in_one_line_when_its_data_volume_is_not_writable(world_readable_tmp: Path) -> None:
    tmp_path = world_readable_tmp
    data_dir = tmp_path / "data"
    data_dir.mkdir()  # owned by root: uid 1000 cannot write it
    run = ImageRun(copy_what_the_dockerfile_copies(tmp_path / "app"), data_dir, {}, tmp_path / "run.log")
    assert run.proc.wait(timeout=60) != 0
    last = run.log().strip().splitlines()[-1]
    assert last.startswith("ChatLens cannot start:") and str(data_dir) in last, run.log()
    assert "Traceback" not in run.log()


# --- a Space -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOidc]:
    fake = FakeOidc().start()
    yield fake
    fake.stop()


def space_env(storage: Path, tgi_url: str, provider: FakeOidc | None) -> dict[str, str]:
    """What a Space's container gets: Hugging Face's variables, plus what docs/deploy.md's Space section lists
    (the TGI_URL secret). The storage folder stands for /data (SPACE_STORAGE_DIR names it)."""
    env = {
        "SPACE_ID": "someone/chatlens",
        "SPACE_HOST": "someone-chatlens.hf.space,chat.example.com",
        "SPACE_STORAGE_DIR": str(storage),
        "SYSTEM": "spaces",
        "TGI_URL": tgi_url,
    }
    if provider is not None:  # hf_oauth: true
        env |= {
            "OPENID_PROVIDER_URL": provider.issuer,
            "OAUTH_CLIENT_ID": "space-client",
            "OAUTH_CLIENT_SECRET": "space-client-secret",
            "OAUTH_SCOPES": "openid profile",
        }
    return env


@pytest.mark.parametrize("hf_oauth", [False, True], ids=["anonymous", "hf_oauth"])
def test_space_with_persistent_storage_starts_and_keeps_its_state_there(
    hf_oauth: bool, tmp_path: Path, fake_tgi: FakeTgi, provider: FakeOidc
) -> None:
    storage, code = tmp_path / "data", tmp_path / "app"
    storage.mkdir()
    shutil.copytree(ROOT, code, ignore=shutil.ignore_patterns(".*", "data", "__pycache__", "tests", "benchmarks"))
    before = set(code.rglob("*"))
    env = space_env(storage, fake_tgi.url, provider if hf_oauth else None)
    proc, url = app_process(env, code, tmp_path / "space.log", code=code)
    try:
        wait_healthy(proc, url, tmp_path / "space.log")
        if hf_oauth:
            login = httpx.get(f"{url}/login", follow_redirects=False, timeout=10)
            assert login.status_code in (302, 303, 307), login.text
            to = httpx.URL(login.headers["location"])
            assert to.params["redirect_uri"] == "https://someone-chatlens.hf.space/auth/callback", to
            assert to.params["scope"] == "openid profile"
        else:
            assert chat(visitor(url), "hello from a Space")[0] == "complete"
    finally:
        assert stop(proc) == 0, (tmp_path / "space.log").read_text()
    secret = storage / "session-secret"
    assert (storage / "chatlens.duckdb").is_file() and secret.is_file(), sorted(storage.iterdir())
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    written = {path for path in code.rglob("*") if "__pycache__" not in path.parts} - before
    assert not written, f"written next to the code: {sorted(written)}"


def test_space_login_without_storage_or_secret_refuses_in_one_line_naming_the_secret(
    tmp_path: Path, provider: FakeOidc
) -> None:
    env = space_env(tmp_path / "no-storage", f"http://127.0.0.1:{free_port()}", provider)
    proc, _url = app_process(env, tmp_path, tmp_path / "space.log")
    assert proc.wait(timeout=60) != 0
    lines = [line for line in (tmp_path / "space.log").read_text().splitlines() if line.strip()]
    assert lines[-1].startswith("ChatLens cannot start:") and "SESSION_SECRET Space secret" in lines[-1], lines
    assert "Traceback" not in "\n".join(lines)


# --- behind a proxy ------------------------------------------------------------------------------------------------


def proxied_app(tmp_path: Path, fake_tgi: FakeTgi, **env: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    log_path = tmp_path / "proxied.log"
    base = {
        "TGI_URL": fake_tgi.url,
        "DATABASE_URL": f"duckdb:///{tmp_path / 'chatlens.duckdb'}",
        "RATE_LIMIT_IP_PER_MIN": "3",
        "RATE_LIMIT_USER_PER_MIN": "0",
    }
    proc, url = app_process(base | env, tmp_path, log_path)
    wait_healthy(proc, url, log_path)
    return proc, url, log_path


def through_proxy(url: str) -> httpx.Client:
    """A visitor whose requests reach ChatLens from the proxy's address, 127.0.0.2."""
    return visitor(url, local_address="127.0.0.2")


def test_behind_a_trusted_proxy_each_visitor_has_their_own_limit_and_a_spoofed_header_shifts_nothing(
    tmp_path: Path, fake_tgi: FakeTgi
) -> None:
    proc, url, log_path = proxied_app(tmp_path, fake_tgi, TRUSTED_PROXIES="127.0.0.2")
    try:
        visitors = [through_proxy(url) for _ in range(6)]
        addresses = [f"203.0.113.{i}" for i in range(6)]
        for client, address in zip(visitors, addresses, strict=True):  # six visitors: one address each
            assert chat(client, "hi", **{"X-Forwarded-For": address})[0] == "complete"
        for _ in range(2):
            assert chat(visitors[0], "more", **{"X-Forwarded-For": addresses[0]})[0] == "complete"
        event, data = chat(visitors[0], "one too many", **{"X-Forwarded-For": addresses[0]})
        assert event == "error" and "Slow down" in data, (event, data)
        # Visitor 2 claims visitor 3's address; the proxy appends visitor 2's own. Counted on visitor 2 alone.
        spoofed = {"X-Forwarded-For": f"{addresses[3]}, {addresses[2]}"}
        for _ in range(2):
            assert chat(visitors[2], "spoof", **spoofed)[0] == "complete"
        assert chat(visitors[2], "spoof again", **spoofed)[0] == "error", "the spoofed header escaped the limit"
        for _ in range(2):
            assert chat(visitors[3], "mine", **{"X-Forwarded-For": addresses[3]})[0] == "complete", (
                "another visitor's spoofed header used up this visitor's limit"
            )
    finally:
        assert stop(proc) == 0
    assert "TRUSTED_PROXIES to the proxy" not in log_path.read_text()


def test_behind_an_untrusted_proxy_visitors_share_one_limit_and_the_log_names_the_setting(
    tmp_path: Path, fake_tgi: FakeTgi
) -> None:
    proc, url, log_path = proxied_app(tmp_path, fake_tgi)
    try:
        events = [chat(through_proxy(url), "hi", **{"X-Forwarded-For": f"203.0.113.{i}"})[0] for i in range(6)]
    finally:
        assert stop(proc) == 0
    assert events == ["complete"] * 3 + ["error"] * 3, events
    warnings = [line for line in log_path.read_text().splitlines() if "Set TRUSTED_PROXIES" in line]
    assert len(warnings) == 1 and "6 users" in warnings[0], log_path.read_text()


def test_a_wildcard_trusted_proxy_is_refused_in_one_line(tmp_path: Path) -> None:
    env = {"TRUSTED_PROXIES": "*", "DATABASE_URL": f"duckdb:///{tmp_path / 'chatlens.duckdb'}"}
    proc, _url = app_process(env, tmp_path, tmp_path / "app.log")
    assert proc.wait(timeout=60) != 0
    last = (tmp_path / "app.log").read_text().strip().splitlines()[-1]
    assert last.startswith("ChatLens cannot start: bad configuration: TRUSTED_PROXIES") and "leftmost" in last


def test_postgresql_without_session_secret_is_refused_in_one_line_before_touching_the_database(tmp_path: Path) -> None:
    """Nothing listens on the address: the refusal comes from the configuration, before any connection."""
    env = {
        "DATABASE_URL": f"postgresql+psycopg://chatlens:x@127.0.0.1:{free_port()}/chatlens",
        "DATA_DIR": str(tmp_path),
    }
    proc, _url = app_process(env, tmp_path, tmp_path / "app.log")
    assert proc.wait(timeout=60) != 0
    last = (tmp_path / "app.log").read_text().strip().splitlines()[-1]
    assert last.startswith("ChatLens cannot start: bad configuration: DATABASE_URL is PostgreSQL") and (
        "SESSION_SECRET" in last and "every replica" in last
    ), last
    assert not (tmp_path / "session-secret").exists()


# --- local mode off Linux ------------------------------------------------------------------------------------------


def test_local_mode_off_linux_is_refused_in_one_line(tmp_path: Path) -> None:
    """As on macOS: app.py's main() as `python app.py` runs it, the platform changed once everything is imported."""
    script = "import sys; sys.path.insert(0, '.'); import app; sys.platform = 'darwin'; app.main([])"
    env = {
        **os.environ,
        "LOCAL_MODE": "true",
        "TGI_URL": "",
        "DATABASE_URL": f"duckdb:///{tmp_path / 'chatlens.duckdb'}",
        "GRADIO_SERVER_PORT": str(free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ChatLens cannot start: local mode runs on Linux only") and "TGI_URL" in last, result.stderr
