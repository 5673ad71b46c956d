"""Schema migrations (Alembic), run by ``Store.open`` at every start: one writer, nothing to run by hand.

``upgrade_schema(connection)`` brings a database to the newest revision inside the caller's transaction:

* a fresh database is upgraded from nothing (revision 0001 creates the schema of ``storage.schema``);
* a database made before migrations existed (our tables, no ``alembic_version``) is stamped at 0001, the schema
  every such release created, and then upgraded;
* a database already at head is left alone.

On PostgreSQL the caller holds the schema advisory lock on the same connection, so replicas starting together run
the upgrade once; DuckDB allows one process per file. How to add a revision, and DuckDB's ALTER limits:
docs/deploy.md, "Upgrades".
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

SCRIPTS = Path(__file__).resolve().parent
BASELINE = "0001"
BASELINE_TABLE = "conversations"  # present in every release that created tables without migrations


class AlembicDuckDBImpl(DefaultImpl):
    """duckdb_engine ships no Alembic implementation; Alembic looks one up by dialect name ("duckdb") and raises
    KeyError without it. DuckDB runs DDL inside transactions, so a failed upgrade leaves the file as it was."""

    __dialect__ = "duckdb"
    transactional_ddl = True


def alembic_config(scripts: Path = SCRIPTS) -> Config:
    config = Config()
    config.set_main_option("script_location", str(scripts))
    return config


def head_revision(scripts: Path = SCRIPTS) -> str | None:
    return ScriptDirectory.from_config(alembic_config(scripts)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_schema(connection: Connection, scripts: Path = SCRIPTS) -> tuple[str | None, str | None]:
    """Upgrade to head on ``connection`` (its transaction is the caller's); returns (revision before, after)."""
    config = alembic_config(scripts)
    config.attributes["connection"] = connection
    before = current_revision(connection)
    if before is None and inspect(connection).has_table(BASELINE_TABLE):
        command.stamp(config, BASELINE)
    if before != head_revision(scripts):
        command.upgrade(config, "head")
    return before, current_revision(connection)
