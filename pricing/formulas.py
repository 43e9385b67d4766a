"""The credit maths: expected loss, Basel IRB capital, RAROC and the risk-based rate.

Every function takes scalars or numpy arrays (broadcast together) and returns float64
arrays, so pricing one applicant and a million is the same code. Inputs are checked first:
a PD outside (0, 1), a negative or >1 LGD/CCF, a negative EAD or a NaN anywhere raises
``InputError`` naming the field, because a silent NaN in a price is worse than no price.

Formulas (DESIGN.md, "The credit maths"; Basel II/III IRB, CRE31):

- EL = PD × LGD × EAD (PD as given by the model; the Basel floor applies to capital only).
- Other retail correlation: f = (1 − e^(−35·PD)) / (1 − e^(−35)); R = 0.03·f + 0.16·(1 − f).
- Corporate correlation: f = (1 − e^(−50·PD)) / (1 − e^(−50)); R = 0.12·f + 0.24·(1 − f),
  maturity adjustment b = (0.11852 − 0.05478·ln PD)², factor (1 + (M − 2.5)·b) / (1 − 1.5·b).
- K = LGD·N((G(PD) + √R·G(0.999)) / √(1 − R)) − PD·LGD (× maturity factor for corporate),
  PD floored at 0.05 % (policy ``capital.pd_floor``); EC = K × EAD.
- RAROC = (u·(rate − funding) + fees − opex − PD·LGD) / K, all per unit of EAD per year,
  where u = expected drawn balance / EAD: interest income and funding cost accrue on the
  money actually lent, EL and capital on the exposure at default (DESIGN.md, "Defaults,
  exposure and pricing conventions"); u = 1 gives the textbook (rate + fees − funding −
  opex − PD·LGD) / K.
- Required rate = funding + (PD·LGD + opex − fees + hurdle·K) / u: the lowest rate whose
  RAROC equals the hurdle; the quoted rate is that, floored and capped by policy.

Under the IRB's asymptotic single-risk-factor model capital is additive, so a book's EC is
the sum of the loans' EC and a book's RAROC is Σ net income / Σ EC (see pricing.portfolio).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from creditdesk.errors import InputError

FloatArray = npt.NDArray[np.float64]
CapitalFormula = Literal["retail", "corporate"]

PD_FLOOR = 0.0005
"""Basel floor on PD for capital (0.05 %); the models' master scale floors PD the same way."""
CONFIDENCE = 0.999
_RETAIL_K = 35.0
_NO_CAPITAL = 1e-12  # K per unit of EAD below this is no capital: RAROC is +-inf, not 1e300
_CORPORATE_K = 50.0


def checked_array(
    value: ArrayLike,
    field: str,
    low: float,
    high: float,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> FloatArray:
    """``value`` as a float64 array, or InputError naming ``field`` and its allowed interval.

    NaN fails every comparison, so one combined test catches NaN, infinities and range.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{field} must be numeric", field=field) from None
    ok = (arr > low if low_open else arr >= low) & (arr < high if high_open else arr <= high)
    if not ok.all():
        bad = float(arr[~ok].flat[0]) if arr.ndim else float(arr)
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        got = "NaN" if np.isnan(bad) else f"{bad:g}"
        raise InputError(f"{field} must be a number in {interval}, got {got}", field=field)
    return arr


def check_pd(pd: ArrayLike, field: str = "pd") -> FloatArray:
    return checked_array(pd, field, 0.0, 1.0, low_open=True, high_open=True)


def check_lgd(lgd: ArrayLike, field: str = "lgd") -> FloatArray:
    return checked_array(lgd, field, 0.0, 1.0)


def check_ead(ead: ArrayLike, field: str = "ead") -> FloatArray:
    return checked_array(ead, field, 0.0, np.inf, high_open=True)


def check_rate(rate: ArrayLike, field: str) -> FloatArray:
    return checked_array(rate, field, -1.0, 10.0)


MAX_DRAWN_PER_EAD = 100.0  # a line drawn on average 100x its EAD is a data error


def check_drawn_per_ead(value: ArrayLike, field: str = "drawn_per_ead") -> FloatArray:
    """Expected drawn balance / EAD: positive (a line that is never drawn earns nothing)."""
    return checked_array(value, field, 0.0, MAX_DRAWN_PER_EAD, low_open=True)


def _check_formula(formula: str, maturity_years: float, confidence: float, pd_floor: float) -> None:
    if formula not in ("retail", "corporate"):
        raise InputError(f"formula must be 'retail' or 'corporate', got {formula!r}", field="formula")
    checked_array(maturity_years, "maturity_years", 1.0, 5.0)
    checked_array(confidence, "confidence", 0.5, 1.0, low_open=True, high_open=True)
    checked_array(pd_floor, "pd_floor", 0.0, 0.1, low_open=True, high_open=True)


# --- unchecked kernels: callers have validated (and broadcast) their inputs once ----------
# Written for the one-applicant hot path too: each numpy call on a tiny array costs ~1 µs,
# so constants are precomputed and no call is spent on anything but the maths.

_RETAIL_DENOMINATOR = -math.expm1(-_RETAIL_K)  # 1 − e^(−35)
_CORPORATE_DENOMINATOR = -math.expm1(-_CORPORATE_K)  # 1 − e^(−50)
_RETAIL_SLOPE = (0.16 - 0.03) / _RETAIL_DENOMINATOR
_CORPORATE_SLOPE = (0.24 - 0.12) / _CORPORATE_DENOMINATOR


@lru_cache(maxsize=16)
def _g(confidence: float) -> float:
    """G(confidence), the standard normal quantile (3.090232306 at 99.9 %)."""
    return float(ndtri(confidence))


def _correlation(pd_floored: FloatArray, formula: str) -> FloatArray:
    # R = lo·f + hi·(1 − f) = hi + (hi − lo)/(1 − e^(−k)) · (e^(−k·PD) − 1),
    # with f = (1 − e^(−k·PD)) / (1 − e^(−k)): two fewer array passes than the literal form.
    if formula == "retail":
        return 0.16 + _RETAIL_SLOPE * np.expm1(pd_floored * -_RETAIL_K)
    return 0.24 + _CORPORATE_SLOPE * np.expm1(pd_floored * -_CORPORATE_K)


def _capital(
    pd: FloatArray,
    lgd: FloatArray,
    formula: str,
    maturity_years: float,
    confidence: float,
    pd_floor: float,
) -> tuple[FloatArray, FloatArray]:
    """(K, R) per unit of EAD for validated inputs."""
    p = np.maximum(pd, pd_floor)
    r = _correlation(p, formula)
    conditional_pd = ndtr((ndtri(p) + np.sqrt(r) * _g(confidence)) / np.sqrt(1.0 - r))
    k = lgd * (conditional_pd - p)
    if formula == "corporate":
        b = (0.11852 - 0.05478 * np.log(p)) ** 2
        k = k * (1.0 + (maturity_years - 2.5) * b) / (1.0 - 1.5 * b)
    # K > 0 whenever LGD > 0: the conditional PD exceeds PD for any R > 0 (R >= 0.03 here).
    return k, r


def _required_rate(
    el_rate: FloatArray,
    k: FloatArray,
    funding: float,
    opex: float,
    hurdle: float,
    fee: float,
    drawn_per_ead: FloatArray | float | None = None,
) -> FloatArray:
    """The rate whose RAROC is the hurdle, with ``el_rate`` = PD·LGD.

    Interest and funding accrue on the drawn balance D, EL, capital, opex and fees on EAD
    (DESIGN.md); with u = D / EAD: u·(rate − funding) = PD·LGD + opex − fees + hurdle·K,
    so rate = funding + (PD·LGD + opex − fees + hurdle·K) / u. ``None`` means u = 1 (the
    whole exposure earns interest): funding + opex + PD·LGD + hurdle·K − fees.
    """
    if drawn_per_ead is None:
        return el_rate + hurdle * k + (funding + opex - fee)
    return funding + (el_rate + hurdle * k + (opex - fee)) / drawn_per_ead


def _net_margin(
    rate: FloatArray,
    el_rate: FloatArray,
    funding: float,
    opex: float,
    fee: float,
    drawn_per_ead: FloatArray | float | None = None,
) -> FloatArray:
    """Net income per unit of EAD per year: u·(rate − funding) + fees − opex − PD·LGD, with
    u = expected drawn balance / EAD (``None``: u = 1)."""
    if drawn_per_ead is None:
        return rate - el_rate + (fee - funding - opex)
    return drawn_per_ead * (rate - funding) + (fee - opex) - el_rate


def _raroc_of_margin(net: FloatArray, k: FloatArray) -> FloatArray:
    """net / K for same-shape arrays. No capital (K below 1e-12 per unit, i.e. LGD ~ 0) gives
    +inf for a margin >= 0 and -inf for a loss, never a division or overflow warning."""
    out = np.full(np.shape(net), np.inf)
    np.copysign(out, net, out=out)
    return np.divide(net, k, out=out, where=k > _NO_CAPITAL)


# --- public, checked API ------------------------------------------------------------------


def expected_loss(pd: ArrayLike, lgd: ArrayLike, ead: ArrayLike) -> FloatArray:
    """EL = PD × LGD × EAD, in the unit of ``ead`` (minor units when EAD is)."""
    return check_pd(pd) * check_lgd(lgd) * check_ead(ead)


def irb_correlation_retail(pd: ArrayLike, pd_floor: float = PD_FLOOR) -> FloatArray:
    """Basel asset correlation R for other retail exposures (PD floored first)."""
    return _correlation(np.maximum(check_pd(pd), pd_floor), "retail")


def irb_correlation_corporate(pd: ArrayLike, pd_floor: float = PD_FLOOR) -> FloatArray:
    """Basel asset correlation R for corporate exposures (no SME size adjustment)."""
    return _correlation(np.maximum(check_pd(pd), pd_floor), "corporate")


def maturity_adjustment_b(pd: ArrayLike, pd_floor: float = PD_FLOOR) -> FloatArray:
    """Basel maturity adjustment b = (0.11852 − 0.05478·ln PD)²."""
    return (0.11852 - 0.05478 * np.log(np.maximum(check_pd(pd), pd_floor))) ** 2


def irb_capital(
    pd: ArrayLike,
    lgd: ArrayLike,
    formula: CapitalFormula = "retail",
    maturity_years: float = 1.0,
    *,
    confidence: float = CONFIDENCE,
    pd_floor: float = PD_FLOOR,
) -> tuple[FloatArray, FloatArray]:
    """(K, R): capital per unit of EAD and the asset correlation used for it."""
    _check_formula(formula, maturity_years, confidence, pd_floor)
    return _capital(check_pd(pd), check_lgd(lgd), formula, maturity_years, confidence, pd_floor)


def capital_k(
    pd: ArrayLike,
    lgd: ArrayLike,
    formula: CapitalFormula = "retail",
    maturity_years: float = 1.0,
    *,
    confidence: float = CONFIDENCE,
    pd_floor: float = PD_FLOOR,
) -> FloatArray:
    """Basel IRB capital requirement K per unit of EAD (unexpected loss at ``confidence``)."""
    return irb_capital(pd, lgd, formula, maturity_years, confidence=confidence, pd_floor=pd_floor)[0]


def economic_capital(
    pd: ArrayLike,
    lgd: ArrayLike,
    ead: ArrayLike,
    formula: CapitalFormula = "retail",
    maturity_years: float = 1.0,
    *,
    confidence: float = CONFIDENCE,
    pd_floor: float = PD_FLOOR,
) -> FloatArray:
    """EC = K × EAD, in the unit of ``ead``."""
    k = capital_k(pd, lgd, formula, maturity_years, confidence=confidence, pd_floor=pd_floor)
    return k * check_ead(ead)


def raroc(
    rate: ArrayLike,
    pd: ArrayLike,
    lgd: ArrayLike,
    k: ArrayLike,
    funding: float,
    opex: float,
    fee_rate: float = 0.0,
    *,
    drawn_per_ead: ArrayLike | None = None,
) -> FloatArray:
    """Risk-adjusted return on capital: (u·(rate − funding) + fees − opex − PD·LGD) / K.

    Per unit of EAD per year, so EAD cancels; u = expected drawn balance / EAD (None: 1).
    ``k`` = 0 (no capital, LGD = 0) gives ±inf.
    """
    u = np.float64(1.0) if drawn_per_ead is None else check_drawn_per_ead(drawn_per_ead)
    r, p, lg, kk, uu = np.broadcast_arrays(
        check_rate(rate, "rate"), check_pd(pd), check_lgd(lgd), checked_array(k, "k", 0.0, 1.0), u
    )
    funding_, opex_, fee_ = (
        float(check_rate(x, n)) for x, n in ((funding, "funding"), (opex, "opex"), (fee_rate, "fee_rate"))
    )
    net = _net_margin(r, p * lg, funding_, opex_, fee_, None if drawn_per_ead is None else uu)
    return _raroc_of_margin(net, kk)


def required_rate(
    pd: ArrayLike,
    lgd: ArrayLike,
    k: ArrayLike,
    funding: float,
    opex: float,
    hurdle: float,
    fee_rate: float = 0.0,
    *,
    drawn_per_ead: ArrayLike | None = None,
) -> FloatArray:
    """The lowest annual rate whose RAROC reaches ``hurdle`` (before the policy floor and cap);
    ``drawn_per_ead`` = expected drawn balance / EAD (None: the whole EAD earns interest)."""
    return _required_rate(
        check_pd(pd) * check_lgd(lgd),
        checked_array(k, "k", 0.0, 1.0),
        float(check_rate(funding, "funding")),
        float(check_rate(opex, "opex")),
        float(checked_array(hurdle, "hurdle", 0.0, 10.0)),
        float(check_rate(fee_rate, "fee_rate")),
        None if drawn_per_ead is None else check_drawn_per_ead(drawn_per_ead),
    )
