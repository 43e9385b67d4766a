"""Issue 13, credit side: the rules the decision follows, each pinned to its source.

- Interest income and funding cost on the expected drawn balance; EL, capital (and opex) on
  EAD (DESIGN.md, "Defaults, exposure and pricing conventions"; Basel II para 474-475 /
  CRE32.30: capital is on exposure at default, income is on what is lent).
- A policy knows its regime and currency; a decision carries them; another currency is refused.
- cn margin-account admission: CSRC "Measures for the Administration of Margin Trading and
  Securities Lending by Securities Companies" (证券公司融资融券业务管理办法, 2015) art. 11: no
  financing for a customer with less than six months of trading, a major default record, or
  for the broker's shareholders and related parties; ¥500,000 average daily securities assets
  over the 20 trading days before the application (exchange/SAC admission guidance of 2013,
  applied by every licensed broker).
- us: FINRA Rule 4210(b)(1), at least $2,000 of equity to open a margin account; Reg T
  (12 CFR 220.12) 50 % initial margin.
- cn line sizing: financing margin ratio 100 % (SSE/SZSE notice of 2026-01-14), collateral at
  conversion rates ≤ 70 % (SSE/SZSE margin trading implementation rules, art. on 折算率): the
  usable line is ≤ ~0.7 × assets; the grade's haircut add-on lowers every conversion rate.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist
from typing import Any

import pytest
import yaml

from creditdesk.errors import InputError
from pricing.decision import decide, quote
from pricing.formulas import raroc, required_rate
from pricing.policy import POLICY_PATHS, Policy, load_policy, policy_for_regime, policy_from_mapping
from tests.pricing.pricing_support import one_applicant

CN = load_policy()
US = policy_for_regime("us")
N = NormalDist()


def hand_k(pd: float, lgd: float) -> float:
    f = (1 - math.exp(-35 * pd)) / (1 - math.exp(-35))
    r = 0.03 * f + 0.16 * (1 - f)
    return lgd * N.cdf((N.inv_cdf(pd) + math.sqrt(r) * N.inv_cdf(0.999)) / math.sqrt(1 - r)) - pd * lgd


APPLICANT = {
    "ccf": 0.9,
    "grade": 1,
    "requested_line_minor": 1_000_000,
    "platform_assets_minor": 100_000_000,
    "annual_income_minor": 100_000_000,
}
"""This module's applicant: the clean one with these grade, CCF and amounts."""


def applicant(**overrides: Any) -> dict[str, Any]:
    return one_applicant(**(APPLICANT | overrides))


def one(policy: Policy = CN, **overrides: Any) -> dict[str, Any]:
    return decide(applicant(**overrides), policy).record(0)


# --- interest and funding on the expected drawn balance ------------------------------------


def test_interest_and_funding_on_expected_drawn_balance_el_and_capital_on_ead() -> None:
    # cn policy: funding 4.5 %, opex 1.0 %, hurdle 15 %, drawn share 0.75. Line 1,000,000,
    # CCF 0.9: EAD = 900,000 (EL, EC, opex on it), expected drawn = 750,000 (interest, funding).
    d = one()
    ead, drawn, k = 900_000.0, 750_000.0, hand_k(0.01, 0.3)
    u = drawn / ead
    rate = 0.045 + (0.01 * 0.3 + 0.010 + 0.15 * k) / u  # the rate whose RAROC is the hurdle
    assert d["credit_limit_minor"] == 1_000_000
    assert d["ead_minor"] == pytest.approx(ead) and d["expected_drawn_minor"] == pytest.approx(drawn)
    assert d["annual_rate"] == pytest.approx(rate, abs=1e-12)
    assert d["expected_loss_minor"] == pytest.approx(0.01 * 0.3 * ead)
    assert d["economic_capital_minor"] == pytest.approx(k * ead)
    assert d["expected_interest_minor"] == pytest.approx(rate * drawn)
    net = rate * drawn - 0.045 * drawn - 0.010 * ead - 0.01 * 0.3 * ead
    assert d["expected_net_income_minor"] == pytest.approx(net)
    assert d["raroc"] == pytest.approx(0.15)
    # charged on EAD (the bug) the same rate would have given 0.9/0.75 = 1.2x the interest
    assert rate * ead / d["expected_interest_minor"] == pytest.approx(1.2)


def test_formulas_with_drawn_per_ead_reduce_to_the_textbook_at_one() -> None:
    k = hand_k(0.02, 0.4)
    plain = required_rate(0.02, 0.4, k, 0.045, 0.01, 0.15)
    same = required_rate(0.02, 0.4, k, 0.045, 0.01, 0.15, drawn_per_ead=1.0)
    assert float(same) == pytest.approx(float(plain))
    half = float(required_rate(0.02, 0.4, k, 0.045, 0.01, 0.15, drawn_per_ead=0.5))
    assert half == pytest.approx(0.045 + (0.008 + 0.01 + 0.15 * k) / 0.5)
    assert float(raroc(half, 0.02, 0.4, k, 0.045, 0.01, drawn_per_ead=0.5)) == pytest.approx(0.15)


def test_quote_charges_interest_on_the_given_drawn_balance() -> None:
    q = quote(0.01, 0.45, 1_000_000, CN, drawn=500_000)
    assert q["expected_interest"][0] == pytest.approx(q["annual_rate"][0] * 500_000)
    assert q["economic_capital"][0] == pytest.approx(q["capital_k"][0] * 1_000_000)


# --- regime and currency -------------------------------------------------------------------


def test_shipped_policies_know_their_regime_and_currency_and_decisions_carry_them() -> None:
    assert (CN.regime, CN.currency) == ("cn", "CNY") and POLICY_PATHS["cn"] == POLICY_PATHS["cn"]
    assert (US.regime, US.currency) == ("us", "USD")
    d = one()
    assert (d["regime"], d["currency"]) == ("cn", "CNY")
    assert (one(US)["regime"], one(US)["currency"]) == ("us", "USD")


def test_a_policy_in_another_currency_is_refused_with_a_clear_error() -> None:
    with pytest.raises(InputError, match=r"currency 'USD' does not match policy cn .* CNY") as err:
        decide(applicant(), CN, currency="USD")
    assert err.value.field == "currency"
    decide(applicant(), US, currency="usd")  # same currency, any case: fine
    doc = yaml.safe_load(POLICY_PATHS["cn"].read_text())
    doc["currency"] = "USD"  # a cn rule book with dollar thresholds is nonsense
    with pytest.raises(InputError, match="currency USD does not match regime cn"):
        policy_from_mapping(doc)


# --- knock-outs of each regime -------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "codes"),
    [
        ({}, []),
        ({"trading_history_days": 181}, ["KO_HISTORY"]),  # less than six months (art. 11)
        ({"trading_history_days": 182}, []),
        ({"avg_daily_assets_20d_minor": 49_999_999}, ["KO_ASSETS"]),  # below ¥500,000
        ({"avg_daily_assets_20d_minor": 50_000_000}, []),
        ({"related_party": True}, ["KO_RELATED_PARTY"]),  # shareholders, related parties (art. 11)
        ({"bureau_default_24m": True}, ["KO_BUREAU_DEFAULT"]),  # a major default record (art. 11)
    ],
)
def test_cn_admission_knockouts(overrides: dict[str, Any], codes: list[str]) -> None:
    d = one(**overrides)
    assert d["reason_codes"] == codes
    assert d["outcome"] == ("decline" if codes else "approve")


def test_cn_without_a_20_day_average_the_platform_assets_stand_in() -> None:
    assert one(platform_assets_minor=49_999_999)["reason_codes"] == ["KO_ASSETS"]
    text = one(avg_daily_assets_20d_minor=1)["reasons"][0]["text"]
    assert "20 trading days" in text and "CNY 500,000.00" in text


@pytest.mark.parametrize(("equity", "codes"), [(199_999, ["KO_ASSETS"]), (200_000, [])])
def test_us_finra_4210_minimum_equity_of_2000_dollars(equity: int, codes: list[str]) -> None:
    d = one(US, platform_assets_minor=equity, requested_line_minor=100_000, annual_income_minor=10**8)
    assert [c for c in d["reason_codes"] if c.startswith("KO_")] == codes
    assert one(US, related_party=True)["reason_codes"] == []  # not a us rule


def test_knockouts_come_before_other_reasons_in_display_order() -> None:
    assert one(related_party=True, grade=9)["reason_codes"] == ["KO_RELATED_PARTY", "DC_GRADE"]


# --- line sizing: collateral at conversion rates, initial margin, the grade's add-on --------


def test_cn_line_is_at_most_about_seventy_percent_of_assets() -> None:
    # ¥600,000 of assets, nothing else binding: without the holdings' rates the policy's
    # 65 %; with holdings worth ¥420,000 at their conversion rates (≤ 70 %), ¥420,000.
    big = {"requested_line_minor": 10**9, "annual_income_minor": 10**10}
    small = 60_000_000
    assert one(platform_assets_minor=small, **big)["credit_limit_minor"] == 39_000_000  # 0.65 x
    d = one(platform_assets_minor=small, collateral_value_minor=42_000_000, **big)
    assert d["credit_limit_minor"] == 42_000_000 <= 0.7 * small
    assert one(platform_assets_minor=10**10, **big)["credit_limit_minor"] == 500_000_000  # grade 1 tier cap
    # grade 5's 5 % add-on lowers every conversion rate: (70,000 - 0.05 x 100,000) / 100 %
    admitted = {"avg_daily_assets_20d_minor": 50_000_000}  # the 20-day average passes admission
    d5 = one(platform_assets_minor=10_000_000, collateral_value_minor=7_000_000, grade=5, **big, **admitted)
    assert d5["credit_limit_minor"] == 6_500_000 and d5["haircut_addon"] == 0.05


def test_us_reg_t_line_is_one_times_equity_less_the_add_on() -> None:
    big = {"requested_line_minor": 10**9, "annual_income_minor": 10**10}
    # $10,000 of equity: loan value 50 % at 50 % initial margin -> $10,000 of line
    assert one(US, platform_assets_minor=1_000_000, **big)["credit_limit_minor"] == 1_000_000
    # grade 5: (0.50 - 0.05) x 10,000 / 0.5 = 9,000
    assert one(US, platform_assets_minor=1_000_000, grade=5, **big)["credit_limit_minor"] == 900_000


def test_optional_inputs_are_checked() -> None:
    with pytest.raises(InputError, match="related_party"):
        decide(applicant(related_party=3), CN)
    with pytest.raises(InputError, match="avg_daily_assets_20d_minor"):
        decide(applicant(avg_daily_assets_20d_minor=-1), CN)


def test_a_line_in_use_has_ead_drawn_plus_ccf_times_undrawn() -> None:
    d = one(drawn_minor=400_000)
    assert d["ead_minor"] == pytest.approx(400_000 + 0.9 * 600_000)
    assert d["expected_drawn_minor"] == pytest.approx(400_000 + 0.75 * 600_000)


def test_us_policy_file_is_shipped_beside_the_default() -> None:
    assert Path(POLICY_PATHS["us"]).is_file()
