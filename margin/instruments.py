"""The instrument master's rules: conversion rates, eligibility and daily price limits.

One rule table, used by the lending books, the engine, the stress replay and the API, so an
instrument converts at the same rate everywhere. Each row carries its source.

Conversion rates (可充抵保证金证券折算率, exchange caps — a broker may set lower; SSE/SZSE
《融资融券交易实施细则》, article on 可充抵保证金证券的折算率):

* index-constituent A-shares (上证180 / 深证100 成份股) ≤ 70 %, other A-shares ≤ 65 %;
* ETFs ≤ 90 %;
* government bonds, money-market funds and broker cash-management products ≤ 95 %;
* other bonds and other listed funds ≤ 80 %;
* 0 %: shares under risk warning (ST / \\*ST), suspended or in delisting, shares whose static
  P/E is negative (loss-making) or above 300, warrants.

Financed purchase (融资买入标的) is a separate, narrower list: an instrument must carry the
``eligible_for_financing`` flag (default: shares and ETFs) and never when it converts at 0 %;
anything else bought with loan money is refused with reason ``not_eligible_for_financing``.

Daily price limits (涨跌幅限制) live in ``creditdesk/price_limits.py`` so the generator can
use them too; they are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from creditdesk.errors import InputError
from creditdesk.price_limits import BOARDS, PRICE_LIMIT_BY_BOARD, at_limit_down, limit_path, price_limit

__all__ = ["PRICE_LIMIT_BY_BOARD", "at_limit_down", "limit_path", "price_limit"]
InstrumentKind = Literal[
    "share",
    "etf",
    "government_bond",
    "money_market_fund",
    "cash_management",
    "bond",
    "fund",
    "warrant",
]
"""The kinds the conversion-rate rules know: the one list (the HTTP schema reads it too)."""
KINDS: tuple[str, ...] = get_args(InstrumentKind)
STATIC_PE_CAP = 300.0
# House default when the master does not say: shares and ETFs are financed-purchase targets
# (since the 2023 expansion the exchanges' lists hold most of them); bonds and funds are not.
# A 0 % instrument (ST, P/E rule, warrant) is refused whatever its flag.
FINANCED_BY_DEFAULT = ("share", "etf")


@dataclass(frozen=True)
class RateRule:
    name: str
    cap: float
    source: str


RULES: dict[str, RateRule] = {
    r.name: r
    for r in (
        RateRule("index_constituent_share", 0.70, "实施细则 折算率 (一): 上证180/深证100成份股 ≤ 70%"),
        RateRule("other_a_share", 0.65, "实施细则 折算率 (一): 其他A股 ≤ 65%"),
        RateRule("etf", 0.90, "实施细则 折算率 (二): ETF ≤ 90%"),
        RateRule("government_bond_or_cash", 0.95, "实施细则 折算率 (三): 国债/货币基金/现金管理产品 ≤ 95%"),
        RateRule("other_bond_or_fund", 0.80, "实施细则 折算率 (五): 其他上市基金和债券 ≤ 80%"),
        RateRule("zero_risk_warning", 0.0, "实施细则 折算率 (四): 风险警示(ST/*ST) 0%"),
        RateRule("zero_pe", 0.0, "实施细则 折算率 (四): 静态市盈率 > 300 或为负 0%"),
        RateRule("zero_warrant", 0.0, "实施细则 折算率 (四): 权证 0%"),
        RateRule("not_collateral", 0.0, "instrument master: not eligible as collateral"),
    )
}
_RULE_BY_KIND = {
    "etf": "etf",
    "government_bond": "government_bond_or_cash",
    "money_market_fund": "government_bond_or_cash",
    "cash_management": "government_bond_or_cash",
    "bond": "other_bond_or_fund",
    "fund": "other_bond_or_fund",
    "warrant": "zero_warrant",
}


@dataclass(frozen=True)
class InstrumentSpec:
    """One instrument's static data: what the rules need, validated."""

    kind: str
    board: str = "main"
    static_pe: float | None = None  # shares only; None = not published (treated as not > 300)
    index_constituent: bool = False
    eligible_for_financing: bool = False
    eligible_as_collateral: bool = True


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | np.integer) and value in (0, 1):
        return bool(value)
    raise InputError(f"{name} must be true or false, got {value!r}", field=name)


def _pe(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(
            f"static_pe must be a number (negative for loss-making), got {type(value).__name__} {value!r}",
            field="static_pe",
        )
    pe = float(value)
    if math.isnan(pe) or math.isinf(pe):
        raise InputError(f"static_pe must be finite, got {value!r}", field="static_pe")
    return pe


def parse_instrument(data: Mapping[str, Any]) -> InstrumentSpec:
    """Validate raw instrument-master fields; every error names its field and the rule."""
    kind = data.get("kind")
    if kind not in KINDS:
        raise InputError(f"kind must be one of {list(KINDS)}, got {kind!r}", field="kind")
    board = data.get("board", "main")
    if board not in BOARDS:
        raise InputError(
            f"board must be one of {list(BOARDS)} (main, ChiNext, STAR, ST), got {board!r}", field="board"
        )
    return InstrumentSpec(
        kind=str(kind),
        board=str(board),
        static_pe=_pe(data.get("static_pe")),
        index_constituent=_flag(data.get("index_constituent", False), "index_constituent"),
        eligible_for_financing=_flag(
            data.get("eligible_for_financing", kind in FINANCED_BY_DEFAULT), "eligible_for_financing"
        ),
        eligible_as_collateral=_flag(data.get("eligible_as_collateral", True), "eligible_as_collateral"),
    )


def conversion_rule(spec: InstrumentSpec) -> RateRule:
    """The rule of the table that sets ``spec``'s conversion rate (zero rules first)."""
    if not spec.eligible_as_collateral:
        return RULES["not_collateral"]
    if spec.kind == "share":
        if spec.board == "st":
            return RULES["zero_risk_warning"]
        if spec.static_pe is not None and (spec.static_pe < 0 or spec.static_pe > STATIC_PE_CAP):
            return RULES["zero_pe"]
        return RULES["index_constituent_share" if spec.index_constituent else "other_a_share"]
    return RULES[_RULE_BY_KIND[spec.kind]]


def conversion_rate(spec: InstrumentSpec, broker_rate: float | None = None) -> float:
    """The rate to use: the rule's cap, or a broker's lower rate (never above the cap)."""
    cap = conversion_rule(spec).cap
    if broker_rate is None:
        return cap
    if not 0.0 <= broker_rate <= cap:
        raise InputError(
            f"conversion rate {broker_rate} exceeds the exchange cap {cap} ({conversion_rule(spec).name})",
            field="conversion_rate",
        )
    return broker_rate


def financing_refusal(spec: InstrumentSpec) -> str | None:
    """Why a financed buy of ``spec`` is refused (a reason code), or None when it may be bought."""
    if not spec.eligible_for_financing:
        return "not_eligible_for_financing"
    if conversion_rule(spec).cap == 0.0:
        return "not_eligible_for_financing"
    return None


# The books' short kinds of before the instrument master (API ``kind`` values still accepted):
# each maps to a full spec.
LegacyKind = Literal["index_constituent", "flagged"]
LEGACY_KINDS: dict[str, dict[str, Any]] = {
    "index_constituent": {"kind": "share", "index_constituent": True},
    "flagged": {"kind": "share", "board": "st"},
}
assert set(LEGACY_KINDS) == set(get_args(LegacyKind))


def spec_of(row: Any) -> InstrumentSpec:
    """The spec of a stored instrument-master row (its columns are already validated)."""
    return InstrumentSpec(
        kind=row.kind,
        board=row.board,
        static_pe=row.static_pe,
        index_constituent=bool(row.index_constituent),
        eligible_for_financing=bool(row.eligible_for_financing),
        eligible_as_collateral=bool(row.eligible_as_collateral),
    )


def master_row(data: Mapping[str, Any]) -> dict[str, Any]:
    """The instrument-master columns for raw fields (``kind`` may be a legacy short kind).

    Returns the validated spec's fields and the derived ``conversion_rate_bps`` (the rule's
    cap, or a broker's lower ``conversion_rate``), ready to store beside price and volume.
    """
    fields = dict(data)
    legacy = LEGACY_KINDS.get(str(fields.get("kind")))
    if legacy is not None:
        fields = {**legacy, **{k: v for k, v in fields.items() if k != "kind" and v is not None}}
    spec = parse_instrument({k: v for k, v in fields.items() if v is not None})
    broker = fields.get("conversion_rate")
    rate = conversion_rate(spec, None if broker is None else float(broker))
    return {
        "kind": spec.kind,
        "board": spec.board,
        "static_pe": spec.static_pe,
        "index_constituent": spec.index_constituent,
        "eligible_for_financing": spec.eligible_for_financing,
        "eligible_as_collateral": spec.eligible_as_collateral,
        "conversion_rate_bps": round(rate * 10_000),
    }
