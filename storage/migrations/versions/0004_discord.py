"""discord invites and server joins

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22 16:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discord_invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("guild_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("affiliate_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["affiliate_id"],
            ["affiliates.id"],
            name=op.f("fk_discord_invites_affiliate_id_affiliates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_discord_invites_program_id_programs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discord_invites")),
        sa.UniqueConstraint("code", name=op.f("uq_discord_invites_code")),
        sa.UniqueConstraint(
            "affiliate_id", "guild_id", name=op.f("uq_discord_invites_affiliate_id_guild_id")
        ),
    )
    op.create_table(
        "server_joins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=32), nullable=False),
        sa.Column("affiliate_id", sa.Integer(), nullable=True),
        sa.Column("program_id", sa.Integer(), nullable=True),
        sa.Column("invite_code", sa.String(length=32), nullable=True),
        sa.Column("unattributed_reason", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=8), server_default="joined", nullable=False),
        sa.Column("joined_at", storage.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("left_at", storage.types.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('joined', 'left')", name=op.f("ck_server_joins_status")),
        sa.CheckConstraint(
            "unattributed_reason IN ('vanity', 'ambiguous', 'missed', 'other')",
            name=op.f("ck_server_joins_unattributed_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["affiliate_id"],
            ["affiliates.id"],
            name=op.f("fk_server_joins_affiliate_id_affiliates"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_server_joins_program_id_programs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_joins")),
        sa.UniqueConstraint(
            "guild_id", "member_id", name=op.f("uq_server_joins_guild_id_member_id")
        ),
    )
    with op.batch_alter_table("server_joins", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_server_joins_affiliate_id_joined_at"),
            ["affiliate_id", "joined_at"],
            unique=False,
        )
