"""Knock-out rules: the checks that decide before any model is consulted.

Why before the model: a sanctioned, under-age or unverified applicant must be refused no
matter how good the score, and the refusal must not depend on a model version. Each rule
sets one bit of a ``uint32`` mask (codes in ``pricing.reasons``); thresholds come from the
policy's ``knockouts`` section.

| code              | rule                                                  | action  |
|-------------------|-------------------------------------------------------|---------|
| KO_SANCTIONS      | sanctions list hit                                    | decline |
| KO_IDENTITY       | identity not verified                                 | decline |
| KO_AGE            | age < min_age_years or age > max_age_years            | decline |
| KO_BUREAU_DEFAULT | bureau reports a default in the last 24 months        | decline |
| KO_HISTORY        | trading_history_days < min_trading_history_days       | decline |
| KO_ASSETS         | platform_assets_minor < min_platform_assets_minor, or | decline |
|                   | avg_daily_assets_20d_minor < min_avg_daily_assets_20d |         |
| KO_PEP_REVIEW     | politically exposed person not yet reviewed           | refer   |
| KO_RELATED_PARTY  | related party of the broker (when the policy says so) | decline |

Regimes (the shipped policies): ``cn`` margin-account admission (SSE/SZSE margin trading
rules, 融资融券交易实施细则; CSRC measures for margin business of securities companies,
art. 11): at least 6 months of trading (182 days), average daily assets of at least
¥500,000 over the last 20 trading days, no major default (the bureau's default in the
last 24 months), not a related party. ``us``: FINRA Rule 4210(b)(1) minimum equity of
$2,000 to open a margin account.

Public API: ``knockout_mask(...) -> uint32 array``, ``check_flag``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

from creditdesk.errors import InputError
from pricing.formulas import checked_array
from pricing.limits import check_minor
from pricing.policy import Policy
from pricing.reasons import BIT, REASON_BY_CODE, combine_hits

BoolArray = npt.NDArray[np.bool_]
MaskArray = npt.NDArray[np.uint32]

MAX_AGE_INPUT = 150
MAX_HISTORY_DAYS = 36_500


def check_flag(value: ArrayLike, field: str) -> BoolArray:
    """A yes/no input as a bool array: bools, or numbers that are exactly 0 or 1 (no NaN)."""
    arr = np.asarray(value)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind in "iuf":
        if not ((arr == 0) | (arr == 1)).all():
            raise InputError(
                f"{field} must be true/false (or 0/1), got a missing or other value", field=field
            )
        return arr.astype(bool)
    if arr.dtype.kind == "O":  # e.g. a pandas column with None or pd.NA in it
        items = arr.ravel().tolist()
        if all(isinstance(x, bool | np.bool_) for x in items):
            return arr.astype(bool)
    raise InputError(f"{field} must be true/false (or 0/1)", field=field)


def _hits(
    age: npt.NDArray[np.float64],
    identity_verified: BoolArray,
    is_pep: BoolArray,
    pep_reviewed: BoolArray,
    sanctions_hit: BoolArray,
    trading_history_days: npt.NDArray[np.float64],
    platform_assets_minor: npt.NDArray[np.int64],
    bureau_default_24m: BoolArray,
    policy: Policy,
    avg_daily_assets_20d_minor: npt.NDArray[np.int64] | None = None,
) -> list[BoolArray]:
    """One bool array per knock-out rule of bits 0..6, in the order of their bits
    (KO_SANCTIONS = bit 0); KO_RELATED_PARTY (bit 12) is ``_related_party_hit``.

    Without a 20-day average (``None``), the current platform assets stand in for it.
    """
    ko = policy.knockouts
    average = platform_assets_minor if avg_daily_assets_20d_minor is None else avg_daily_assets_20d_minor
    return [
        sanctions_hit,
        ~identity_verified,
        (age < ko.min_age_years) | (age > ko.max_age_years),
        bureau_default_24m,
        trading_history_days < ko.min_trading_history_days,
        (platform_assets_minor < ko.min_platform_assets_minor)
        | (average < ko.min_avg_daily_assets_20d_minor),
        is_pep & ~pep_reviewed,
    ]


def _related_party_hit(related_party: BoolArray, policy: Policy) -> BoolArray:
    return related_party & policy.knockouts.refuse_related_party


KNOCKOUT_CODES = (
    "KO_SANCTIONS",
    "KO_IDENTITY",
    "KO_AGE",
    "KO_BUREAU_DEFAULT",
    "KO_HISTORY",
    "KO_ASSETS",
    "KO_PEP_REVIEW",
)
assert [BIT[code] for code in KNOCKOUT_CODES] == [1 << i for i in range(len(KNOCKOUT_CODES))]


def knockout_mask(
    age: ArrayLike,
    identity_verified: ArrayLike,
    is_pep: ArrayLike,
    pep_reviewed: ArrayLike,
    sanctions_hit: ArrayLike,
    trading_history_days: ArrayLike,
    platform_assets_minor: ArrayLike,
    bureau_default_24m: ArrayLike,
    policy: Policy,
    *,
    avg_daily_assets_20d_minor: ArrayLike | None = None,
    related_party: ArrayLike = False,
) -> MaskArray:
    """Bit mask of the knock-out rules each applicant hits (0 = none).

    ``pricing.reasons.codes_from_mask`` turns one mask into codes; the decline/refer split
    is ``mask & DECLINE_BITS`` / ``mask & REFER_BITS``. Ages and history are in whole or
    fractional years/days; a negative or NaN value is an input error, not a knock-out.
    """
    a = [
        np.atleast_1d(x)
        for x in np.broadcast_arrays(
            checked_array(age, "age", 0, MAX_AGE_INPUT),
            check_flag(identity_verified, "identity_verified"),
            check_flag(is_pep, "is_pep"),
            check_flag(pep_reviewed, "pep_reviewed"),
            check_flag(sanctions_hit, "sanctions_hit"),
            checked_array(trading_history_days, "trading_history_days", 0, MAX_HISTORY_DAYS),
            check_minor(platform_assets_minor, "platform_assets_minor"),
            check_flag(bureau_default_24m, "bureau_default_24m"),
            check_flag(related_party, "related_party"),
            check_minor(
                platform_assets_minor if avg_daily_assets_20d_minor is None else avg_daily_assets_20d_minor,
                "avg_daily_assets_20d_minor",
            ),
        )
    ]
    if a[0].ndim != 1:
        raise InputError(f"knock-out inputs must be one-dimensional, got shape {a[0].shape}", field="inputs")
    mask = combine_hits(_hits(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], policy, a[9]))
    related = combine_hits(
        [_related_party_hit(a[8], policy)], first_bit=REASON_BY_CODE["KO_RELATED_PARTY"].bit
    )
    return mask | related
