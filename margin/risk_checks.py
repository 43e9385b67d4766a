"""The dynamic risk controls as pre-trade checks on the buy path (``margin.checks`` hook).

Each is a ``BuyContext → reason code | None`` run inside the buy's transaction, after the
accounts are locked; the first reason refuses the buy and nothing is written:

* ``BUY_FROZEN_VOLATILITY`` — a financed buy of a name whose latest risk event in force at
  the buy's time says "frozen" (regime × volatility percentile, ``margin_risk_events``).
* ``max_leverage_under_review`` — a financed buy by an account in the anomaly review queue
  beyond its cut leverage (facility max × the review's multiplier).
* ``CONCENTRATION_ACCOUNT`` / ``CONCENTRATION_PLATFORM_ADV`` — one name's share of the
  account's collateral after the buy above its maintenance-tier limit; the platform's holding
  of the name (all customers, from the clearing account) above the ADV capacity.
* ``WASH_ROUND_TRIP`` — the account sold the same name within the policy window. (Self-cross
  against a resting order needs an order book, which these books do not keep; the domain
  rule is ``margin.wash.check_order``.)

``risk_buy_checks(policy)`` gives them as a tuple to add to ``MarginDesk(buy_checks=…)``.
"""

from __future__ import annotations

from sqlalchemy import select

from ledger.storage import accounts, transfers
from margin.chart import Code, clearing_securities_account, customer_account
from margin.checks import BuyContext, PreTradeCheck
from margin.concentration import check_buy
from margin.controls_policy import Concentration, RiskControlsPolicy, load_controls_policy
from margin.domain import BPS_PER_UNIT
from margin.risk_store import leverage_multiplier
from margin.storage import risk_events
from margin.wash import ROUND_TRIP

FROZEN = "BUY_FROZEN_VOLATILITY"
UNDER_REVIEW = "max_leverage_under_review"


def volatility_freeze_check(ctx: BuyContext) -> str | None:
    """A financed buy of a name frozen by the latest risk event in force at the buy's time."""
    if not ctx.draw_minor:
        return None
    scope = f"instrument:{ctx.instrument.symbol}"
    q = (
        select(risk_events.c.value)
        .where((risk_events.c.scope == scope) & (risk_events.c.effective_ns <= ctx.now_ns))
        .order_by(risk_events.c.version.desc())
        .limit(1)
    )
    value = ctx.uow.margin.conn.execute(q).scalar()
    return FROZEN if value == "frozen" else None


def review_leverage_check(ctx: BuyContext) -> str | None:
    """While an account is under anomaly review its leverage cap is cut by the review's multiplier."""
    if not ctx.draw_minor:
        return None
    mult = leverage_multiplier(ctx.uow.margin.conn, ctx.facility.customer_id)
    if mult >= 1.0:
        return None
    mv = float(ctx.evaluation_after.market_value[0])
    equity = ctx.after.cash_minor + mv - ctx.after.debt_minor
    cap = ctx.facility.max_leverage_bps / BPS_PER_UNIT * mult
    return None if equity > 0 and mv <= cap * equity else UNDER_REVIEW


def _platform_shares(ctx: BuyContext) -> float:
    """Shares of the name held by all customers: the clearing account's net credit."""
    acct = clearing_securities_account(ctx.instrument_id).id
    row = ctx.uow.margin.conn.execute(
        select(accounts.c.credits_posted, accounts.c.debits_posted).where(accounts.c.id == acct)
    ).first()
    return 0.0 if row is None else float(row[0] - row[1])


def concentration_check(policy: Concentration) -> PreTradeCheck:
    def check(ctx: BuyContext) -> str | None:
        instruments = ctx.uow.margin.instruments()
        before = ctx.before
        holdings = {
            i: float(q * instruments[i].price_minor)
            for i, q in before.positions.items()
            if q > 0 and i in instruments
        }
        price = float(ctx.instrument.price_minor)
        result = check_buy(
            holdings,
            float(before.cash_minor),
            float(before.debt_minor),
            ctx.instrument_id,
            float(ctx.quantity * ctx.price_minor),
            float(ctx.draw_minor),
            _platform_shares(ctx) * price if ctx.draw_minor else 0.0,
            float(ctx.instrument.adv_shares) * price,
            float("nan"),  # free float is not in the instrument master yet
            policy,
        )
        return result.code

    return check


def round_trip_check(window_s: int) -> PreTradeCheck:
    def check(ctx: BuyContext) -> str | None:
        position = customer_account(ctx.facility.customer_id, Code.SECURITIES, ctx.instrument_id)
        since = ctx.now_ns - window_s * 1_000_000_000
        q = (
            select(transfers.c.id)
            .where((transfers.c.credit_account_id == position) & (transfers.c.timestamp_ns >= since))
            .limit(1)
        )
        return ROUND_TRIP if ctx.uow.margin.conn.execute(q).first() is not None else None

    return check


def risk_buy_checks(policy: RiskControlsPolicy | None = None) -> tuple[PreTradeCheck, ...]:
    """The risk-control checks, cheapest first, to append to ``DEFAULT_BUY_CHECKS``."""
    policy = policy or load_controls_policy()
    return (
        volatility_freeze_check,
        review_leverage_check,
        round_trip_check(policy.wash_trade.round_trip_window_s),
        concentration_check(policy.concentration),
    )
