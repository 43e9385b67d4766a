"""Policy reason codes: stable codes, plain-language texts, and the merge with model reasons.

Each code has a fixed bit in a per-applicant ``uint32`` mask, so a million decisions carry
their reasons as one integer array and the text is only built for the applicant who asks.
Codes are a contract (the decision journal, the API and the adverse-action letter use them):
add new ones at the end, never renumber or reuse one.

Order here is the order shown to the applicant: knock-outs (``KO_*``) first, most serious
first, then the policy's own declines (``DC_*``) and referrals (``RF_*``). Model reasons
(adverse feature contributions from the models room) come after all of them.

Public API: ``REASONS``, ``REASON_BY_CODE``, ``DECLINE_BITS``, ``REFER_BITS``,
``codes_from_mask(mask)``, ``reason_dicts(mask, policy, binding_cap)``,
``merge_reasons(policy_reasons, model_reasons, limit=4)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from pricing.policy import Policy

MAX_REASONS = 4


@dataclass(frozen=True)
class ReasonCode:
    code: str
    bit: int
    feature: str
    action: Literal["decline", "refer"]
    template: str  # str.format fields come from ``_text_fields(policy)``

    @property
    def flag(self) -> int:
        return 1 << self.bit

    def text(self, policy: Policy) -> str:
        return self.template.format(**_text_fields(policy))


REASONS: tuple[ReasonCode, ...] = (
    ReasonCode(
        "KO_SANCTIONS",
        0,
        "sanctions_hit",
        "decline",
        "The applicant matches a sanctions list, so we cannot lend.",
    ),
    ReasonCode(
        "KO_IDENTITY", 1, "identity_verified", "decline", "The applicant's identity has not been verified."
    ),
    ReasonCode(
        "KO_AGE", 2, "age", "decline", "We lend to applicants aged {min_age_years} to {max_age_years} only."
    ),
    ReasonCode(
        "KO_BUREAU_DEFAULT",
        3,
        "bureau_default_24m",
        "decline",
        "The credit bureau reports a default in the last 24 months.",
    ),
    ReasonCode(
        "KO_HISTORY",
        4,
        "trading_history_days",
        "decline",
        "Less than {min_trading_history_days} days of trading history on the platform.",
    ),
    ReasonCode(
        "KO_ASSETS",
        5,
        "platform_assets_minor",
        "decline",
        "{assets_rule}",
    ),
    ReasonCode(
        "KO_PEP_REVIEW",
        6,
        "is_pep",
        "refer",
        "A politically exposed person needs a compliance review before we can decide.",
    ),
    ReasonCode("DC_DEFAULT", 7, "grade", "decline", "The applicant is in default on a credit obligation."),
    ReasonCode(
        "DC_GRADE",
        8,
        "grade",
        "decline",
        "The credit grade is worse than this policy accepts (grade {acceptable_max_grade} or better).",
    ),
    ReasonCode(
        "DC_UNPROFITABLE",
        9,
        "pd_12m",
        "decline",
        "The risk cannot be priced within our maximum rate of {rate_cap}.",
    ),
    ReasonCode(
        "DC_LINE_MIN",
        10,
        "credit_limit_minor",
        "decline",
        "The line we could offer is below our minimum line of {min_line}.",
    ),
    ReasonCode(
        "RF_LINE_CUT",
        11,
        "credit_limit_minor",
        "refer",
        "The line we can offer is less than {refer_below_share} of the amount requested.",
    ),
    # Added after the first release: new bits go at the end; display puts knock-outs first.
    ReasonCode(
        "KO_RELATED_PARTY",
        12,
        "related_party",
        "decline",
        "A related party of the broker (shareholder, director, employee) cannot open a margin account.",
    ),
)
REASON_BY_CODE: dict[str, ReasonCode] = {r.code: r for r in REASONS}
assert [r.bit for r in REASONS] == list(range(len(REASONS))), "bit = position in REASONS"
_DISPLAY = tuple(sorted(REASONS, key=lambda r: not r.code.startswith("KO_")))  # stable: KO_* first
_FLAGS = np.array([r.flag for r in REASONS], dtype=np.uint32)
BIT = {r.code: r.flag for r in REASONS}
DECLINE_BITS = sum(r.flag for r in REASONS if r.action == "decline")
REFER_BITS = sum(r.flag for r in REASONS if r.action == "refer")
KNOCKOUT_BITS = sum(r.flag for r in REASONS if r.code.startswith("KO_"))

# Which cap made the line what it is (index of ``pricing.limits.limit_caps_minor``'s rows).
BINDING_CAPS = ("grade", "platform_assets_minor", "annual_income_minor", "requested_line_minor")
_BINDING_TEXT = (
    " It is limited by the maximum line for the credit grade.",
    " It is limited by the assets held on the platform.",
    " It is limited by the declared annual income.",
    "",
)


_SMALL_BATCH = 64


def combine_hits(hits: Sequence[npt.NDArray[np.bool_]], first_bit: int = 0) -> npt.NDArray[np.uint32]:
    """OR rule hits (same-shape 1-D bool arrays for bits first_bit, first_bit + 1, ...) into
    one uint32 mask.

    Small batches (the online path) use one matrix product, a few µs whatever the number
    of rules; large ones shift and OR rule by rule, ~7x faster than the product there.
    """
    flags = _FLAGS[first_bit : first_bit + len(hits)]
    if hits[0].shape[0] <= _SMALL_BATCH:
        return (flags @ np.array(hits, dtype=np.uint32)).astype(np.uint32, copy=False)
    mask = np.zeros(hits[0].shape, dtype=np.uint32)
    for hit, flag in zip(hits, flags, strict=True):
        mask |= hit.astype(np.uint32) * flag
    return mask


def _money(minor: int, currency: str = "") -> str:
    return f"{currency} {minor / 100:,.2f}".strip()


def _assets_rule(policy: Policy) -> str:
    ko, cur = policy.knockouts, policy.currency
    parts = []
    if ko.min_platform_assets_minor:
        minimum = _money(ko.min_platform_assets_minor, cur)
        parts.append(f"the assets held on the platform are below the minimum of {minimum}")
    if ko.min_avg_daily_assets_20d_minor:
        parts.append(
            "the average daily assets over the last 20 trading days are below "
            f"{_money(ko.min_avg_daily_assets_20d_minor, cur)}"
        )
    text = " or ".join(parts) or "the assets held on the platform are below the minimum"
    return text[0].upper() + text[1:] + "."


def _text_fields(policy: Policy) -> dict[str, Any]:
    ko, rates, limits = policy.knockouts, policy.rates, policy.limits
    return {
        "min_age_years": ko.min_age_years,
        "max_age_years": ko.max_age_years,
        "min_trading_history_days": ko.min_trading_history_days,
        "assets_rule": _assets_rule(policy),
        "acceptable_max_grade": policy.grades.acceptable_max_grade,
        "rate_cap": f"{rates.rate_cap:.2%}",
        "min_line": _money(limits.min_line_minor, policy.currency),
        "refer_below_share": f"{limits.refer_below_share:.0%}",
    }


def codes_from_mask(mask: int, outcome: str | None = None) -> list[str]:
    """Codes set in ``mask``, in display order; with ``outcome``, only the ones that explain it.

    A declined applicant is told why they were declined, not also that their line would
    have been cut; an approved one gets no policy reasons.
    """
    mask = int(mask)
    if outcome == "approve":
        return []
    wanted = {"decline": DECLINE_BITS, "refer": REFER_BITS}.get(outcome or "", DECLINE_BITS | REFER_BITS)
    return [r.code for r in _DISPLAY if mask & r.flag & wanted]


def reason_dicts(
    mask: int, policy: Policy, outcome: str | None = None, binding_cap: int = 3
) -> list[dict[str, Any]]:
    """Policy reasons as the dicts the API returns: code, feature, text, contribution (None).

    Policy rules have no model contribution, so ``contribution`` is None rather than an
    invented number.
    """
    out: list[dict[str, Any]] = []
    for code in codes_from_mask(mask, outcome):
        reason = REASON_BY_CODE[code]
        text, feature = reason.text(policy), reason.feature
        if code == "RF_LINE_CUT" and 0 <= binding_cap < len(BINDING_CAPS):
            text += _BINDING_TEXT[binding_cap]
            feature = BINDING_CAPS[binding_cap] if binding_cap < 3 else feature
        out.append({"code": code, "feature": feature, "text": text, "contribution": None})
    return out


def merge_reasons(
    policy_reasons: Iterable[Mapping[str, Any]],
    model_reasons: Iterable[Mapping[str, Any]] = (),
    limit: int = MAX_REASONS,
) -> list[dict[str, Any]]:
    """Knock-out/policy reasons first, then the model's (as ordered by the caller: largest
    adverse first), without repeating a code, at most ``limit`` (four) in all.

    Each reason is a dict with at least ``code`` and ``text``; ``feature`` and
    ``contribution`` are kept as given (missing ones become None).
    """
    merged: list[dict[str, Any]] = []
    seen: set[str] = set()
    for reason in (*policy_reasons, *model_reasons):
        if len(merged) >= limit:
            break
        code = str(reason["code"])
        if code in seen:
            continue
        seen.add(code)
        merged.append(
            {
                "code": code,
                "feature": reason.get("feature"),
                "text": str(reason["text"]),
                "contribution": reason.get("contribution"),
            }
        )
    return merged
