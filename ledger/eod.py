"""End-of-day reconciliation: prove the books from the transfers, not from the balances.

Stored balances are a cache of the transfer history. At end of day we recompute every
account's four balances by replaying the immutable transfers in SQL (set-based, so it
scales with the database rather than with Python), and check:

* trial balance: per ledger, Σ debits = Σ credits (posted and pending);
* replay equality: each account's stored balances equal the replay;
* limits: no account with a limit flag is past it.

The ledger knows nothing of what its accounts mean: a room above it (margin's interest
check, ``margin.eod``) passes extra ``checks`` that read the same connection and add their
own breaks and figures. Any failure is a break; the CLI exits 1 when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, literal, select, union_all

from ledger.domain import AccountFlags, PendingStatus, TransferFlags
from ledger.storage import accounts, pending, transfers


@dataclass(frozen=True)
class EodBreak:
    kind: str  # trial_balance / replay / limit, or the kind of an extra check (interest)
    subject: int  # ledger or account id
    detail: str


@dataclass
class TrialBalanceRow:
    ledger: int
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int


@dataclass
class EodReport:
    accounts_checked: int = 0
    transfers_replayed: int = 0
    trial_balance: list[TrialBalanceRow] = field(default_factory=list)
    breaks: list[EodBreak] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # figures of the extra checks

    @property
    def ok(self) -> bool:
        return not self.breaks

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("extra"))
        out["ok"] = self.ok
        return out


EodCheck = Callable[[Connection, dict[int, Any], "EodReport"], None]
"""An extra end-of-day check: (connection, stored accounts by id, report) → adds breaks."""


def _replay_query() -> Any:
    """Per account: Σ posted and pending debits and credits, from transfers alone."""
    t, p = transfers, pending
    not_pending_or_void = (
        t.c.flags.op("&")(int(TransferFlags.PENDING | TransferFlags.VOID_PENDING_TRANSFER)) == 0
    )
    is_pending = t.c.flags.op("&")(int(TransferFlags.PENDING)) != 0
    still_pending = and_(is_pending, p.c.status == int(PendingStatus.PENDING))
    zero = literal(0)
    posted_dr = select(
        t.c.debit_account_id.label("aid"),
        t.c.amount_minor.label("dpo"),
        zero.label("cpo"),
        zero.label("dp"),
        zero.label("cp"),
    ).where(not_pending_or_void)
    posted_cr = select(t.c.credit_account_id, zero, t.c.amount_minor, zero, zero).where(not_pending_or_void)
    joined = t.join(p, p.c.transfer_id == t.c.id)
    pend_dr = (
        select(t.c.debit_account_id, zero, zero, t.c.amount_minor, zero)
        .select_from(joined)
        .where(still_pending)
    )
    pend_cr = (
        select(t.c.credit_account_id, zero, zero, zero, t.c.amount_minor)
        .select_from(joined)
        .where(still_pending)
    )
    u = union_all(posted_dr, posted_cr, pend_dr, pend_cr).subquery()
    return select(u.c.aid, func.sum(u.c.dpo), func.sum(u.c.cpo), func.sum(u.c.dp), func.sum(u.c.cp)).group_by(
        u.c.aid
    )


def reconcile(engine: Engine, checks: Sequence[EodCheck] = ()) -> EodReport:
    """Check the whole database, then run the ``checks`` of the rooms above on the same snapshot."""
    report = EodReport()
    with engine.connect() as conn:
        stored = {
            r.id: r
            for r in conn.execute(
                select(
                    accounts.c.id,
                    accounts.c.ledger,
                    accounts.c.flags,
                    accounts.c.debits_pending,
                    accounts.c.debits_posted,
                    accounts.c.credits_pending,
                    accounts.c.credits_posted,
                )
            )
        }
        replay = {int(r[0]): tuple(int(v or 0) for v in r[1:]) for r in conn.execute(_replay_query())}
        report.transfers_replayed = int(
            conn.execute(select(func.count()).select_from(transfers)).scalar_one()
        )
        for check in checks:
            check(conn, stored, report)
    report.accounts_checked = len(stored)
    tb: dict[int, list[int]] = {}
    for aid, r in stored.items():
        row = tb.setdefault(r.ledger, [0, 0, 0, 0])
        row[0] += r.debits_posted
        row[1] += r.credits_posted
        row[2] += r.debits_pending
        row[3] += r.credits_pending
        dpo, cpo, dp, cp = replay.pop(aid, (0, 0, 0, 0))
        have = (r.debits_posted, r.credits_posted, r.debits_pending, r.credits_pending)
        if have != (dpo, cpo, dp, cp):
            report.breaks.append(
                EodBreak("replay", aid, f"stored (dpo, cpo, dp, cp) {have} != replay {(dpo, cpo, dp, cp)}")
            )
        if (
            r.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
            and r.debits_posted + r.debits_pending > r.credits_posted
        ):
            report.breaks.append(EodBreak("limit", aid, "debits exceed credits"))
        if (
            r.flags & AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
            and r.credits_posted + r.credits_pending > r.debits_posted
        ):
            report.breaks.append(EodBreak("limit", aid, "credits exceed debits"))
    for aid in replay:
        report.breaks.append(EodBreak("replay", aid, "transfers name an account that does not exist"))
    for ledger, (dpo, cpo, dp, cp) in sorted(tb.items()):
        report.trial_balance.append(TrialBalanceRow(ledger, dpo, cpo, dp, cp))
        if dpo != cpo or dp != cp:
            report.breaks.append(
                EodBreak(
                    "trial_balance", ledger, f"posted debits {dpo} vs credits {cpo}; pending {dp} vs {cp}"
                )
            )
    return report
