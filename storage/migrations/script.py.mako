"""${message}

Revision ${up_revision}, after ${down_revision | comma,n}. DuckDB: see docs/deploy.md "Upgrades" before an ALTER on
an indexed table (every table of ours has one); use storage.migrations.ops.alter_indexed_table.
"""

from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
