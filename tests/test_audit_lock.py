"""The lock audit (`tools/audit_lock.py`) run as CI runs it, against a real HTTP server speaking PyPI's project JSON.

The server answers `/pypi/<name>/json` from a dict of projects, as the registry CI reaches does; a name it does not
know gets a 404.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools.audit_lock import read_pins

ROOT = Path(__file__).resolve().parent.parent

ADVISORY = {
    "id": "PYSEC-2099-1",
    "aliases": ["CVE-2099-0001", "GHSA-xxxx-yyyy-zzzz"],
    "fixed_in": [],
    "summary": "Remote code execution through the frobnicator.",
    "withdrawn": None,
}


def project(version: str, *advisories: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"version": version}, "releases": {}, "urls": [], "vulnerabilities": list(advisories)}


@pytest.fixture
def registry() -> Iterator[tuple[str, dict[str, dict[str, Any]], list[str]]]:
    projects: dict[str, dict[str, Any]] = {}
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            parts = self.path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json" and parts[1] in projects:
                body = json.dumps(projects[parts[1]]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/pypi", projects, asked
    server.shutdown()
    server.server_close()


def run_audit(lock: Path, api_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.audit_lock", str(lock), "--api-url", api_url, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.process
def test_a_pin_at_the_newest_release_with_an_advisory_fails_with_its_ids(registry: Any, tmp_path: Path) -> None:
    api_url, projects, _ = registry
    projects["frob"] = project("2.0.0", ADVISORY)
    projects["calm"] = project("1.0")
    lock = tmp_path / "requirements.txt"
    lock.write_text("calm==1.0\nfrob==2.0.0\n")

    result = run_audit(lock, api_url)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "VULNERABLE frob==2.0.0: PYSEC-2099-1 (CVE-2099-0001, GHSA-xxxx-yyyy-zzzz)" in result.stdout
    assert "frobnicator" in result.stdout
    assert "calm" not in result.stdout.split("VULNERABLE", 1)[1]


@pytest.mark.process
def test_an_ignored_advisory_passes_by_its_id_or_an_alias(registry: Any, tmp_path: Path) -> None:
    api_url, projects, _ = registry
    projects["frob"] = project("2.0.0", ADVISORY)
    lock = tmp_path / "requirements.txt"
    lock.write_text("frob==2.0.0\n")

    assert run_audit(lock, api_url, "--ignore-vuln", "PYSEC-2099-1").returncode == 0
    assert run_audit(lock, api_url, "--ignore-vuln", "CVE-2099-0001").returncode == 0
    assert run_audit(lock, api_url, "--ignore-vuln", "PYSEC-2099-2").returncode == 1


@pytest.mark.process
def test_a_withdrawn_advisory_is_not_a_finding(registry: Any, tmp_path: Path) -> None:
    api_url, projects, _ = registry
    projects["frob"] = project("2.0.0", {**ADVISORY, "withdrawn": "2099-02-01T00:00:00Z"})
    lock = tmp_path / "requirements.txt"
    lock.write_text("frob==2.0.0\n")

    result = run_audit(lock, api_url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 of 1 pins" in result.stdout
    assert "no known advisory" in result.stdout


@pytest.mark.process
def test_a_pin_behind_the_newest_release_is_listed_as_not_covered_never_as_clean(registry: Any, tmp_path: Path) -> None:
    api_url, projects, _ = registry
    # The newest release lists no advisory; that says nothing about the older pin.
    projects["frob"] = project("3.0.0")
    projects["calm"] = project("1.0")
    lock = tmp_path / "requirements.txt"
    lock.write_text("frob==2.0.0\ncalm==1.0\n")

    result = run_audit(lock, api_url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 of 2 pins" in result.stdout
    assert "not covered (1)" in result.stdout
    assert "frob==2.0.0 (newest 3.0.0)" in result.stdout


@pytest.mark.process
def test_a_project_the_registry_cannot_answer_for_fails_the_audit(registry: Any, tmp_path: Path) -> None:
    api_url, projects, _ = registry
    projects["calm"] = project("1.0")
    lock = tmp_path / "requirements.txt"
    lock.write_text("calm==1.0\nunknown-thing==0.1\n")

    result = run_audit(lock, api_url)

    assert result.returncode == 2
    assert "ERROR unknown-thing==0.1: HTTP 404" in result.stderr


@pytest.mark.process
def test_a_lock_without_pins_fails_rather_than_passing_on_nothing(registry: Any, tmp_path: Path) -> None:
    api_url, _, asked = registry
    lock = tmp_path / "requirements.txt"
    lock.write_text("# nothing pinned\ngradio>=6\n")

    result = run_audit(lock, api_url)

    assert result.returncode == 2
    assert "nothing was audited" in result.stderr
    assert asked == []


@pytest.mark.process
def test_the_hashed_lock_is_read_with_canonical_names(registry: Any, tmp_path: Path) -> None:
    api_url, projects, asked = registry
    projects["typing-extensions"] = project("4.15.0")
    projects["jinja2"] = project("3.1.6", ADVISORY)
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "# generated\n"
        "Jinja2==3.1.6 \\\n    --hash=sha256:aaaa \\\n    --hash=sha256:bbbb\n    # via gradio\n"
        "typing_extensions==4.15.0 ; python_version >= '3.8' \\\n    --hash=sha256:cccc\n"
    )

    result = run_audit(lock, api_url)

    assert result.returncode == 1, result.stdout + result.stderr
    assert sorted(asked) == ["/pypi/jinja2/json", "/pypi/typing-extensions/json"]
    assert "VULNERABLE jinja2==3.1.6: PYSEC-2099-1" in result.stdout


def test_the_project_lock_and_its_hashless_copy_pin_the_same_versions() -> None:
    locked = read_pins((ROOT / "requirements.lock").read_text())
    assert len(locked) > 50
    assert locked == read_pins((ROOT / "requirements.txt").read_text())
