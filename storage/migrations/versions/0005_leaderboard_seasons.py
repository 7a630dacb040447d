"""leaderboard seasons: archived weekly leaderboard posts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leaderboard_seasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period_key", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("period_start", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("period_end", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leaderboard_seasons")),
        sa.UniqueConstraint(
            "period_key", "scope", name=op.f("uq_leaderboard_seasons_period_key_scope")
        ),
    )


def downgrade() -> None:
    op.drop_table("leaderboard_seasons")
