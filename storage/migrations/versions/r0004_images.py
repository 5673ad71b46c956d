"""Images attached to user messages: ``message_images`` (one row per image, in order; the bytes are files under the
data folder, named by their SHA-256 in their owner's folder — ``storage.images``).

After 0003; it adds a table and touches no other.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "message_images",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("mime_type", sa.String(32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_message_images_message", "message_images", ["message_id"])
    op.create_index("ix_message_images_user_sha", "message_images", ["user_id", "sha256"])
