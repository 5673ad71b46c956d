"""What the user's browser saw (issue 22): ``browser_replies``, one row per live reply the page reported (felt TTFT,
frames, heap), and ``browser_errors``, the page's JavaScript errors de-duplicated and counted.

Two new tables, after 0005; they touch no other.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_beacon"
down_revision = "0006_versions"


def upgrade() -> None:
    op.create_table(
        "browser_replies",
        sa.Column("generation_id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("felt_ttft_ms", sa.Float(), nullable=False),
        sa.Column("felt_last_token_ms", sa.Float(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("long_frames", sa.Integer(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("heap_bytes", sa.BigInteger(), nullable=True),
        sa.Column("connection", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "browser_errors",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("stack", sa.Text(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("page", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
