"""The margin tables' own Alembic chain (``alembic_version_margin``): fresh databases, and
databases whose margin tables the ledger's chain created before the move, on SQLite and
PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from ledger import storage as ledger_storage
from ledger.storage import make_engine
from margin import storage as margin_storage
from tests.conftest import REPO_ROOT

LEDGER_HEAD, MARGIN_HEAD = "0005", "m0003"


def revisions(engine: Engine) -> tuple[str | None, str | None]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            MigrationContext.configure(conn, opts={"version_table": v}).get_current_revision()
            for v in (ledger_storage.VERSION_TABLE, margin_storage.VERSION_TABLE)
        )


def schema_diff(engine: Engine) -> list[object]:
    """Each chain's metadata against the tables it owns (the other chain's are not its business)."""
    diffs: list[object] = []
    with engine.connect() as conn:
        for meta, version in (
            (ledger_storage.metadata, ledger_storage.VERSION_TABLE),
            (margin_storage.metadata, margin_storage.VERSION_TABLE),
        ):
            mine = set(meta.tables)

            def include(
                name: str | None, type_: str, parent: dict[str, str | None], mine: set[str] = mine
            ) -> bool:
                table = name if type_ == "table" else parent.get("table_name")
                return table is None or table in mine

            opts = {"version_table": version, "include_name": include}
            diffs += compare_metadata(MigrationContext.configure(conn, opts=opts), meta)
    return diffs


def old_margin_tables(engine: Engine) -> None:
    """The margin tables as the ledger's 0001 created them (kind 16 wide), with one row each."""
    meta = sa.MetaData()
    sa.Table(
        "margin_facilities",
        meta,
        *(
            sa.Column(c, sa.BigInteger, nullable=False)
            for c in ("customer_id", "currency_ledger", "line_minor")
        ),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("annual_rate_bps", sa.Integer, nullable=False),
        sa.Column("max_leverage_bps", sa.Integer, nullable=False),
        sa.Column("regime", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at_ns", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    sa.Table(
        "margin_instruments",
        meta,
        sa.Column("instrument_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("symbol", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("conversion_rate_bps", sa.Integer, nullable=False),
        *(
            sa.Column(c, sa.BigInteger, nullable=False)
            for c in ("adv_shares", "price_minor", "price_as_of_ns")
        ),
        sa.Column("volatility_bps", sa.Integer, nullable=False),
    )
    calls = sa.Table(
        "margin_calls",
        meta,
        sa.Column("call_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("status", sa.String(16), nullable=False),
        *(
            sa.Column(c, sa.BigInteger, nullable=False)
            for c in (
                "customer_id",
                "issued_at_ns",
                "deadline_ns",
                "ratio_at_issue_bps",
                "required_minor",
                "closed_at_ns",
            )
        ),
    )
    sa.Index("ix_margin_calls_customer", calls.c.customer_id, calls.c.status)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            meta.tables["margin_instruments"].insert().values(
                instrument_id=1, symbol="510300.SH", kind="etf", conversion_rate_bps=9_500,
                adv_shares=10**6, price_minor=400, price_as_of_ns=1, volatility_bps=150,
            )
        )  # fmt: skip
        conn.execute(
            meta.tables["margin_facilities"].insert().values(
                customer_id=5, currency_ledger=156, line_minor=10**6, decision_id="d5", annual_rate_bps=800,
                max_leverage_bps=20_000, regime="cn", status="open", opened_at_ns=1,
            )
        )  # fmt: skip


def check_fresh(engine: Engine) -> None:
    ledger_storage.migrate(engine)
    assert not [t for t in inspect(engine).get_table_names() if t.startswith("margin_")]
    margin_storage.migrate(engine)
    margin_storage.migrate(engine)  # idempotent
    assert revisions(engine) == (LEDGER_HEAD, MARGIN_HEAD)
    assert schema_diff(engine) == []


def check_upgrade_of_an_old_database(engine: Engine) -> None:
    # a database the old ledger chain brought to 0001 (margin tables inside the ledger's history)
    ledger_storage.migrate(engine, "0001")
    old_margin_tables(engine)
    margin_storage.migrate(engine)
    assert revisions(engine) == (LEDGER_HEAD, MARGIN_HEAD)
    assert schema_diff(engine) == []
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT kind, board, conversion_rate_bps FROM margin_instruments")).one()
        fac = conn.execute(sa.text("SELECT customer_id, haircut_addon_bps FROM margin_facilities")).one()
    assert tuple(row) == ("etf", "main", 9_000) and tuple(fac) == (5, 0)  # rows kept, master fields derived


def check_adopts_tables_the_ledger_chain_finished(engine: Engine) -> None:
    # a database at the old ledger head: every margin table exists, no margin version table yet
    margin_storage.migrate(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO margin_calls VALUES (1, 5, 'open', 1, 2, 13000, 100, 0)"))
        conn.execute(sa.text(f"DROP TABLE {margin_storage.VERSION_TABLE}"))
    margin_storage.migrate(engine)
    assert revisions(engine) == (LEDGER_HEAD, MARGIN_HEAD)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM margin_calls")).scalar_one() == 1


CHECKS = [check_fresh, check_upgrade_of_an_old_database, check_adopts_tables_the_ledger_chain_finished]


@pytest.mark.parametrize("check", CHECKS)
def test_margin_chain_on_sqlite(tmp_path: Path, check) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'books.db'}")
    check(engine)
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("check", CHECKS)
def test_margin_chain_on_postgresql(pg_schema_url: str, check) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(pg_schema_url)
    check(engine)
    engine.dispose()


def test_alembic_command_line_runs_the_margin_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"CREDITDESK_DB_URL": url, "PATH": "/usr/bin:/bin"}
    alembic = Path(sys.executable).with_name("alembic")
    done = subprocess.run(
        [str(alembic), "-c", str(REPO_ROOT / "alembic.ini"), "-n", "margin", "upgrade", "head"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    engine = make_engine(url)
    assert "margin_calls" in inspect(engine).get_table_names()
    assert revisions(engine)[1] == MARGIN_HEAD
    engine.dispose()
