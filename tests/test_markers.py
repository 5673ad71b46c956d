"""The slow tiers: declared strictly, applied from fixtures, and a test that starts a process without its marker fails.

The enforcement is checked in a separate pytest run (``pytester``) with only ``tests/support/markers.py`` loaded.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.support.markers import TIERS, tier_of_command

ROOT = Path(__file__).resolve().parent.parent


def test_the_tiers_are_declared_in_pyproject_and_unknown_markers_are_refused() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    declared = dict(line.split(": ", 1) for line in options["markers"])
    assert declared == TIERS
    assert "--strict-markers" in options["addopts"].split()


@pytest.mark.parametrize(
    ("argv", "tier"),
    [
        (["/venv/playwright/driver/node", "/venv/playwright/driver/package/cli.js", "run-driver"], "browser"),
        (["/usr/lib/postgresql/15/bin/initdb", "-D", "/tmp/pg"], "postgres"),
        (["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "start"], "postgres"),
        (["/usr/bin/python3", "app.py"], "process"),
        (["docker-compose", "-f", "docker-compose.postgres.yml", "config"], "process"),
    ],
)
def test_each_command_belongs_to_its_tier(argv: list[str], tier: str) -> None:
    assert tier_of_command(argv) == tier


CONFTEST = """
import pytest

pytest_plugins = ("tests.support.markers",)


@pytest.fixture
def browser():
    return "a stand-in: only the name matters for marking"
"""

TESTS = """
import subprocess
import sys
import threading

import pytest


def start_python():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_unmarked_start():
    start_python()


def test_unmarked_start_swallowed():
    try:
        start_python()
    except Exception:
        pass


def test_unmarked_start_in_a_thread():
    thread = threading.Thread(target=start_python)
    thread.start()
    thread.join()


@pytest.fixture
def started():
    start_python()


def test_unmarked_start_in_a_fixture(started):
    pass


@pytest.mark.browser
def test_start_with_another_tiers_marker():
    start_python()


@pytest.mark.process
def test_marked_start():
    start_python()


@pytest.mark.process
def test_marked_start_in_a_fixture(started):
    pass


def test_uses_the_browser_fixture(browser):
    pass
"""


@pytest.mark.process
def test_a_test_starting_a_process_without_its_marker_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeini("[pytest]\nmarkers =\n" + "".join(f"    {name}: {meaning}\n" for name, meaning in TIERS.items()))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_tiers=TESTS)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")

    outcomes = {
        line.split()[1].split("::")[-1]: line.split()[0]
        for line in result.outlines
        if line.startswith(("PASSED ", "FAILED ", "ERROR "))
    }
    assert outcomes == {
        "test_unmarked_start": "FAILED",
        "test_unmarked_start_swallowed": "FAILED",
        "test_unmarked_start_in_a_thread": "FAILED",
        "test_unmarked_start_in_a_fixture": "ERROR",
        "test_start_with_another_tiers_marker": "FAILED",
        "test_marked_start": "PASSED",
        "test_marked_start_in_a_fixture": "PASSED",
        "test_uses_the_browser_fixture": "PASSED",
    }, result.stdout.str()
    result.stdout.fnmatch_lines(["*test_unmarked_start starts *-c pass* without @pytest.mark.process*"])

    selected = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "browser", "--collect-only", "-q")
    assert [line for line in selected.outlines if "::" in line] == [
        "test_tiers.py::test_start_with_another_tiers_marker",
        "test_tiers.py::test_uses_the_browser_fixture",
    ]
