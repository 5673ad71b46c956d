"""Schema migrations at start: an older database is upgraded in place and keeps every row; a fresh one reaches head
with exactly the schema of the models; PostgreSQL replicas upgrade once; DuckDB's ALTER limits are worked around.

The previous release's database is made at test time from that release's own models — ``git show
a712d9a:analytics/models.py`` (the last commit before migrations; its schema is revision 0001) — so the test keeps
checking against what was really shipped, not against a copy of today's models.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from storage.migrations import SCRIPTS, head_revision, upgrade_schema
from storage.schema import Base
from storage.store import SCHEMA_LOCK_KEY, Store, StoreUnavailable

ROOT = Path(__file__).resolve().parent.parent
PREVIOUS_RELEASE = "a712d9a"
TABLES_ADDED_SINCE = {"message_images", "server_load", "browser_replies", "browser_errors"}  # 0004, 0005, 0008_beacon


def previous_release_models(tmp_path: Path) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{PREVIOUS_RELEASE}:analytics/models.py"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    path = tmp_path / "previous_release_models.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"previous_release_models_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclass-style annotations resolve through sys.modules
    spec.loader.exec_module(module)
    return module


def sample_value(column: sa.Column[Any], i: int) -> Any:
    """A value of the column's type; row 0 keeps NULL wherever NULL is allowed."""
    if i == 0 and column.nullable and not column.primary_key:
        return None
    kind = type(column.type)
    if issubclass(kind, sa.Uuid):
        return uuid.uuid4()
    if issubclass(kind, sa.DateTime):
        return datetime(2026, 11, 1, 12, i, tzinfo=UTC)
    if issubclass(kind, sa.JSON):
        return {"row": i, "text": "ünïcode ✓"}
    if issubclass(kind, sa.Boolean):
        return i % 2 == 0
    if issubclass(kind, sa.Integer):
        return i + 1
    if issubclass(kind, sa.Float):
        return i + 0.5
    length = getattr(column.type, "length", None) or 200
    return f"{column.name}-{i}-ü"[:length]


def populate(engine: sa.Engine, metadata: sa.MetaData, rows_per_table: int = 3) -> None:
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            rows = [{c.name: sample_value(c, i) for c in table.columns} for i in range(rows_per_table)]
            connection.execute(table.insert(), rows)


def dump(engine: sa.Engine, metadata: sa.MetaData) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: sorted(map(tuple, connection.execute(sa.select(table)).all()), key=repr)
            for table in metadata.sorted_tables
        }


def alembic_versions(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def schema_shape(engine: sa.Engine) -> dict[str, Any]:
    """Columns (type, nullability) and index names per table, read from the database's own catalogue."""
    with engine.connect() as connection:
        columns = connection.execute(
            text(
                "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name <> 'alembic_version'"
            )
        ).all()
        if engine.dialect.name == "duckdb":
            indexes = connection.execute(text("SELECT table_name, index_name FROM duckdb_indexes()")).all()
        else:
            indexes = connection.execute(
                text("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = current_schema()")
            ).all()
    return {
        "columns": sorted(map(tuple, columns)),
        "indexes": sorted((t, i) for t, i in indexes if t != "alembic_version" and not i.endswith("_trgm")),
    }


@pytest.mark.process  # git show: the previous release's models
def test_a_previous_release_database_is_upgraded_in_place_and_keeps_every_row(
    database_url: str, tmp_path: Path
) -> None:
    previous = previous_release_models(tmp_path)
    (tmp_path / "data").mkdir(exist_ok=True)
    engine = sa.create_engine(database_url)
    previous.Base.metadata.create_all(engine)  # what that release did at start: no alembic_version
    populate(engine, previous.Base.metadata)
    before = dump(engine, previous.Base.metadata)
    engine.dispose()
    assert set(before) == set(Base.metadata.tables) - TABLES_ADDED_SINCE, "every older table has rows"

    store = Store.open(database_url)  # the real start path (ChatLens.build calls it)
    try:
        assert dump(store.engine, previous.Base.metadata) == before
        live = [c for c in previous.Conversation.__table__.columns]
        user_id, deleted_at = (
            live.index(previous.Conversation.__table__.c[name]) for name in ("user_id", "deleted_at")
        )
        owner = next(row[user_id] for row in before["conversations"] if row[deleted_at] is None)
        assert len(store.list_conversations(owner)) == 1  # today's code reads the old rows
        with store.engine.connect() as connection:  # the tables of later revisions are there, empty
            for table in TABLES_ADDED_SINCE:
                assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
    finally:
        store.close()
    assert alembic_versions(database_url) == [head_revision()]

    again = Store.open(database_url)  # a restart at head changes nothing
    again.close()
    assert alembic_versions(database_url) == [head_revision()]


def test_a_fresh_database_reaches_head_with_the_schema_of_the_models(database_url: str, tmp_path: Path) -> None:
    store = Store.open(database_url)
    try:
        migrated = schema_shape(store.engine)
    finally:
        store.close()
    assert alembic_versions(database_url) == [head_revision()]

    if database_url.startswith("duckdb"):
        reference_url = f"duckdb:///{tmp_path / 'reference.duckdb'}"
    else:
        reference_url = _fresh_pg_database(database_url)
    reference = sa.create_engine(reference_url)
    Base.metadata.create_all(reference)
    try:
        assert migrated == schema_shape(reference), "storage.schema changed without a migration (or the other way)"
    finally:
        reference.dispose()


def _fresh_pg_database(url: str) -> str:
    name = f"reference_{uuid.uuid4().hex[:12]}"
    server = url.rsplit("/", 1)[0]
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server}/{name}"


def test_a_second_starter_on_postgresql_waits_for_the_lock_and_does_nothing(
    postgres: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres.new_database()
    first = sa.create_engine(url)
    monitor = sa.create_engine(url, isolation_level="AUTOCOMMIT")  # pg_stat_activity is frozen within a transaction
    second_done = threading.Event()
    errors: list[BaseException] = []

    def second_starter() -> None:
        try:
            Store.open(url).close()
        except BaseException as exc:
            errors.append(exc)
        finally:
            second_done.set()

    caplog.set_level(logging.INFO, logger="storage.store")
    with first.connect() as connection, connection.begin():
        # The first starter: holds the schema lock and upgrades, exactly as Store.open does, but slowly.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        assert upgrade_schema(connection) == (None, head_revision())
        thread = threading.Thread(target=second_starter, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        waiting = 0
        while time.monotonic() < deadline and not waiting:
            with monitor.connect() as watching:
                waiting = watching.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
                    )
                ).scalar_one()
            time.sleep(0.05)
        assert waiting == 1, "the second starter should be queued on the schema lock"
        assert not second_done.is_set()
    assert second_done.wait(10), "the second starter should go on once the first commits"
    first.dispose()
    monitor.dispose()
    assert not errors, errors
    assert alembic_versions(url) == [head_revision()]
    assert not [r for r in caplog.records if "schema upgraded" in r.getMessage()], "the second starter migrated again"


NOT_NULL_REVISION = '''
"""test only: a NOT NULL column with a default on an indexed, populated table"""
import sqlalchemy as sa
from alembic import op

from storage.migrations.ops import alter_indexed_table

revision = "9002"
down_revision = "{down}"


def upgrade() -> None:
    with {wrapper}:
        op.add_column("generations", sa.Column("retries", sa.Integer(), server_default="0", nullable=False))
'''


def scripts_with(tmp_path: Path, *, wrapper: str) -> Path:
    scripts = tmp_path / "migrations"
    shutil.copytree(SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__", "__init__.py", "ops.py"))
    (scripts / "versions" / "r9002_not_null.py").write_text(
        NOT_NULL_REVISION.format(wrapper=wrapper, down=head_revision())
    )
    return scripts


def populated_duckdb_at_head(tmp_path: Path) -> tuple[str, dict[str, list[tuple[Any, ...]]]]:
    url = f"duckdb:///{tmp_path / 'data' / 'chatlens.duckdb'}"
    store = Store.open(url)
    populate(store.engine, Base.metadata)
    rows = dump(store.engine, Base.metadata)
    store.close()
    return url, rows


def test_a_not_null_column_with_a_default_is_added_to_an_indexed_populated_duckdb_table(tmp_path: Path) -> None:
    url, before = populated_duckdb_at_head(tmp_path)
    scripts = scripts_with(tmp_path, wrapper='alter_indexed_table("generations")')
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        assert upgrade_schema(connection, scripts) == (head_revision(), "9002")
    with engine.connect() as connection:
        retries = connection.execute(text("SELECT DISTINCT retries FROM generations")).scalars().all()
        nullable = connection.execute(
            text("SELECT is_nullable FROM information_schema.columns WHERE table_name = 'generations' "
                 "AND column_name = 'retries'")
        ).scalar_one()  # fmt: skip
        indexes = (
            connection.execute(text("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'generations'"))
            .scalars()
            .all()
        )
        kept = connection.execute(text("SELECT count(*) FROM generations")).scalar_one()
    assert retries == [0] and nullable == "NO"
    assert indexes == ["ix_generations_created"], "the index is recreated"
    assert kept == len(before["generations"])
    engine.dispose()
    assert dump(sa.create_engine(url), Base.metadata) == before


def test_without_the_helper_duckdb_refuses_and_the_failed_upgrade_loses_nothing(tmp_path: Path) -> None:
    url, before = populated_duckdb_at_head(tmp_path)
    scripts = scripts_with(tmp_path, wrapper="open(__file__)")  # any context manager: the bare ALTER
    engine = sa.create_engine(url)
    with pytest.raises(sa.exc.DBAPIError, match="Dependency Error"), engine.begin() as connection:
        upgrade_schema(connection, scripts)
    engine.dispose()
    assert alembic_versions(url) == [head_revision()]
    assert dump(sa.create_engine(url), Base.metadata) == before


def test_a_database_from_a_newer_release_is_refused_with_a_sentence(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'chatlens.duckdb'}"
    Store.open(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    engine.dispose()
    with pytest.raises(StoreUnavailable, match="newer release"):
        Store.open(url)
    assert alembic_versions(url) == ["ffff"]
