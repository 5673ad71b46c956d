"""Settings: defaults, refusals, and where the database goes on a Hugging Face Space."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support.config import settings_without_env_file


def test_defaults_keep_the_database_under_data_and_need_no_model_server() -> None:
    settings = settings_without_env_file()
    assert settings.database_url == "duckdb:///data/chatlens.duckdb"
    assert settings.tgi_url is None


def test_model_server_url_is_checked_and_normalised() -> None:
    assert settings_without_env_file(tgi_url=" http://tgi:80/ ".strip()).tgi_url == "http://tgi:80"
    assert settings_without_env_file(tgi_url="  ").tgi_url is None
    with pytest.raises(ValidationError, match="must start with http"):
        settings_without_env_file(tgi_url="tgi:80")


def test_on_a_space_with_storage_the_database_goes_to_persistent_storage(tmp_path: Path) -> None:
    settings = settings_without_env_file(space_id="org/chatlens", space_storage_dir=tmp_path)
    assert settings.database_url == f"duckdb:///{tmp_path / 'chatlens.duckdb'}"


def test_on_a_space_without_storage_the_default_stays(tmp_path: Path) -> None:
    settings = settings_without_env_file(space_id="org/chatlens", space_storage_dir=tmp_path / "absent")
    assert settings.database_url == "duckdb:///data/chatlens.duckdb"
    assert not settings.space_has_storage


def test_an_explicit_database_url_wins_on_a_space(tmp_path: Path) -> None:
    settings = settings_without_env_file(
        space_id="org/chatlens",
        space_storage_dir=tmp_path,
        database_url="postgresql+psycopg://db/x",
        session_secret="s" * 32,
    )
    assert settings.database_url == "postgresql+psycopg://db/x"


def test_postgresql_without_a_shared_session_secret_is_refused_naming_it(tmp_path: Path) -> None:
    """Replicas share the store: a key each made in its own folder would make cookies valid on one replica only."""
    with pytest.raises(ValueError, match=r"PostgreSQL.*set SESSION_SECRET \(the same .* on every replica.*"):
        settings_without_env_file(database_url="postgresql+psycopg://db/x", data_dir=tmp_path)
    shared = tmp_path / "shared-secret"
    for given in ({"session_secret": "s" * 32}, {"session_secret_file": shared}):
        assert settings_without_env_file(database_url="postgresql+psycopg://db/x", data_dir=tmp_path, **given)
    # DuckDB is one process: its key in the data folder is shared by construction.
    assert settings_without_env_file(database_url=f"duckdb:///{tmp_path / 'x.duckdb'}").session_secret is None
