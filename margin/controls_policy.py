"""The risk-controls policy: regime thresholds, what each level does, concentration, anomalies, wash trades.

A YAML document validated on load (pydantic). Anything out of order — crisis below stressed,
a negative window, a share outside (0, 1], a maintenance target that falls as the market gets
worse — is refused with an ``InputError`` that names the key, so a typo cannot silently loosen
margin. ``margin/policies/risk_controls.yaml`` is the packaged default; the same values are
the model defaults, so ``RiskControlsPolicy()`` is that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from creditdesk.errors import InputError

DEFAULT_POLICY_PATH = Path(__file__).resolve().parent / "policies" / "risk_controls.yaml"
LEVELS = ("calm", "stressed", "crisis")
INSTRUMENT_CLASSES = ("index_constituent", "share", "etf", "bond", "flagged")
_MAX_POLICY_BYTES = 256_000

Share = Field(gt=0.0, le=1.0)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegimeDetection(_Strict):
    """How the market statistic is computed and when it moves the level."""

    ewma_lambda: float = Field(default=0.94, gt=0.0, lt=1.0)  # RiskMetrics daily decay
    window_days: int = Field(default=20, gt=1)  # moving-window volatility
    baseline_days: int = Field(default=250, gt=1)  # standardisation of returns and volume for CUSUM
    cusum_k: float = Field(default=0.5, gt=0.0)  # allowance, in standard deviations
    cusum_h: float = Field(default=5.0, gt=0.0)  # decision interval, in standard deviations
    stressed_vol_annual: float = Field(default=0.25, gt=0.0)
    crisis_vol_annual: float = Field(default=0.40, gt=0.0)
    exit_ratio: float = Field(default=0.8, gt=0.0, le=1.0)  # leave a level only below exit_ratio × its entry
    cooldown_days: int = Field(default=10, gt=0)  # ... for this many trading days in a row
    instrument_exit_ratio: float = Field(default=0.9, gt=0.0, le=1.0)  # per-name freeze hysteresis

    @model_validator(mode="after")
    def _ordered(self) -> RegimeDetection:
        if self.crisis_vol_annual <= self.stressed_vol_annual:
            raise ValueError(
                f"crisis_vol_annual ({self.crisis_vol_annual}) must be above "
                f"stressed_vol_annual ({self.stressed_vol_annual})"
            )
        if self.window_days > self.baseline_days:
            raise ValueError("window_days must not exceed baseline_days")
        return self


class LevelControls(_Strict):
    """What a regime level does to margin."""

    conversion_multiplier: dict[str, float] = Field(default_factory=dict)  # class → (0, 1], × base rate
    call_ratio: float = Field(default=1.30, gt=1.0)  # cn maintenance ratio below which a call is due
    target_ratio: float = Field(default=1.50, gt=1.0)  # ratio a call must restore
    freeze_vol_percentile: float = Share  # new financed buys refused above this cross-section percentile
    max_leverage_multiplier: float = Share  # × the grade's max leverage for new lines

    @model_validator(mode="after")
    def _valid(self) -> LevelControls:
        for kind, m in self.conversion_multiplier.items():
            if kind not in INSTRUMENT_CLASSES:
                raise ValueError(f"conversion_multiplier.{kind}: unknown class, one of {INSTRUMENT_CLASSES}")
            if not 0.0 < m <= 1.0:
                raise ValueError(f"conversion_multiplier.{kind}: {m} must be in (0, 1]")
        if self.target_ratio < self.call_ratio:
            raise ValueError(f"target_ratio ({self.target_ratio}) must be ≥ call_ratio ({self.call_ratio})")
        return self

    def multiplier(self, kind: str) -> float:
        return self.conversion_multiplier.get(kind, 1.0)


def _calm() -> LevelControls:
    return LevelControls(
        call_ratio=1.30, target_ratio=1.50, freeze_vol_percentile=1.0, max_leverage_multiplier=1.0
    )


def _stressed() -> LevelControls:
    return LevelControls(
        conversion_multiplier={"index_constituent": 0.9, "share": 0.85, "etf": 0.95},
        call_ratio=1.40,
        target_ratio=1.60,
        freeze_vol_percentile=0.9,
        max_leverage_multiplier=0.75,
    )


def _crisis() -> LevelControls:
    return LevelControls(
        conversion_multiplier={"index_constituent": 0.75, "share": 0.7, "etf": 0.9, "bond": 0.95},
        call_ratio=1.50,
        target_ratio=1.70,
        freeze_vol_percentile=0.75,
        max_leverage_multiplier=0.5,
    )


class ConcentrationTier(_Strict):
    min_ratio: float = Field(ge=0.0)  # maintenance ratio at or above which this tier applies
    max_single_name_share: float = Share  # of the account's collateral market value


class Concentration(_Strict):
    tiers: list[ConcentrationTier] = Field(
        default_factory=lambda: [
            ConcentrationTier(min_ratio=2.40, max_single_name_share=1.0),
            ConcentrationTier(min_ratio=1.80, max_single_name_share=0.70),
            ConcentrationTier(min_ratio=0.0, max_single_name_share=0.50),
        ]
    )
    # financed exposure per name must be sellable at this share of money ADV within the horizon
    platform_adv_share: float = Field(default=0.25, gt=0.0, le=1.0)
    platform_liquidation_days: int = Field(default=20, gt=0)
    platform_float_share: float = Field(default=0.05, gt=0.0, le=1.0)  # financed exposure / free-float value

    @model_validator(mode="after")
    def _ordered(self) -> Concentration:
        ratios = [t.min_ratio for t in self.tiers]
        shares = [t.max_single_name_share for t in self.tiers]
        if not self.tiers or ratios != sorted(ratios, reverse=True) or len(set(ratios)) != len(ratios):
            raise ValueError("tiers must be listed from the highest min_ratio down, without repeats")
        if shares != sorted(shares, reverse=True):
            raise ValueError("tiers.max_single_name_share must not grow as the ratio falls")
        if ratios[-1] != 0.0:
            raise ValueError("the last tier must start at min_ratio 0 so every account has one")
        return self


class Anomaly(_Strict):
    n_estimators: int = Field(default=100, gt=0)
    max_samples: int = Field(default=256, gt=1)
    score_threshold: float = Field(default=0.70, gt=0.0, lt=1.0)  # Isolation Forest score (0.5 = ordinary)
    leverage_multiplier: float = Field(default=0.5, gt=0.0, le=1.0)  # × max leverage while flagged
    cusum_k: float = Field(default=0.5, gt=0.0)
    cusum_h: float = Field(default=4.0, gt=0.0)
    # explicit rule: a signal above rule_multiple × its rule_quantile over the book's history
    rule_quantile: float = Field(default=0.999, gt=0.0, lt=1.0)
    rule_multiple: float = Field(default=1.5, gt=0.0)
    odd_hours: tuple[int, int] = (9 * 60 + 30, 15 * 60)  # trading minutes of the session, local time

    @model_validator(mode="after")
    def _hours(self) -> Anomaly:
        lo, hi = self.odd_hours
        if not 0 <= lo < hi <= 24 * 60:
            raise ValueError("odd_hours must be (start_minute, end_minute) within one day, start < end")
        return self


class WashTrade(_Strict):
    round_trip_window_s: int = Field(default=300, gt=0)  # buy-then-sell-back of one name inside it


class RiskControlsPolicy(_Strict):
    version: str = "risk-controls-2026-11"
    regime: RegimeDetection = Field(default_factory=lambda: RegimeDetection())
    levels: dict[str, LevelControls] = Field(
        default_factory=lambda: {"calm": _calm(), "stressed": _stressed(), "crisis": _crisis()}
    )
    concentration: Concentration = Field(default_factory=lambda: Concentration())
    anomaly: Anomaly = Field(default_factory=lambda: Anomaly())
    wash_trade: WashTrade = Field(default_factory=lambda: WashTrade())

    @model_validator(mode="after")
    def _levels_ordered(self) -> RiskControlsPolicy:
        if sorted(self.levels) != sorted(LEVELS):
            raise ValueError(f"levels must be exactly {LEVELS}")
        seq = [self.levels[name] for name in LEVELS]
        for lo, hi, name in zip(seq, seq[1:], LEVELS[1:], strict=False):
            if hi.call_ratio < lo.call_ratio or hi.target_ratio < lo.target_ratio:
                raise ValueError(f"{name}: call_ratio/target_ratio must not be below the calmer level's")
            if hi.max_leverage_multiplier > lo.max_leverage_multiplier:
                raise ValueError(f"{name}: max_leverage_multiplier must not exceed the calmer level's")
        return self

    def level(self, index: int) -> LevelControls:
        return self.levels[LEVELS[index]]


def _describe(exc: ValidationError, source: str) -> str:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if p != "__root__")
    msg = str(first["msg"]).removeprefix("Value error, ")
    key = loc or "policy"
    return f"risk-controls policy {source}: {key}: {msg}"


def policy_from_mapping(data: Any, *, source: str = "(mapping)") -> RiskControlsPolicy:
    """Validate a parsed document; the InputError names the offending key."""
    if not isinstance(data, dict):
        raise InputError(f"risk-controls policy {source}: must be a mapping at top level", field="policy")
    try:
        return RiskControlsPolicy.model_validate(data)
    except ValidationError as exc:
        loc = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise InputError(_describe(exc, source), field=loc or "policy") from None


def load_controls_policy(path: Path | str | None = None) -> RiskControlsPolicy:
    """Load and validate a risk-controls policy file; ``None`` loads the packaged default."""
    file = DEFAULT_POLICY_PATH if path is None else Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise InputError(
            f"risk-controls policy {file}: cannot be read ({exc.strerror})", field="policy"
        ) from None
    if len(raw) > _MAX_POLICY_BYTES:
        raise InputError(
            f"risk-controls policy {file}: larger than {_MAX_POLICY_BYTES} bytes", field="policy"
        )
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise InputError(f"risk-controls policy {file}: not valid YAML", field="policy") from None
    return policy_from_mapping(data, source=str(file))
