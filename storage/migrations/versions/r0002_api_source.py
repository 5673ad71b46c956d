"""Where each generation came from: ``generations.source`` (``chat`` | ``gradio_api`` | ``openai_api``, existing
rows ``chat``) and ``generations.token_id`` (the API token that sent it, if any).

Self-contained: it touches only ``generations`` and may be re-parented after another 0002 at merge.
"""

import sqlalchemy as sa
from alembic import op

from storage.migrations.ops import alter_indexed_table

revision = "0002_api_source"
down_revision = "0001"


def upgrade() -> None:
    with alter_indexed_table("generations"):
        op.add_column("generations", sa.Column("source", sa.String(16), server_default="chat", nullable=False))
        op.add_column("generations", sa.Column("token_id", sa.Uuid(), nullable=True))
