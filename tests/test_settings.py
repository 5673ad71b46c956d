"""Settings: defaults, refusals, and where the database goes on a Hugging Face Space."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import Settings


def test_defaults_keep_the_database_under_data_and_need_no_model_server() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "duckdb:///data/chatlens.duckdb"
    assert settings.tgi_url is None


def test_model_server_url_is_checked_and_normalised() -> None:
    assert Settings(tgi_url=" http://tgi:80/ ".strip(), _env_file=None).tgi_url == "http://tgi:80"  # type: ignore[call-arg]
    assert Settings(tgi_url="  ", _env_file=None).tgi_url is None  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="must start with http"):
        Settings(tgi_url="tgi:80", _env_file=None)  # type: ignore[call-arg]


def test_on_a_space_with_storage_the_database_goes_to_persistent_storage(tmp_path: Path) -> None:
    settings = Settings(space_id="org/chatlens", space_storage_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == f"duckdb:///{tmp_path / 'chatlens.duckdb'}"


def test_on_a_space_without_storage_the_default_stays(tmp_path: Path) -> None:
    settings = Settings(space_id="org/chatlens", space_storage_dir=tmp_path / "absent", _env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "duckdb:///data/chatlens.duckdb"
    assert not settings.space_has_storage


def test_an_explicit_database_url_wins_on_a_space(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        space_id="org/chatlens", space_storage_dir=tmp_path, database_url="postgresql+psycopg://db/x", _env_file=None
    )
    assert settings.database_url == "postgresql+psycopg://db/x"
