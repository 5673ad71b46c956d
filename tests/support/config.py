"""Settings for tests: never read from a developer's ``.env``; a test app's files under the test's own folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from settings import Settings


def settings_without_env_file(**values: Any) -> Settings:
    """``Settings`` from ``values`` and the environment, as ``main()`` builds them, but with no ``.env`` file read."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]  # pydantic-settings' init-only argument


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for an app under test: its DuckDB file and session secret in ``tmp_path``, then ``overrides``."""
    values: dict[str, Any] = {
        "database_url": f"duckdb:///{tmp_path / 'chatlens.duckdb'}",
        "session_secret_file": tmp_path / "session-secret",
        **overrides,
    }
    return settings_without_env_file(**values)
