"""Alembic's entry: runs the revisions on the connection ``storage.migrations.upgrade_schema`` hands over, inside
that connection's transaction (no engine of its own, no alembic.ini)."""

from alembic import context

import storage.migrations  # noqa: F401  registers AlembicDuckDBImpl before the migration context is built

connection = context.config.attributes["connection"]
context.configure(connection=connection, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
