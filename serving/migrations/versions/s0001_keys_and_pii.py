"""serving: API keys and encrypted applicant PII

Revision ID: s0001
Revises:
Create Date: 2026-01-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0001"
down_revision = None
branch_labels = ("serving",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "serving_api_keys",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("key_sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("label", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "serving_applicant_pii",
        sa.Column("application_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_serving_applicant_pii_key_id", "serving_applicant_pii", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_serving_applicant_pii_key_id", table_name="serving_applicant_pii")
    op.drop_table("serving_applicant_pii")
    op.drop_table("serving_api_keys")
