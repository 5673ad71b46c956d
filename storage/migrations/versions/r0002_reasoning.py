"""Thinking models: a reply's thinking beside its answer, and its timing and tokens (issue 16).

``messages.reasoning`` holds the thinking (never mixed into ``content``); ``generations`` gains
``time_to_first_answer_ms`` (``time_to_first_token_ms`` is now the first token of any kind), ``reasoning_tokens``
and ``thinking_ms``. All nullable, so DuckDB adds them to the indexed tables without ``alter_indexed_table``; rows
written before this revision read as replies that did not think.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("messages", sa.Column("reasoning", sa.Text(), nullable=True))
    op.add_column("generations", sa.Column("time_to_first_answer_ms", sa.Float(), nullable=True))
    op.add_column("generations", sa.Column("reasoning_tokens", sa.Integer(), nullable=True))
    op.add_column("generations", sa.Column("thinking_ms", sa.Float(), nullable=True))
