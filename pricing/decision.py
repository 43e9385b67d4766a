"""The decision: knock-outs, acceptance by grade, line, price, and approve / refer / decline.

``decide(inputs, policy)`` takes arrays (one applicant = arrays of length 1) and returns a
``DecisionBatch`` of arrays; it uses numpy only (no pandas), validates every input once and
then runs the unchecked kernels, so the online API and a million-row replay run the same
code. Order of the rules (DESIGN.md, "The credit maths"):

1. Knock-outs (``pricing.knockouts``) decide before any model output is looked at.
2. Grade 11 (in default) or a grade worse than ``grades.acceptable_max_grade`` -> decline.
3. Line = min(tier cap, asset cap, m × income, requested), rounded down; the asset cap is
   what the collateral carries: (conversion-rate-weighted collateral − the grade's haircut
   add-on × assets) / the regime's initial-margin ratio (``pricing.limits``).
4. Rate = funding + (opex + PD·LGD + hurdle·K) / u, floored and capped, with u = expected
   drawn balance / EAD: interest income and funding cost accrue on the drawn balance, EL,
   capital and opex on EAD (DESIGN.md). If the required rate is above the cap, RAROC would
   be below the hurdle at every permitted rate -> decline (DC_UNPROFITABLE). A smaller line
   does not help: u does not depend on the line's size.
5. A line below ``limits.min_line_minor`` -> decline; a line below ``refer_below_share`` of
   the request -> refer (a person decides whether the customer still wants it); an
   unreviewed PEP -> refer.

Exposure at onboarding: nothing is drawn yet, so EAD = drawn + CCF × (limit − drawn) =
CCF × credit limit, with the CCF from the models room measured from the application date
(EAD / limit; above 1 when interest accrues on a fully drawn line). A line in use passes
``drawn_minor``. The expected drawn balance is drawn + ``rates.drawn_share`` × (limit −
drawn). EAD, EL, EC and the expected interest are float64 minor units of the policy's
currency: they are expectations, not ledger money. The policy's regime and currency go
into every record; ``decide(..., currency=...)`` refuses a policy in another currency. A declined
applicant gets credit_limit 0, hence EAD = EL = EC = 0; rate, K, R and RAROC stay filled
in (per unit of exposure), so an analyst sees what the price would have been.

Public API: ``DecisionInputs``, ``DecisionInputs.from_mapping``, ``decide``, ``DecisionBatch``,
``quote`` (pricing of a given EAD for the what-if CLI), ``OUTCOMES``, ``INPUT_FIELDS``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from numpy.typing import ArrayLike

from creditdesk.errors import InputError
from pricing.formulas import (
    _capital,
    _net_margin,
    _raroc_of_margin,
    _required_rate,
    check_ead,
    check_lgd,
    check_pd,
    checked_array,
)
from pricing.knockouts import MAX_AGE_INPUT, MAX_HISTORY_DAYS, _related_party_hit, check_flag
from pricing.knockouts import _hits as _knockout_hits
from pricing.limits import MAX_AMOUNT_MINOR, _caps, _line_minor, check_grade, check_minor
from pricing.policy import DEFAULT_GRADE, Policy
from pricing.reasons import (
    BIT,
    DECLINE_BITS,
    REASONS,
    REFER_BITS,
    codes_from_mask,
    combine_hits,
    merge_reasons,
    reason_dicts,
)

if TYPE_CHECKING:
    import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

OUTCOMES = ("approve", "refer", "decline")
APPROVE, REFER, DECLINE = 0, 1, 2
MAX_CCF = 1.25  # = models.ead.MAX_CCF: EAD / limit may pass 1 by the interest accrued to default
MAX_BATCH = 50_000_000  # a limit on everything: ~5 GB of arrays; split bigger replays
_OUTCOME_LABELS = np.array(OUTCOMES, dtype=object)


@dataclass(frozen=True)
class DecisionInputs:
    """What ``decide`` needs per applicant, as equal-length arrays (scalars broadcast).

    Model outputs: ``pd_12m`` in (0, 1), ``lgd`` and ``ccf`` in [0, 1], ``grade`` 1..11.
    Money: int minor units. Knock-out fields: ``age`` (years), ``trading_history_days``,
    and the booleans.
    """

    pd_12m: ArrayLike
    lgd: ArrayLike
    ccf: ArrayLike
    grade: ArrayLike
    requested_line_minor: ArrayLike
    platform_assets_minor: ArrayLike
    annual_income_minor: ArrayLike
    age: ArrayLike
    identity_verified: ArrayLike
    is_pep: ArrayLike
    pep_reviewed: ArrayLike
    sanctions_hit: ArrayLike
    trading_history_days: ArrayLike
    bureau_default_24m: ArrayLike
    # Optional (issue 13): a line in use, the cn admission inputs, the holdings' collateral.
    drawn_minor: ArrayLike = 0
    avg_daily_assets_20d_minor: ArrayLike | None = None  # None: platform assets stand in
    related_party: ArrayLike = False
    collateral_value_minor: ArrayLike | None = None  # Σ holding × conversion rate; None: policy rate

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | pd.DataFrame) -> DecisionInputs:
        """From a dict of arrays or a DataFrame with these column names (extra ones ignored;
        the optional ones are used when present)."""
        missing = [name for name in INPUT_FIELDS if name not in data]
        if missing:
            raise InputError(f"decision inputs: missing column(s) {', '.join(missing)}", field=missing[0])
        present = [name for name in (*INPUT_FIELDS, *OPTIONAL_FIELDS) if name in data]
        return cls(**{name: np.asarray(data[name]) for name in present})


OPTIONAL_FIELDS: tuple[str, ...] = (
    "drawn_minor",
    "avg_daily_assets_20d_minor",
    "related_party",
    "collateral_value_minor",
)
INPUT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(DecisionInputs) if f.name not in OPTIONAL_FIELDS)


@dataclass(slots=True)
class DecisionBatch:
    """Decisions for n applicants, column-wise (every array has length n). Treat as read-only.

    ``outcome_code`` indexes ``OUTCOMES``; ``reason_mask`` holds the policy reason bits
    (``pricing.reasons``). Money is minor units of ``policy.currency``:
    ``credit_limit_minor`` int64 (0 when declined); EAD, the expected drawn balance, EL, EC
    and expected interest / net income (per year) are float64 expectations. Rates, RAROC, K
    and R are per unit of EAD per year. ``record(i, model_reasons)`` gives one JSON-ready
    decision, with the policy's regime and currency.
    """

    outcome_code: npt.NDArray[np.int8]
    grade: IntArray
    pd_12m: FloatArray
    lgd: FloatArray
    ccf: FloatArray
    requested_line_minor: IntArray
    platform_assets_minor: IntArray
    annual_income_minor: IntArray
    credit_limit_minor: IntArray
    max_leverage: FloatArray
    haircut_addon: FloatArray
    drawn_minor: IntArray
    ead_minor: FloatArray
    expected_drawn_minor: FloatArray
    expected_loss_minor: FloatArray
    economic_capital_minor: FloatArray
    expected_interest_minor: FloatArray
    expected_net_income_minor: FloatArray
    annual_rate: FloatArray
    required_rate: FloatArray
    raroc: FloatArray
    capital_k: FloatArray
    correlation: FloatArray
    reason_mask: npt.NDArray[np.uint32]
    policy: Policy
    collateral_value_minor: IntArray | None = None

    def __len__(self) -> int:
        return int(self.outcome_code.shape[0])

    @property
    def outcome(self) -> npt.NDArray[np.object_]:
        """Outcome labels ("approve" / "refer" / "decline"), built on each access: for a
        large batch take it once, or compare ``outcome_code`` with APPROVE/REFER/DECLINE."""
        return _OUTCOME_LABELS[self.outcome_code]

    @property
    def policy_version(self) -> str:
        return self.policy.version

    @property
    def policy_hash(self) -> str:
        return self.policy.policy_hash

    @property
    def regime(self) -> str:
        return self.policy.regime

    @property
    def currency(self) -> str:
        return self.policy.currency

    def binding_cap(self, i: int) -> int:
        """Which cap set applicant ``i``'s line: 0 tier, 1 assets, 2 income, 3 requested."""
        caps = _caps(
            self.grade[i : i + 1],
            self.platform_assets_minor[i : i + 1],
            self.annual_income_minor[i : i + 1],
            self.requested_line_minor[i : i + 1],
            self.policy,
            None if self.collateral_value_minor is None else self.collateral_value_minor[i : i + 1],
        )
        return int(caps[:, 0].argmin())

    def reason_codes(self, i: int) -> list[str]:
        """Policy reason codes that explain applicant ``i``'s outcome (knock-outs first)."""
        return codes_from_mask(int(self.reason_mask[i]), OUTCOMES[self.outcome_code[i]])

    def policy_reasons(self, i: int) -> list[dict[str, Any]]:
        """Policy reasons of applicant ``i`` as dicts (code, feature, text, contribution=None)."""
        mask = int(self.reason_mask[i])
        binding = self.binding_cap(i) if mask & BIT["RF_LINE_CUT"] else 3
        return reason_dicts(mask, self.policy, OUTCOMES[self.outcome_code[i]], binding)

    def record(self, i: int, model_reasons: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """One decision as a JSON-ready dict (a non-finite RAROC becomes None).

        ``reasons`` = policy reasons first, then ``model_reasons`` (caller's order, largest
        adverse first), at most four in all.
        """
        out: dict[str, Any] = {"outcome": OUTCOMES[self.outcome_code[i]]}
        for name in _NUMERIC_COLUMNS:
            value = getattr(self, name).item(i)
            out[name] = value if not isinstance(value, float) or math.isfinite(value) else None
        out["reason_codes"] = self.reason_codes(i)
        out["reasons"] = merge_reasons(self.policy_reasons(i), model_reasons)
        out["policy_version"] = self.policy_version
        out["policy_hash"] = self.policy_hash
        out["regime"] = self.regime
        out["currency"] = self.currency
        return out

    def columns(self) -> dict[str, np.ndarray]:
        """All per-applicant arrays by name, plus the ``outcome`` labels."""
        cols: dict[str, np.ndarray] = {"outcome": self.outcome}
        cols.update({name: getattr(self, name) for name in _NUMERIC_COLUMNS})
        return cols

    def to_frame(self) -> pd.DataFrame:
        """A DataFrame (pandas imported here, off the hot path) for reports and simulate."""
        import pandas as pd

        frame = pd.DataFrame(self.columns())
        frame["outcome"] = frame["outcome"].astype("string")
        return frame


_NUMERIC_COLUMNS: tuple[str, ...] = tuple(
    f.name
    for f in fields(DecisionBatch)
    if f.name not in ("outcome_code", "policy", "collateral_value_minor")
)
# Outcome of every possible reason mask (13 bits -> 8,192 entries): any decline reason
# declines, else any refer reason refers, else approve. One array take on the hot path.
_OUTCOME_BY_MASK = np.array(
    [DECLINE if m & DECLINE_BITS else REFER if m & REFER_BITS else APPROVE for m in range(1 << len(REASONS))],
    dtype=np.int8,
)


# Fast-path bounds, one row per field (closed intervals; PD's open (0, 1) via nextafter).
# Integers are compared as float64: exact up to 2**53, far above MAX_AMOUNT_MINOR.
_BOUNDS: dict[str, tuple[float, float]] = {
    "pd_12m": (float(np.nextafter(0.0, 1.0)), float(np.nextafter(1.0, 0.0))),
    "lgd": (0.0, 1.0),
    "ccf": (0.0, MAX_CCF),
    "age": (0.0, MAX_AGE_INPUT),
    "trading_history_days": (0.0, MAX_HISTORY_DAYS),
    "grade": (1, DEFAULT_GRADE),
    "requested_line_minor": (0, MAX_AMOUNT_MINOR),
    "platform_assets_minor": (0, MAX_AMOUNT_MINOR),
    "annual_income_minor": (0, MAX_AMOUNT_MINOR),
}
_LOW = np.array([[lo] for lo, _ in _BOUNDS.values()])
_HIGH = np.array([[hi] for _, hi in _BOUNDS.values()])
_INT_FIELDS = ("grade", "requested_line_minor", "platform_assets_minor", "annual_income_minor")
_FLAG_FIELDS = ("identity_verified", "is_pep", "pep_reviewed", "sanctions_hit", "bureau_default_24m")
# dtype kinds the fast path takes as they are: bools for flags, integers for grade and money.
_FAST_KINDS = {name: "b" for name in _FLAG_FIELDS} | {name: "iu" for name in _INT_FIELDS}
_FAST_KINDS |= {name: "biuf" for name in _BOUNDS if name not in _INT_FIELDS}


def _all_valid(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """Fast path: the rules of the field-by-field checks as one stacked comparison.

    Returns None when anything is unusual (other dtypes or shapes, or a rule broken); the
    slow path then converts, broadcasts, or raises the InputError that names the field.
    """
    shape = raw["pd_12m"].shape
    if len(shape) != 1 or shape[0] > MAX_BATCH:
        return None
    for name, arr in raw.items():
        if arr.shape != shape or arr.dtype.kind not in _FAST_KINDS[name]:
            return None
    try:
        numbers = np.array([raw[name] for name in _BOUNDS], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if not ((numbers >= _LOW) & (numbers <= _HIGH)).all():
        return None
    out = dict(zip(_BOUNDS, numbers, strict=True))
    out.update({name: raw[name].astype(np.int64, copy=False) for name in _INT_FIELDS})
    out.update({name: raw[name] for name in _FLAG_FIELDS})
    return out


def _validated(inputs: DecisionInputs) -> dict[str, np.ndarray]:
    raw = {name: np.asarray(getattr(inputs, name)) for name in INPUT_FIELDS}
    fast = _all_valid(raw)
    if fast is not None:
        return fast
    arrays: dict[str, np.ndarray] = {
        "pd_12m": check_pd(raw["pd_12m"], "pd_12m"),
        "lgd": check_lgd(raw["lgd"]),
        "ccf": checked_array(raw["ccf"], "ccf", 0.0, MAX_CCF),
        "grade": check_grade(raw["grade"]),
        "requested_line_minor": check_minor(raw["requested_line_minor"], "requested_line_minor"),
        "platform_assets_minor": check_minor(raw["platform_assets_minor"], "platform_assets_minor"),
        "annual_income_minor": check_minor(raw["annual_income_minor"], "annual_income_minor"),
        "age": checked_array(raw["age"], "age", 0, MAX_AGE_INPUT),
        "trading_history_days": checked_array(
            raw["trading_history_days"], "trading_history_days", 0, MAX_HISTORY_DAYS
        ),
    }
    arrays.update({name: check_flag(raw[name], name) for name in _FLAG_FIELDS})
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        lengths = {name: a.shape for name, a in arrays.items() if a.ndim}
        raise InputError(f"decision inputs: arrays of different lengths {lengths}", field="inputs") from None
    if len(shape) > 1:
        raise InputError(f"decision inputs must be one-dimensional, got shape {shape}", field="inputs")
    n = shape[0] if shape else 1
    if n > MAX_BATCH:
        raise InputError(
            f"decision inputs: {n} applicants exceed the batch limit {MAX_BATCH}", field="inputs"
        )
    return {name: np.broadcast_to(a, (n,)) for name, a in arrays.items()}


def _optional(inputs: DecisionInputs, n: int) -> dict[str, np.ndarray | None]:
    """The optional inputs, checked and broadcast to n (None stays None: a documented default)."""
    out: dict[str, np.ndarray | None] = {
        "drawn_minor": check_minor(inputs.drawn_minor, "drawn_minor"),
        "related_party": check_flag(inputs.related_party, "related_party"),
    }
    for name in ("avg_daily_assets_20d_minor", "collateral_value_minor"):
        value = getattr(inputs, name)
        out[name] = None if value is None else check_minor(value, name)
    for name, arr in out.items():
        if arr is None:
            continue
        try:
            out[name] = np.broadcast_to(arr, (n,))
        except ValueError:
            raise InputError(
                f"decision inputs: {name} has shape {arr.shape}, expected ({n},)", field=name
            ) from None
    return out


def _drawn_per_ead(
    drawn: IntArray, line: IntArray, ccf: FloatArray, policy: Policy
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(EAD, expected drawn balance, their ratio u) per applicant, for the line as sized.

    EAD = drawn + CCF × (limit − drawn) (a new line: CCF × limit); expected drawn balance =
    drawn + drawn_share × (limit − drawn): interest and funding accrue on it. Where the line
    is 0 (a decline), u is that of a new line, drawn_share / CCF, so the rate shown is the
    one the applicant would have been offered; with no exposure at all u = 1.
    """
    undrawn = np.maximum(line - drawn, 0)
    ead = drawn + ccf * undrawn
    expected = drawn + policy.rates.drawn_share * undrawn
    unit = np.divide(policy.rates.drawn_share, ccf, out=np.ones_like(ccf), where=ccf > _TINY_CCF)
    u = np.divide(expected, ead, out=unit, where=ead > _TINY_CCF * line)
    return ead, expected, np.clip(u, 1.0 / _MAX_U, _MAX_U, out=u)


_TINY_CCF = 1e-9  # below this the exposure is nil: u falls back to 1 (no overflow)
_MAX_U = 1e6


def _price(
    pd_12m: FloatArray, lgd: FloatArray, policy: Policy, drawn_per_ead: FloatArray | None = None
) -> tuple[FloatArray, ...]:
    """Per unit of EAD per year: (PD·LGD, K, R, required rate, quoted rate, net margin at
    the quoted rate, RAROC at the quoted rate). ``drawn_per_ead`` = expected drawn balance /
    EAD (None: 1, the whole exposure earns interest and costs funding)."""
    cap, rates = policy.capital, policy.rates
    k, r = _capital(pd_12m, lgd, cap.formula, cap.maturity_years, cap.confidence, cap.pd_floor)
    funding, opex, fee = rates.funding_rate, rates.opex_rate, rates.fee_rate
    el_rate = pd_12m * lgd
    required = _required_rate(el_rate, k, funding, opex, rates.hurdle_raroc, fee, drawn_per_ead)
    rate = np.minimum(np.maximum(required, rates.rate_floor), rates.rate_cap)
    net = _net_margin(rate, el_rate, funding, opex, fee, drawn_per_ead)
    return el_rate, k, r, required, rate, net, _raroc_of_margin(net, k)


def decide(
    inputs: DecisionInputs | Mapping[str, Any], policy: Policy, *, currency: str | None = None
) -> DecisionBatch:
    """Decide for every applicant in ``inputs`` under ``policy`` (see the module docstring).

    ``currency``: the currency of the money in ``inputs`` (the facility's); a policy written
    in another currency is refused (InputError, field ``currency``), since its thresholds
    and lines would be read in the wrong money. Raises InputError naming the field for any
    bad input (PD outside (0, 1), NaN, negative money, grade outside 1..11, non-boolean
    flags, mismatched lengths); nothing is decided for a batch with one bad row, so a
    replay never silently skips applicants.
    """
    if currency is not None:
        policy.check_currency(currency)
    if not isinstance(inputs, DecisionInputs):
        inputs = DecisionInputs.from_mapping(inputs)
    a = _validated(inputs)
    pd_12m, lgd, grade, requested = a["pd_12m"], a["lgd"], a["grade"], a["requested_line_minor"]
    assets, income = a["platform_assets_minor"], a["annual_income_minor"]
    limits, rates, tables = policy.limits, policy.rates, policy.tables
    opt = _optional(inputs, pd_12m.shape[0])
    drawn, collateral, related = opt["drawn_minor"], opt["collateral_value_minor"], opt["related_party"]
    assert drawn is not None and related is not None

    line = _line_minor(grade, assets, income, requested, policy, collateral)
    _ead_line, _drawn_line, u = _drawn_per_ead(drawn, line, a["ccf"], policy)

    el_rate, k, r, required, rate, net, raroc = _price(pd_12m, lgd, policy, u)

    in_default = grade == DEFAULT_GRADE
    acceptable = tables.acceptable[grade]
    hits = _knockout_hits(
        a["age"],
        a["identity_verified"],
        a["is_pep"],
        a["pep_reviewed"],
        a["sanctions_hit"],
        a["trading_history_days"],
        assets,
        a["bureau_default_24m"],
        policy,
        opt["avg_daily_assets_20d_minor"],
    )
    hits += [  # in the order of their bits, after the knock-outs (pricing.reasons)
        in_default,  # DC_DEFAULT
        ~(acceptable | in_default),  # DC_GRADE
        required > rates.rate_cap,  # DC_UNPROFITABLE
        # Line rules only for acceptable grades: an unacceptable grade's small (or zero)
        # tier line is a consequence of the grade, not a second reason.
        acceptable & (line < limits.min_line_minor),  # DC_LINE_MIN
        acceptable & (line < limits.refer_below_share * requested),  # RF_LINE_CUT
        _related_party_hit(related, policy),  # KO_RELATED_PARTY (bit 12)
    ]
    mask = combine_hits(hits)
    outcome = _OUTCOME_BY_MASK[mask]
    declined = outcome == DECLINE

    credit_limit = np.where(declined, 0, line)
    ead, expected_drawn, _u = _drawn_per_ead(np.where(declined, 0, drawn), credit_limit, a["ccf"], policy)
    return DecisionBatch(
        outcome_code=outcome,
        grade=grade,
        pd_12m=pd_12m,
        lgd=lgd,
        ccf=a["ccf"],
        requested_line_minor=requested,
        platform_assets_minor=assets,
        annual_income_minor=income,
        credit_limit_minor=credit_limit,
        max_leverage=np.where(declined, 0.0, tables.max_leverage[grade]),
        haircut_addon=tables.haircut_addon[grade],
        drawn_minor=drawn,
        ead_minor=ead,
        expected_drawn_minor=expected_drawn,
        expected_loss_minor=el_rate * ead,
        economic_capital_minor=k * ead,
        expected_interest_minor=rate * expected_drawn,
        expected_net_income_minor=net * ead,
        annual_rate=rate,
        required_rate=required,
        raroc=raroc,
        capital_k=k,
        correlation=r,
        reason_mask=mask,
        policy=policy,
        collateral_value_minor=collateral,
    )


def quote(
    pd_12m: ArrayLike,
    lgd: ArrayLike,
    ead: ArrayLike,
    policy: Policy,
    grade: ArrayLike | None = None,
    *,
    drawn: ArrayLike | None = None,
) -> dict[str, Any]:
    """What-if pricing of a given exposure (``creditdesk price``): no knock-outs, no line sizing.

    Outcome is decline when the required rate exceeds the cap (or, with ``grade``, when the
    grade is not acceptable), else approve. EL and EC are in the unit of ``ead``; ``drawn``
    is the expected drawn balance that earns interest and costs funding (None: all of EAD).
    Returns float arrays keyed by name, ``outcome`` labels and per-applicant ``reasons`` codes.
    """
    e = check_ead(ead)
    d = e if drawn is None else check_ead(drawn, "drawn")
    p, lg, e, d = np.broadcast_arrays(check_pd(pd_12m, "pd"), check_lgd(lgd), e, d)
    g = None if grade is None else np.broadcast_to(check_grade(grade), p.shape)
    p, lg, e, d = np.atleast_1d(p, lg, e, d)
    u = None if drawn is None else np.divide(d, e, out=np.ones_like(e), where=e > 0)
    el_rate, k, r, required, rate, _net, raroc = _price(p, lg, policy, u)
    hits = [np.zeros(p.shape, dtype=bool)] * 2 + [required > policy.rates.rate_cap]
    if g is not None:
        g = np.atleast_1d(g)
        in_default = g == DEFAULT_GRADE
        hits = [in_default, ~(policy.tables.acceptable[g] | in_default), hits[2]]
    mask = combine_hits(hits, first_bit=BIT["DC_DEFAULT"].bit_length() - 1)
    return {
        "expected_interest": rate * d,
        "expected_loss": el_rate * e,
        "correlation": r,
        "capital_k": k,
        "economic_capital": k * e,
        "required_rate": required,
        "annual_rate": rate,
        "raroc": raroc,
        "outcome": _OUTCOME_LABELS[_OUTCOME_BY_MASK[mask]],
        "reasons": [codes_from_mask(int(m), "decline") for m in mask],
    }
