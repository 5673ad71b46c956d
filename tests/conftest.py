"""Shared fixtures: one fake TGI (a real HTTP server) and one launched ChatLens per test session, Chromium per
module, stores on DuckDB and PostgreSQL. What they are built from lives in ``tests/support/``.

The app runs in-process on a free port over a real DuckDB file; tests drive it over HTTP and read the same file
through the app's own engine (DuckDB allows one process per file). The slow tiers (``browser``, ``postgres``,
``process``) are marked from the fixtures a test uses and enforced where processes start (``tests/support/markers.py``).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")
# Tests send messages far faster than people; the rate-limit tests set their own limits.
os.environ.setdefault("RATE_LIMIT_USER_PER_MIN", "0")
os.environ.setdefault("RATE_LIMIT_IP_PER_MIN", "0")

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from storage.store import Store
from storage.writer import WriteBehindRecorder
from tests.support.apps import Launch, RunningApp, launched_app
from tests.support.browser import launch_chromium
from tests.support.config import make_settings
from tests.support.fake_tgi import FakeTgi
from tests.support.postgres import TempPostgres

# A page's first load on a cold app (Gradio's bundle, the CSP nonce pass) took over 5 s, Playwright's default wait,
# on a loaded 2-core machine; waiting longer only slows a test that fails anyway.
expect.set_options(timeout=15_000)

pytest_plugins = ("tests.support.markers", "pytester")


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is open, and the
# asyncio.run() of other test modules refuses to start inside it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()
    assert dialogs == [], f"a dialog fired: {dialogs}"


@pytest.fixture(scope="session")
def fake_tgi_server() -> Iterator[FakeTgi]:
    fake = FakeTgi().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_tgi(fake_tgi_server: FakeTgi) -> Iterator[FakeTgi]:
    """The session's fake TGI, reset: default behaviour, empty script and logs, healthy."""
    fake_tgi_server.reset()
    yield fake_tgi_server
    fake_tgi_server.script.clear()


@pytest.fixture(scope="session")
def postgres() -> Iterator[TempPostgres]:
    server = TempPostgres().start()
    yield server
    server.stop()


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests over both stores: a DuckDB file under tmp_path, or a fresh PostgreSQL database."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'data' / 'store.duckdb'}"
    server: TempPostgres = request.getfixturevalue("postgres")
    return server.new_database()


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    """A store on a fresh database (each ``database_url``), its image files under tmp_path (PostgreSQL's would go to
    ./data/images otherwise), closed after the test."""
    opened = Store.open(database_url, images_dir=tmp_path / "images")
    yield opened
    opened.close()


@pytest.fixture
def recorder(store: Store) -> Iterator[WriteBehindRecorder]:
    """The write-behind recorder over ``store``, closed (its queue committed) before the store."""
    opened = WriteBehindRecorder(store)
    yield opened
    opened.close()


@pytest.fixture
def launch() -> Iterator[Launch]:
    """Launch apps inside a test (``launch(make_settings(tmp_path, ...))``); each is closed when the test ends."""
    with ExitStack() as apps:
        yield lambda settings: apps.enter_context(launched_app(settings))


@pytest.fixture(scope="session")
def app(fake_tgi_server: FakeTgi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    settings = make_settings(
        tmp_path_factory.mktemp("db"),
        tgi_url=fake_tgi_server.url,
        request_timeout_s=5,
        connect_timeout_s=2,
        max_message_chars=100_000,
        info_ttl_s=0,
        max_reply_chars=10_000,
        auto_title=False,  # a second model call per new chat; tests/test_context.py checks titles
    )
    with launched_app(settings) as running:
        yield running
