"""The instrument master (issue 13): board, static P/E, index membership, financed-purchase and
collateral eligibility per instrument; the grade's haircut add-on on each facility.

Existing rows: the books' short kinds become master fields ('index_constituent' -> a share in
the index, 'flagged' -> an ST share) and every conversion rate is derived again from the
rule table (an 'other bond' converts at 80 %, not 95 %).

Until this chain existed the ledger's 0005 made this change: it runs here only on a database
that has not had it.

Revision ID: m0003
Revises: m0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "m0003"
down_revision = "m0002"
branch_labels = None
depends_on = None

# kind -> (new kind, board, index_constituent, eligible_for_financing, conversion_rate_bps)
_EXISTING = {
    "index_constituent": ("share", "main", True, True, 7000),
    "share": ("share", "main", False, True, 6500),
    "etf": ("etf", "main", False, True, 9000),
    "bond": ("bond", "main", False, False, 8000),
    "flagged": ("share", "st", False, False, 0),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if any(c["name"] == "board" for c in inspector.get_columns("margin_instruments")):
        return  # the ledger's 0005 ran on this database before this chain existed
    with op.batch_alter_table("margin_instruments") as batch:
        batch.add_column(sa.Column("board", sa.String(8), nullable=False, server_default="main"))
        batch.add_column(sa.Column("static_pe", sa.Float, nullable=True))
        batch.add_column(
            sa.Column("index_constituent", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("eligible_for_financing", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("eligible_as_collateral", sa.Boolean, nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("margin_facilities") as batch:
        batch.add_column(sa.Column("haircut_addon_bps", sa.Integer, nullable=False, server_default="0"))
    table = sa.table(
        "margin_instruments",
        sa.column("kind", sa.String),
        sa.column("board", sa.String),
        sa.column("index_constituent", sa.Boolean),
        sa.column("eligible_for_financing", sa.Boolean),
        sa.column("conversion_rate_bps", sa.Integer),
    )
    for old, (kind, board, index, eligible, rate) in _EXISTING.items():
        op.execute(
            table.update()
            .where(table.c.kind == old)
            .values(
                kind=kind,
                board=board,
                index_constituent=index,
                eligible_for_financing=eligible,
                conversion_rate_bps=rate,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("margin_facilities") as batch:
        batch.drop_column("haircut_addon_bps")
    with op.batch_alter_table("margin_instruments") as batch:
        for name in (
            "eligible_as_collateral",
            "eligible_for_financing",
            "index_constituent",
            "static_pe",
            "board",
        ):
            batch.drop_column(name)
