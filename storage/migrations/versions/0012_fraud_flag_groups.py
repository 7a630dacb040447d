"""fraud flags: repeats of one rule for one affiliate join the open flag

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:10:00

Existing flags keep their rows: every flag's dedupe key is recorded as one of its keys,
and the earliest open flag of each (rule, program, affiliate) becomes that group's open
flag (later open duplicates stay as they are, ungrouped, until reviewed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fraud_flags") as batch:
        batch.add_column(
            sa.Column("occurrences", sa.Integer(), server_default="1", nullable=False)
        )
        batch.add_column(
            sa.Column("last_seen_at", storage.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("group_key", sa.String(length=200), nullable=True))
        batch.create_unique_constraint(op.f("uq_fraud_flags_group_key"), ["group_key"])
    op.create_table(
        "fraud_flag_keys",
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["fraud_flags.id"],
            name=op.f("fk_fraud_flag_keys_flag_id_fraud_flags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dedupe_key", name=op.f("pk_fraud_flag_keys")),
    )
    op.create_index(op.f("ix_fraud_flag_keys_flag_id"), "fraud_flag_keys", ["flag_id"])
    op.execute(
        "INSERT INTO fraud_flag_keys (dedupe_key, flag_id) SELECT dedupe_key, id FROM fraud_flags"
    )
    op.execute(
        "UPDATE fraud_flags SET group_key = rule || ':' || CAST(program_id AS VARCHAR(20)) "
        "|| ':' || CAST(affiliate_id AS VARCHAR(20)) "
        "WHERE status = 'open' AND program_id IS NOT NULL AND affiliate_id IS NOT NULL "
        "AND id = (SELECT MIN(f.id) FROM fraud_flags f WHERE f.status = 'open' "
        "AND f.rule = fraud_flags.rule AND f.program_id = fraud_flags.program_id "
        "AND f.affiliate_id = fraud_flags.affiliate_id)"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_fraud_flag_keys_flag_id"), table_name="fraud_flag_keys")
    op.drop_table("fraud_flag_keys")
    with op.batch_alter_table("fraud_flags") as batch:
        batch.drop_constraint(op.f("uq_fraud_flags_group_key"), type_="unique")
        batch.drop_column("group_key")
        batch.drop_column("last_seen_at")
        batch.drop_column("occurrences")
