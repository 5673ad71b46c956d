"""The model server's state at each reply's start, kept on its ``generations`` row (issue 22): ``server_waiting``,
``server_running``, ``server_kv_cache`` (0–1) and ``server_sampled_at`` (the reading's time, so which reading it was
can be checked against ``server_load``), copied from the scraper's reading in memory when the row is written
(``storage.server_state``).

After 0008_beacon; it touches only ``generations``. All nullable, so DuckDB adds them to the indexed table without
``alter_indexed_table``; rows written before this revision keep NULL and the analytics reads join them to
``server_load`` instead.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_analyticsfast"
down_revision = "0008_beacon"


def upgrade() -> None:
    op.add_column("generations", sa.Column("server_waiting", sa.Float(), nullable=True))
    op.add_column("generations", sa.Column("server_running", sa.Float(), nullable=True))
    op.add_column("generations", sa.Column("server_kv_cache", sa.Float(), nullable=True))
    op.add_column("generations", sa.Column("server_sampled_at", sa.DateTime(timezone=True), nullable=True))
