"""The versioned pricing and decision policy: one YAML file, validated on load.

Why a file and not code: the risk committee changes hurdle rates, caps and tiers without a
release, and every decision must say exactly which policy made it. So each decision records
``policy.version`` (bumped by whoever edits the file) and ``policy.policy_hash`` (sha256 of
the file's bytes, so an edit without a version bump is still visible).

A policy that would produce nonsense never loads: unknown keys are refused (a typo such as
``rate_caps`` would otherwise silently fall back to a default), rates must lie in range,
the floor must not exceed the cap, and the grade -> tier table must be monotone (a worse
grade never gets more leverage or a larger line, nor a smaller haircut add-on).

Public API: ``Policy``, ``load_policy(path=None)``, ``policy_from_mapping(data)``,
``policy_for_regime(regime)``, ``DEFAULT_POLICY_PATH`` (the ``cn`` policy, CNY fen),
``POLICY_PATHS``, ``REGIME_CURRENCY``, ``DEFAULT_GRADE``, ``N_GRADES``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from creditdesk.errors import InputError

POLICY_DIR = Path(__file__).resolve().parent / "policies"
DEFAULT_POLICY_PATH = POLICY_DIR / "default.yaml"
"""The default policy: regime ``cn``, money in CNY fen (facilities default to CNY)."""
POLICY_PATHS: dict[str, Path] = {"cn": DEFAULT_POLICY_PATH, "us": POLICY_DIR / "us.yaml"}

N_GRADES = 10
"""Performing grades of the master scale (models room): 1 = best .. 10 = worst."""
DEFAULT_GRADE = 11
"""Grade 11 = in default; never acceptable, has no tier."""

_MAX_POLICY_BYTES = 1_000_000  # a policy is a page of YAML; refuse anything absurd before parsing


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CapitalPolicy(_Strict):
    """Which Basel IRB formula prices capital, and its parameters."""

    formula: Literal["retail", "corporate"] = "retail"
    maturity_years: float = Field(default=1.0, ge=1.0, le=5.0, description="corporate formula only")
    confidence: float = Field(default=0.999, gt=0.5, lt=1.0)
    pd_floor: float = Field(default=0.0005, gt=0.0, lt=0.1)


class RatePolicy(_Strict):
    """Annual rates as fractions of exposure (0.06 = 6 %)."""

    funding_rate: float = Field(ge=0.0, le=1.0)
    opex_rate: float = Field(ge=0.0, le=1.0)
    fee_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    hurdle_raroc: float = Field(gt=0.0, le=5.0)
    rate_floor: float = Field(ge=0.0, le=1.0)
    rate_cap: float = Field(gt=0.0, le=1.0)
    drawn_share: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="expected average drawn balance over the year as a share of the line: "
        "interest income and funding cost accrue on it (EL and capital on EAD)",
    )

    @model_validator(mode="after")
    def _floor_below_cap(self) -> RatePolicy:
        if self.rate_floor > self.rate_cap:
            raise ValueError(f"rate_floor ({self.rate_floor}) must not exceed rate_cap ({self.rate_cap})")
        return self


class LimitPolicy(_Strict):
    """How a line is sized: collateral and initial margin, income, rounding, minimum, refer share.

    Asset cap = asset_multiple × max(collateral − haircut add-on × assets, 0) / initial margin
    ratio, where collateral = Σ holding × conversion rate (an input; ``conversion_rate`` ×
    assets when the holdings' rates are not known). cn: financing margin ratio 100 % and
    conversion rates ≤ 70 % -> the usable line is ≤ ~0.7 × assets; us (Reg T): 50 % initial
    margin on a loan value of 50 % -> line ≤ 1 × equity.
    """

    asset_multiple: float = Field(default=1.0, gt=0.0, le=10.0)
    conversion_rate: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="collateral value per unit of assets when holdings are unknown",
    )
    initial_margin_ratio: float = Field(
        default=1.0, ge=0.1, le=2.0, description="margin required per unit financed (cn 1.0, us Reg T 0.5)"
    )
    income_multiple: float = Field(gt=0.0, le=50.0)
    line_unit_minor: int = Field(default=10_000, gt=0)
    min_line_minor: int = Field(default=0, ge=0)
    refer_below_share: float = Field(default=0.5, ge=0.0, le=1.0)


class Tier(_Strict):
    """What one master-scale grade may get."""

    grade: int = Field(ge=1, le=N_GRADES)
    max_leverage: float = Field(ge=0.0, le=10.0, description="loan / own equity")
    max_line_minor: int = Field(ge=0)
    haircut_addon: float = Field(ge=0.0, lt=1.0, description="added to instrument haircuts by margin")


class GradePolicy(_Strict):
    """Grade -> tier table (every performing grade exactly once) and the acceptance cut-off."""

    acceptable_max_grade: int = Field(ge=0, le=N_GRADES, description="0 = accept nobody")
    tiers: list[Tier]

    @field_validator("tiers")
    @classmethod
    def _complete_and_monotone(cls, tiers: list[Tier]) -> list[Tier]:
        grades = [t.grade for t in tiers]
        expected = list(range(1, N_GRADES + 1))
        if sorted(grades) != expected:
            raise ValueError(f"must list each grade 1..{N_GRADES} exactly once, got grades {grades}")
        ordered = sorted(tiers, key=lambda t: t.grade)
        for better, worse in itertools.pairwise(ordered):
            for key, sign in (("max_leverage", 1), ("max_line_minor", 1), ("haircut_addon", -1)):
                b, w = getattr(better, key), getattr(worse, key)
                if sign * (w - b) > 0:
                    direction = "rise" if sign > 0 else "fall"
                    raise ValueError(
                        f"not monotone: {key} must not {direction} from grade {better.grade} ({b}) "
                        f"to grade {worse.grade} ({w})"
                    )
        return ordered


class KnockoutPolicy(_Strict):
    """Thresholds of the knock-out rules (the rules themselves live in ``pricing.knockouts``)."""

    min_age_years: int = Field(default=18, ge=18, le=120)
    max_age_years: int = Field(default=75, ge=18, le=120)
    min_trading_history_days: int = Field(default=0, ge=0, le=36_500)
    min_platform_assets_minor: int = Field(default=0, ge=0)
    min_avg_daily_assets_20d_minor: int = Field(
        default=0, ge=0, description="average daily assets over the last 20 trading days (cn admission)"
    )
    refuse_related_party: bool = Field(default=False, description="cn: no margin account for a related party")

    @model_validator(mode="after")
    def _age_range(self) -> KnockoutPolicy:
        if self.min_age_years > self.max_age_years:
            raise ValueError(
                f"min_age_years ({self.min_age_years}) must not exceed max_age_years ({self.max_age_years})"
            )
        return self


@dataclass(frozen=True, slots=True)
class PolicyTables:
    """Lookup arrays indexed by grade 0..11 (0 and 11 hold the "nothing" tier)."""

    max_leverage: npt.NDArray[np.float64]
    max_line_minor: npt.NDArray[np.int64]
    haircut_addon: npt.NDArray[np.float64]
    acceptable: npt.NDArray[np.bool_]


REGIME_CURRENCY: dict[str, str] = {"cn": "CNY", "us": "USD"}
"""The currency a regime's lines are written in (``cn``: fen, ``us``: cents)."""


class Policy(_Strict):
    """A validated policy. Build it with ``load_policy`` (file) or ``policy_from_mapping``.

    ``tables`` holds numpy lookup arrays indexed by grade, built once, so the hot decision
    path is a few array takes. ``regime`` and ``currency`` say which rule book and which
    money the thresholds and lines are in: a policy is never applied to a facility in
    another currency (``check_currency``).
    """

    version: str = Field(min_length=1, max_length=64)
    name: str = Field(default="policy", min_length=1, max_length=128)
    description: str = ""
    regime: Literal["cn", "us"] = "cn"
    currency: Literal["CNY", "USD"] = "CNY"
    capital: CapitalPolicy = CapitalPolicy()
    rates: RatePolicy
    limits: LimitPolicy
    grades: GradePolicy
    knockouts: KnockoutPolicy = KnockoutPolicy()

    _hash: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _currency_of_regime(self) -> Policy:
        expected = REGIME_CURRENCY[self.regime]
        if self.currency != expected:
            raise ValueError(
                f"currency {self.currency} does not match regime {self.regime} (lines in {expected})"
            )
        return self

    def check_currency(self, currency: str, field: str = "currency") -> None:
        """Refuse to apply this policy to a facility or application in another currency:
        its thresholds and lines are in ``self.currency`` minor units."""
        if str(currency).upper() != self.currency:
            raise InputError(
                f"{field} {currency!r} does not match policy {self.name} {self.version}, which is in "
                f"{self.currency} (regime {self.regime}); use a {str(currency).upper()} policy",
                field=field,
            )

    def model_post_init(self, context: Any, /) -> None:
        if not self._hash:
            canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
            self._hash = hashlib.sha256(canonical.encode()).hexdigest()

    @cached_property
    def policy_hash(self) -> str:
        """sha256 of the policy file's bytes (of canonical JSON when not built from a file).

        Cached on first read (a private attribute costs a slow pydantic lookup per call);
        ``policy_from_mapping`` sets the file hash before anyone can read it.
        """
        return self._hash

    @cached_property
    def tables(self) -> PolicyTables:
        """Grade-indexed lookup arrays, built on first use and kept (the policy is frozen)."""
        size = DEFAULT_GRADE + 1
        leverage = np.zeros(size, dtype=np.float64)
        line = np.zeros(size, dtype=np.int64)
        haircut = np.ones(size, dtype=np.float64)  # no tier -> no collateral value
        for tier in self.grades.tiers:
            leverage[tier.grade] = tier.max_leverage
            line[tier.grade] = tier.max_line_minor
            haircut[tier.grade] = tier.haircut_addon
        acceptable = np.zeros(size, dtype=bool)
        acceptable[1 : self.grades.acceptable_max_grade + 1] = True
        for arr in (leverage, line, haircut, acceptable):
            arr.setflags(write=False)
        return PolicyTables(leverage, line, haircut, acceptable)

    @property
    def max_leverage_by_grade(self) -> npt.NDArray[np.float64]:
        return self.tables.max_leverage

    @property
    def max_line_minor_by_grade(self) -> npt.NDArray[np.int64]:
        return self.tables.max_line_minor

    @property
    def haircut_addon_by_grade(self) -> npt.NDArray[np.float64]:
        return self.tables.haircut_addon

    @property
    def acceptable_by_grade(self) -> npt.NDArray[np.bool_]:
        return self.tables.acceptable

    def tier(self, grade: int) -> Tier:
        """The tier of one performing grade (InputError for grade 11 or out of range)."""
        if not 1 <= grade <= N_GRADES:
            raise InputError(
                f"grade must be an integer in 1..{N_GRADES} to have a tier, got {grade}", field="grade"
            )
        return self.grades.tiers[grade - 1]


def _describe(error: ValidationError, source: str) -> str:
    # An unknown key is usually a typo of a required one; name the typo, not the gap it left.
    first = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        rule = "unknown key (not part of the policy schema)"
    elif first["type"] == "missing":
        rule = "required key is missing"
    else:
        rule = first["msg"].removeprefix("Value error, ")
    more = f" (+{error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"policy {source}: {key}: {rule}{more}"


def policy_from_mapping(data: Any, *, source: str = "(mapping)", policy_hash: str | None = None) -> Policy:
    """Validate a parsed policy document; InputError names the key and the rule on failure."""
    if not isinstance(data, dict):
        raise InputError(f"policy {source}: must be a YAML mapping at top level", field="policy")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise InputError(_describe(exc, source), field="policy") from None
    if policy_hash is not None:
        policy._hash = policy_hash
    return policy


def load_policy(path: Path | str | None = None) -> Policy:
    """Load and validate a policy file; ``None`` loads the packaged default.

    The hash is taken over the exact bytes read, so the decision journal can prove which
    file was in force. Missing, unreadable, non-YAML or invalid files raise InputError.
    """
    file = DEFAULT_POLICY_PATH if path is None else Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InputError(f"policy file {file}: cannot be read ({exc.strerror})", field="policy") from None
    if len(raw) > _MAX_POLICY_BYTES:
        raise InputError(f"policy file {file}: larger than {_MAX_POLICY_BYTES} bytes", field="policy")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise InputError(f"policy file {file}: not valid YAML{line}", field="policy") from None
    return policy_from_mapping(data, source=str(file), policy_hash=hashlib.sha256(raw).hexdigest())


def policy_for_regime(regime: str) -> Policy:
    """The shipped policy of a regime: ``cn`` (default, CNY fen) or ``us`` (USD cents)."""
    if regime not in POLICY_PATHS:
        raise InputError(f"regime must be one of {sorted(POLICY_PATHS)}, got {regime!r}", field="regime")
    return load_policy(POLICY_PATHS[regime])
