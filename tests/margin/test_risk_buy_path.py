"""The risk controls on the real buy path: refusals with their reason codes, nothing written."""

from __future__ import annotations

from sqlalchemy import Engine

from margin.checks import DEFAULT_BUY_CHECKS
from margin.risk_checks import risk_buy_checks
from margin.risk_events import RiskEvent
from margin.risk_store import append_events, clear_account, flag_account
from margin.service import MarginDesk
from tests.margin.margin_support import Clock

CID = 42
A, B = 600519, 1
SECOND = 10**9


def setup(engine: Engine) -> tuple[MarginDesk, Clock]:
    clock = Clock()
    desk = MarginDesk(engine, clock, buy_checks=(*DEFAULT_BUY_CHECKS, *risk_buy_checks()))
    desk.upsert_instrument(A, "600519.SH", "index_constituent", price_minor=10_000, adv_shares=10**7)
    desk.upsert_instrument(B, "000001.SZ", "index_constituent", price_minor=10_000, adv_shares=10**7)
    desk.open_facility(CID, "dec-1", line_minor=1_000_000, annual_rate_bps=730)
    assert desk.deposit(CID, "dep-1", 500_000).ok
    return desk, clock


def test_a_buy_is_refused_by_concentration_with_its_reason_code(engine: Engine) -> None:
    desk, clock = setup(engine)
    assert desk.buy(CID, "a1", A, 40, 10_000).ok  # own cash
    first = desk.buy(CID, "b1", B, 30, 10_000)  # 300,000: 200,000 on credit
    assert first.ok, first.reason
    clock.ns += 3600 * SECOND
    desk.upsert_instrument(A, "600519.SH", "index_constituent", price_minor=3_000, adv_shares=10**7)
    assert desk.deposit(CID, "dep-2", 20_000).ok
    # ratio (20,000 + 120,000 + 300,000) / 200,000 = 220 % → one name ≤ 70 %;
    # 2 more B (own cash) would make B 320,000 / 440,000 = 73 %
    refused = desk.buy(CID, "b2", B, 2, 10_000)
    assert not refused.ok and refused.reason == "CONCENTRATION_ACCOUNT"
    assert desk.buy(CID, "a2", A, 2, 3_000).ok  # diversifying is fine


def test_a_round_trip_inside_the_window_is_refused(engine: Engine) -> None:
    desk, clock = setup(engine)
    assert desk.buy(CID, "a1", A, 10, 10_000).ok
    clock.ns += 10 * SECOND
    assert desk.sell(CID, "s1", A, 5, 10_000).ok
    clock.ns += 60 * SECOND
    refused = desk.buy(CID, "a2", A, 5, 10_000)
    assert not refused.ok and refused.reason == "WASH_ROUND_TRIP"
    assert desk.buy(CID, "b1", B, 5, 10_000).ok  # another name
    clock.ns += 300 * SECOND
    assert desk.buy(CID, "a3", A, 5, 10_000).ok  # outside the 300 s window


def test_frozen_names_and_reviewed_accounts_lose_financed_buying(engine: Engine) -> None:
    desk, clock = setup(engine)
    frozen = RiskEvent(
        "instrument:000001.SZ", 1, clock.ns + SECOND, clock.ns, "buy_freeze", "frozen", "open",
        "vol_percentile", 0.97, 0.75, "volatility ranks above the 75 % percentile in a crisis market",
    )  # fmt: skip
    append_events(engine, [frozen], "test")
    clock.ns += 2 * SECOND
    assert desk.buy(CID, "b1", B, 60, 10_000).reason == "BUY_FROZEN_VOLATILITY"  # 100,000 on credit
    assert desk.buy(CID, "b2", B, 10, 10_000).ok  # own cash is not frozen
    assert desk.buy(CID, "o1", B, 30, 10_000).ok  # own cash: 400,000 of B held, 100,000 cash left
    flag_account(engine, CID, clock.ns, 0.8, "turnover 9× its usual level", 0.5)
    # 30 A on credit is within the facility's leverage, not within half of it while under review
    refused = desk.buy(CID, "a1", A, 30, 10_000)
    assert not refused.ok and refused.reason == "max_leverage_under_review"
    clear_account(engine, CID, clock.ns, "ana", "known hedger")
    assert desk.buy(CID, "a2", A, 30, 10_000).ok


def test_committee_section_reads_events_reviews_refusals_and_book_concentration(engine: Engine) -> None:
    from pipelines.reporting import risk_controls_figures

    desk, clock = setup(engine)
    assert desk.buy(CID, "a1", A, 40, 10_000).ok
    assert desk.buy(CID, "b1", B, 30, 10_000).ok  # on credit: the account owes
    crisis = RiskEvent(
        "market", 1, clock.ns + SECOND, clock.ns, "regime_level", "crisis", "stressed",
        "index_ewma_vol_annual", 0.45, 0.40, "index EWMA volatility rose to 45 %",
    )  # fmt: skip
    append_events(engine, [crisis], "test")
    flag_account(engine, CID, clock.ns, 0.8, "turnover 9× its usual level", 0.5)
    url = engine.url.render_as_string(hide_password=False)
    section = risk_controls_figures(url, now_ns=clock.ns + 2 * SECOND)
    assert section is not None
    assert section["figures"]["crisis level in period"] == "yes"
    assert section["figures"]["accounts flagged in period"] == 1
    by_name = section["tables"]["concentration by name (financed exposure)"].set_index("symbol")
    assert by_name.loc["600519.SH", "exposure_minor"] == 400_000  # 40 × 100.00 held by an account that owes
