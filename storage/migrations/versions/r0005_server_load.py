"""The model servers' load over time (issue 22): ``server_load``, one row per reading of a server's ``/metrics``.

A new table, after 0004; it touches no other. Values a backend does not publish are NULL.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "server_load",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("server_url", sa.Text(), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("waiting", sa.Float(), nullable=True),
        sa.Column("running", sa.Float(), nullable=True),
        sa.Column("batch_size", sa.Float(), nullable=True),
        sa.Column("kv_cache_use", sa.Float(), nullable=True),
        sa.Column("server_ttft_ms", sa.Float(), nullable=True),
        sa.Column("server_queue_ms", sa.Float(), nullable=True),
    )
    op.create_index("ix_server_load_server_at", "server_load", ["server_url", "sampled_at"])
