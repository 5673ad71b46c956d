"""The slow tiers as markers: applied from what a test uses, and enforced where things are started.

* ``browser``: drives Chromium (Playwright).
* ``postgres``: uses the throwaway PostgreSQL server.
* ``process``: starts a subprocess: ``python app.py``, llama.cpp's server, docker-compose, hadolint, another Python.

A test that asks for the ``browser`` or ``postgres`` fixture (or one built on them, such as ``page``) is marked
automatically; a test that starts processes itself carries ``@pytest.mark.process``. Everything started goes through
``subprocess.Popen``, so that is where the markers are enforced: while a test is set up or runs, starting Chromium
(Playwright's driver), PostgreSQL (its binaries) or anything else without the matching marker fails the test — even
when the code under test swallows the error. Teardown is not watched: session fixtures stop their servers there.

Registered from ``tests/conftest.py`` (``pytest_plugins``); the markers are declared in ``pyproject.toml``, with
``--strict-markers``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import PurePath
from typing import Any

import pytest

TIERS = {
    "browser": "drives Chromium (Playwright)",
    "postgres": "uses the throwaway PostgreSQL server (tests/support/postgres.py)",
    "process": "starts a subprocess (the app, llama.cpp's server, docker-compose, hadolint, another Python)",
}
# Fixtures that put a test in a tier, by name (``item.fixturenames`` holds every fixture a test uses, transitively).
TIER_OF_FIXTURE = {"browser": "browser", "postgres": "postgres"}
POSTGRES_PROGRAMS = {"initdb", "pg_ctl", "postgres", "psql"}

_watched: pytest.Item | None = None
_unmarked: list[str] = []  # starts refused during the watched phase, kept in case the code under test swallowed them
_POPEN_INIT = subprocess.Popen.__init__


def tier_of_command(argv: Sequence[str]) -> str:
    """The tier a command belongs to: Playwright's driver is Chromium's, PostgreSQL's binaries postgres's."""
    if "run-driver" in argv or any("/playwright/driver/" in arg for arg in argv):
        return "browser"
    if any("postgresql" in arg and PurePath(arg).name in POSTGRES_PROGRAMS for arg in argv):
        return "postgres"
    return "process"


def _argv(args: Any) -> list[str]:
    if isinstance(args, str | bytes | os.PathLike):
        return [os.fsdecode(args)]
    return [os.fsdecode(arg) if isinstance(arg, str | bytes | os.PathLike) else str(arg) for arg in args]


def _checked_popen_init(self: subprocess.Popen[Any], args: Any, *more: Any, **options: Any) -> None:
    item = _watched
    if item is not None:
        argv = _argv(args)
        tier = tier_of_command(argv)
        if item.get_closest_marker(tier) is None:
            refusal = f"{item.nodeid} starts {' '.join(argv)[:200]!r} without @pytest.mark.{tier} ({TIERS[tier]})"
            _unmarked.append(refusal)
            pytest.fail(refusal, pytrace=False)
    _POPEN_INIT(self, args, *more, **options)


def pytest_configure(config: pytest.Config) -> None:
    subprocess.Popen.__init__ = _checked_popen_init  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    subprocess.Popen.__init__ = _POPEN_INIT  # type: ignore[method-assign]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            tier = TIER_OF_FIXTURE.get(fixture)
            if tier is not None and item.get_closest_marker(tier) is None:
                item.add_marker(tier)


@contextmanager
def _watching(item: pytest.Item) -> Iterator[None]:
    global _watched
    _watched = item
    _unmarked.clear()
    failed = True
    try:
        yield
        failed = False
    finally:
        _watched = None
        if _unmarked and not failed:
            pytest.fail("; ".join(_unmarked), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with _watching(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with _watching(item):
        return (yield)
