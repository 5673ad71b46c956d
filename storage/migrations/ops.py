"""Helpers for revisions: DuckDB's ALTER limits, worked around in one place.

DuckDB (checked on 2.0.1) refuses most ALTERs of a table that has a ``CREATE INDEX`` — every table of ours has one —
with "Dependency Error: Cannot alter entry ... because there are entries that depend on it": adding a NOT NULL
column, SET/DROP NOT NULL, type changes, renames of a column or the table. Adding a nullable column, a column with a
DEFAULT (nullable), SET DEFAULT and CREATE INDEX work. ``alter_indexed_table`` drops the table's indexes, lets the
revision alter the table, and recreates the indexes from their own SQL, all inside the migration's transaction — a
failure rolls every step back. On PostgreSQL it does nothing extra.

Not covered, even with the indexes dropped earlier in the same transaction: dropping a column, or changing the type
of an indexed column ("an index depends on it") — rebuild the table instead (docs/deploy.md, "Upgrades").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op
from sqlalchemy import text


@contextmanager
def alter_indexed_table(table: str) -> Iterator[None]:
    """Wrap ALTERs of ``table`` that DuckDB refuses while the table has indexes (see the module docstring)."""
    bind = op.get_bind()
    if bind.dialect.name != "duckdb":
        yield
        return
    rows = bind.execute(
        text("SELECT index_name, sql FROM duckdb_indexes() WHERE table_name = :table AND sql IS NOT NULL"),
        {"table": table},
    ).all()
    for name, _ in rows:
        op.drop_index(name, table_name=table)
    yield
    for _, sql in rows:
        bind.execute(text(sql))
