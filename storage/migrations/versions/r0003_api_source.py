"""Where each generation came from: ``generations.source`` (``chat`` | ``gradio_api`` | ``openai_api``, existing
rows ``chat``) and ``generations.token_id`` (the API token that sent it, if any).

After 0002 (thinking); it touches only ``generations``.
"""

import sqlalchemy as sa
from alembic import op

from storage.migrations.ops import alter_indexed_table

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with alter_indexed_table("generations"):
        op.add_column("generations", sa.Column("source", sa.String(16), server_default="chat", nullable=False))
        op.add_column("generations", sa.Column("token_id", sa.Uuid(), nullable=True))
