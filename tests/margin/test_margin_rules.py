"""Golden tests for the exchange and contract rules of the margin engine and instrument master.

Each test names its source. Amounts in yuan × 100 (fen) where it matters; the engine is
unit-agnostic (float analytics), the books are integer fen.
"""

from __future__ import annotations

import numpy as np
import pytest

from creditdesk.errors import InputError
from margin.engine import (
    CN,
    US,
    Book,
    Evaluation,
    Status,
    available_margin,
    evaluate,
    initial_margin_ok,
    no_calls,
    step_calls,
)
from margin.instruments import (
    InstrumentSpec,
    at_limit_down,
    conversion_rate,
    conversion_rule,
    financing_refusal,
    master_row,
    parse_instrument,
    price_limit,
)

YUAN = 100  # fen


def financed_book(fall: float, addon: float = 0.0) -> tuple[Book, np.ndarray, np.ndarray]:
    """Own collateral: 10,000 sh of A at ¥100 (index constituent, 70 %). Financed: 5,000 sh of
    B bought at ¥100 with a ¥500,000 loan (融资买入金额), B then moves by ``fall``.
    Interest and fees accrued: ¥2,000."""
    book = Book(
        cash=np.array([0.0]),
        debt=np.array([502_000.0 * YUAN]),
        pos_account=np.array([0, 0]),
        pos_instrument=np.array([0, 1]),
        pos_quantity=np.array([10_000.0, 5_000.0]),
        pos_financed_minor=np.array([0.0, 500_000.0 * YUAN]),
        interest_fees_minor=np.array([2_000.0 * YUAN]),
        haircut_addon=np.array([addon]),
    )
    prices = np.array([100.0, 100.0 * (1.0 + fall)]) * YUAN
    return book, prices, np.array([0.70, 0.70])


def test_cn_available_margin_financed_position_after_20pct_fall() -> None:
    # Source: SSE/SZSE 融资融券交易实施细则, 保证金可用余额 = 现金 + Σ(充抵保证金的证券市值 × 折算率)
    # + Σ[(融资买入证券市值 − 融资买入金额) × 折算率] − Σ融资买入金额 × 融资保证金比例 − 利息及费用;
    # 融资买入证券市值低于融资买入金额时折算率按 100 % 计算; 充抵保证金的证券不含融资买入的证券.
    # Financing margin ratio 100 % for new contracts: exchange notice of 2026-01-14 (effective 2026-01-19).
    book, prices, conv = financed_book(-0.20)
    # 0 + 1,000,000 × 0.70 + (400,000 − 500,000) × 100 % − 500,000 × 100 % − 2,000 = 98,000
    assert available_margin(book, prices, conv, CN)[0] == pytest.approx(98_000 * YUAN)
    # today's pooled formula (losses at the 70 % rate, financed shares as collateral) said 126,600
    book_up, prices_up, _ = financed_book(+0.20)
    # gains at the conversion rate: + (600,000 − 500,000) × 0.70 = 70,000 -> 268,000
    assert available_margin(book_up, prices_up, conv, CN)[0] == pytest.approx(268_000 * YUAN)
    flat, prices_flat, _ = financed_book(0.0)
    assert available_margin(flat, prices_flat, conv, CN)[0] == pytest.approx(198_000 * YUAN)


def test_financed_buy_uses_margin_at_100pct_and_is_refused_past_it() -> None:
    # A new financed buy of X adds a row worth X financed by X: it uses X × 100 % of the margin.
    book, prices, conv = financed_book(-0.20)
    for amount, ok in ((98_000 * YUAN, True), (98_001 * YUAN, False)):
        after = Book(
            book.cash,
            book.debt + amount,
            np.array([0, 0, 0]),
            np.array([0, 1, 2]),
            np.array([10_000.0, 5_000.0, amount / (50.0 * YUAN)]),
            np.append(book.financed(), amount),
            book.interest_fees_minor,
        )
        p = np.append(prices, 50.0 * YUAN)
        assert initial_margin_ok(after, p, np.append(conv, 0.65), CN).tolist() == [ok]


def test_haircut_addon_lowers_the_accounts_rates() -> None:
    # The grade tier's haircut add-on (pricing policy, stored on the facility at opening) is
    # subtracted from every conversion rate of that account: 0.70 − 0.05 = 0.65.
    book, prices, conv = financed_book(-0.20, addon=0.05)
    assert available_margin(book, prices, conv, CN)[0] == pytest.approx(48_000 * YUAN)
    ev = evaluate(book, prices, conv, CN)
    assert ev.collateral_value[0] == pytest.approx(0.65 * (1_000_000 + 400_000) * YUAN)
    with pytest.raises(InputError, match="haircut_addon"):
        Book(
            book.cash,
            book.debt,
            book.pos_account,
            book.pos_instrument,
            book.pos_quantity,
            haircut_addon=np.array([1.0]),
        ).validate(2)


def test_us_available_margin_is_reg_t_excess_equity() -> None:
    # Reg T (12 CFR 220.12): initial margin 50 % of the long market value.
    b = Book(np.array([0.0]), np.array([1_000.0]), np.array([0]), np.array([0]), np.array([20.0]))
    assert available_margin(b, np.array([100.0]), np.array([0.7]), US)[0] == pytest.approx(0.0)


def ev_status(status: list[int], ratio: list[float]) -> Evaluation:
    n = len(status)
    z = np.zeros(n)
    return Evaluation(z, z, z, np.array(ratio), np.full(n, 1.3), np.array(status, np.int8), z, z)


def test_dated_call_deadline_second_following_xshg_session_across_spring_festival() -> None:
    # Source: margin contract (DESIGN.md): top up to 150 % within 2 trading days of the call;
    # XSHG sessions (exchange-calendars, = 上交所 2026 休市安排: closed 2026-02-15..23).
    state = no_calls(2, dated=True)
    friday = np.datetime64("2026-02-13")
    state, ev = step_calls(state, ev_status([Status.CALL, Status.OK], [1.2, 2.0]), friday, CN)
    assert ev.issued.tolist() == [True, False]
    assert state.deadline_day[0] == np.datetime64("2026-02-25")
    state, ev = step_calls(
        state, ev_status([Status.CALL, Status.OK], [1.2, 2.0]), np.datetime64("2026-02-24"), CN
    )
    assert state.open.tolist() == [True, False] and not ev.liquidate.any()  # one session: not yet due
    state, ev = step_calls(
        state, ev_status([Status.CALL, Status.OK], [1.2, 2.0]), np.datetime64("2026-02-25"), CN
    )
    assert ev.liquidate.tolist() == [True, False] and not state.open.any()


def test_conversion_rates_per_instrument_class() -> None:
    # Source: SSE/SZSE 融资融券交易实施细则, 可充抵保证金证券折算率 (一)–(五) (exchange caps).
    cases = [
        (dict(kind="share", index_constituent=True, static_pe=12.0), 0.70),
        (dict(kind="share", static_pe=35.0), 0.65),
        (dict(kind="etf"), 0.90),
        (dict(kind="government_bond"), 0.95),
        (dict(kind="money_market_fund"), 0.95),
        (dict(kind="cash_management"), 0.95),
        (dict(kind="bond"), 0.80),  # other bonds: not 95 %
        (dict(kind="fund"), 0.80),  # other listed funds
        (dict(kind="share", board="st", index_constituent=True), 0.0),  # ST / *ST
        (dict(kind="share", static_pe=-4.2), 0.0),  # loss-making
        (dict(kind="share", static_pe=300.5, board="star"), 0.0),  # static P/E above 300
        (dict(kind="share", static_pe=300.0, board="chinext"), 0.65),  # exactly 300 is not above
        (dict(kind="warrant"), 0.0),
        (dict(kind="etf", eligible_as_collateral=False), 0.0),
    ]
    for fields, rate in cases:
        assert conversion_rate(parse_instrument(fields)) == rate, fields
    spec = parse_instrument({"kind": "share", "index_constituent": True})
    assert conversion_rule(spec).name == "index_constituent_share"
    assert conversion_rate(spec, broker_rate=0.5) == 0.5  # a broker may set lower
    with pytest.raises(InputError, match="exceeds the exchange cap"):
        conversion_rate(spec, broker_rate=0.75)


def test_financed_buy_eligibility() -> None:
    # Source: 实施细则, 标的证券 (融资买入标的): only eligible instruments may be bought with loan money.
    ok = InstrumentSpec("share", "main", 15.0, True, eligible_for_financing=True)
    assert financing_refusal(ok) is None
    assert financing_refusal(InstrumentSpec("share", "main", 15.0, True)) == "not_eligible_for_financing"
    st_flagged = InstrumentSpec("share", "st", 15.0, True, eligible_for_financing=True)
    assert financing_refusal(st_flagged) == "not_eligible_for_financing"


def test_bad_instrument_input_names_the_field() -> None:
    with pytest.raises(InputError, match="board") as e:
        parse_instrument({"kind": "share", "board": "nasdaq"})
    assert e.value.field == "board"
    with pytest.raises(InputError, match="static_pe") as e:
        parse_instrument({"kind": "share", "static_pe": "-12.5"})
    assert e.value.field == "static_pe"
    with pytest.raises(InputError, match="kind"):
        parse_instrument({"kind": "crypto"})
    with pytest.raises(InputError, match="eligible_for_financing"):
        parse_instrument({"kind": "etf", "eligible_for_financing": "yes"})


def test_price_limits_and_limit_down() -> None:
    # Source: SSE/SZSE 交易规则 涨跌幅限制: main board ±10 %, ChiNext / STAR ±20 %, ST ±5 %.
    assert [price_limit(b) for b in ("main", "chinext", "star", "st")] == [0.10, 0.20, 0.20, 0.05]
    prev = np.array([10.00, 10.00, 10.00, 10.00])
    close = np.array([9.00, 9.01, 8.00, 9.50])
    limit = np.array([0.10, 0.10, 0.20, 0.05])
    assert at_limit_down(close, prev, limit).tolist() == [True, True, True, True]
    assert at_limit_down(np.array([9.02, 8.5]), np.array([10.0, 10.0]), np.array([0.10, 0.20])).tolist() == [
        False,
        False,
    ]


def test_master_row_derives_the_rate_and_keeps_legacy_kinds() -> None:
    # The stored conversion rate comes from the rule table, never from the caller's kind name.
    row = master_row({"kind": "index_constituent"})
    assert row["kind"] == "share" and row["index_constituent"] and row["eligible_for_financing"]
    assert row["conversion_rate_bps"] == 7_000
    assert master_row({"kind": "bond"})["conversion_rate_bps"] == 8_000  # other bonds: 80 %, not 95 %
    assert master_row({"kind": "government_bond"})["conversion_rate_bps"] == 9_500
    assert master_row({"kind": "flagged"})["conversion_rate_bps"] == 0
    assert master_row({"kind": "share"})["eligible_for_financing"]  # house default for shares/ETFs
    assert not master_row({"kind": "bond"})["eligible_for_financing"]
    assert not master_row({"kind": "share", "eligible_for_financing": False})["eligible_for_financing"]
    st = master_row({"kind": "share", "board": "st", "eligible_for_financing": True})
    assert st["conversion_rate_bps"] == 0
    assert financing_refusal(parse_instrument(st)) == "not_eligible_for_financing"
    assert (
        master_row({"kind": "share", "static_pe": 20, "conversion_rate": 0.5})["conversion_rate_bps"] == 5_000
    )
    with pytest.raises(InputError, match="board"):
        master_row({"kind": "index_constituent", "board": "gem"})
