"""Liquidation schedules: a forced sale becomes child orders over sessions and intraday buckets.

A liquidation's parent order (how many shares of which names, ``margin.liquidation``) is cut
into child orders by one of four algorithms, chosen by policy (``SchedulePolicy``):

* ``twap`` — equal slices per intraday bucket, the parent spread over ``horizon_days``;
* ``vwap`` — slices in proportion to the intraday volume profile, over ``horizon_days``;
* ``pov``  — participate at the cap (a share of each bucket's volume) until done: the fastest
  schedule the cap allows;
* ``immediate`` — the one-shot sale (the whole parent dumped in the first bucket, no cap),
  kept as the baseline the schedules are measured against.

The policy chooses by urgency: an account below the house floor (no grace) is sold by
``urgent`` (default POV), a call not met by its deadline by ``deadline`` (default VWAP).

**The participation cap is shared by the whole book**, per name per day: all the accounts
selling a name together sell at most ``participation`` × that day's volume; when they want
more, each gets its pro-rata share (whole shares) and the rest rolls to the next session. A
name closing at limit-down (``cn``, ``creditdesk.price_limits``) trades nothing that day.

**Expected cost**: half the spread plus temporary impact from the square-root law on money
ADV — a bucket traded at participation rate ``r = q_b / (w_b · ADV)`` costs
``Y · σ_daily · √r`` of its value, with ``Y = 1`` (Tóth et al. 2011, "Anomalous price impact
and the critical nature of liquidity", find Y of order one across markets; Almgren, Thum,
Hauptmann & Li 2005, "Direct estimation of equity market impact", fit the temporary impact
to the trading rate with exponent 0.6 ≈ ½). A VWAP of Q over one day trades at the constant
rate Q / ADV and so costs exactly the textbook ``Y · σ · √(Q / ADV)``; TWAP over-trades the
thin midday buckets and costs more; the one-shot sale trades Q inside the first bucket.
Impact is computed on the **book's** flow per name and bucket (all the desk's child orders
hit one market), and each row pays its name's average.

**Intraday volume profile** (``VOLUME_PROFILE_BY_REGIME``): a stylised U shape, not
measured here (the shared data sets hold daily bars only): heavy at the open and the close,
a trough at midday — the pattern documented for the NYSE by Jain & Joh (1988) and seen in
A-shares around the lunch break. ``cn``: 8 half-hour buckets of the continuous sessions
09:30–11:30 and 13:00–15:00; ``us``: 13 half-hour buckets 09:30–16:00.

Pure numpy, vectorised over every row of the book; no clock, no database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from creditdesk.errors import InputError

TWAP, VWAP, POV, IMMEDIATE = 0, 1, 2, 3
ALGORITHMS = ("twap", "vwap", "pov", "immediate")
SQRT_LAW_Y = 1.0  # square-root-law coefficient Y (Tóth et al. 2011: of order one)
SPREAD_BPS = 10.0  # quoted spread; a sale pays half
MAX_SCHEDULE_DAYS = 250  # a schedule never runs past a year of sessions
# stylised U-shaped intraday volume share per half-hour bucket (see the module docstring)
VOLUME_PROFILE_BY_REGIME: dict[str, tuple[float, ...]] = {
    "cn": (0.17, 0.12, 0.10, 0.09, 0.11, 0.10, 0.12, 0.19),
    "us": (0.12, 0.09, 0.075, 0.065, 0.06, 0.055, 0.055, 0.055, 0.06, 0.065, 0.075, 0.09, 0.135),
}


def check_participation(participation: float) -> float:
    """The cap must be a share of the day's volume in (0, 1]; anything else is refused."""
    if not (isinstance(participation, int | float) and 0.0 < float(participation) <= 1.0):
        raise InputError(
            f"participation must be in (0, 1] (a share of the day's volume), got {participation!r}",
            field="participation",
        )
    return float(participation)


def algorithm_code(name: str) -> int:
    try:
        return ALGORITHMS.index(name)
    except ValueError as exc:
        raise InputError(
            f"schedule must be one of {list(ALGORITHMS)}, got {name!r}", field="schedule"
        ) from exc


def volume_profile(regime_name: str) -> np.ndarray:
    """Share of the day's volume per intraday bucket (sums to 1); ``cn`` for unknown regimes."""
    w = np.asarray(VOLUME_PROFILE_BY_REGIME.get(regime_name, VOLUME_PROFILE_BY_REGIME["cn"]))
    return w / w.sum()


@dataclass(frozen=True)
class SchedulePolicy:
    """Which algorithm a forced sale uses, and the book-wide participation cap."""

    urgent: str = "pov"  # below the floor: as fast as the shared cap allows
    deadline: str = "vwap"  # a call not met by its deadline
    participation: float = 0.10  # of each name's day volume, for the whole book
    horizon_days: int = 1  # TWAP / VWAP spread the parent over this many sessions
    impact: float = SQRT_LAW_Y
    spread_bps: float = SPREAD_BPS

    def __post_init__(self) -> None:
        check_participation(self.participation)
        algorithm_code(self.urgent)
        algorithm_code(self.deadline)
        if not 1 <= self.horizon_days <= MAX_SCHEDULE_DAYS:
            raise InputError(f"horizon_days must be between 1 and {MAX_SCHEDULE_DAYS}", field="horizon_days")
        if self.impact < 0 or self.spread_bps < 0:
            raise InputError("impact and spread_bps must be ≥ 0", field="impact")

    def algorithm_for(self, below_floor: np.ndarray) -> np.ndarray:
        """Algorithm code per account: ``urgent`` below the floor, ``deadline`` otherwise."""
        return np.where(below_floor, algorithm_code(self.urgent), algorithm_code(self.deadline)).astype(
            np.int8
        )


ONE_SHOT = SchedulePolicy(urgent="immediate", deadline="immediate")


def impact_fraction(
    order_minor: np.ndarray | float,
    money_adv_minor: np.ndarray | float,
    volatility: np.ndarray | float,
    impact: float = SQRT_LAW_Y,
) -> np.ndarray:
    """The square-root law: expected impact as a fraction of price, ``Y · σ · √(Q / ADV)``.

    Q and ADV both in money (price and volume on one split basis); σ is daily volatility.
    """
    ratio = np.divide(order_minor, np.maximum(money_adv_minor, 1.0))
    return np.asarray(impact * np.asarray(volatility) * np.sqrt(np.maximum(ratio, 0.0)))


def day_wanted(
    left: np.ndarray, total: np.ndarray, days_done: np.ndarray, algorithm: np.ndarray, horizon_days: int
) -> np.ndarray:
    """Shares each row wants to sell today before the cap: a 1/horizon slice (TWAP/VWAP) or all."""
    per_day = np.ceil(total / horizon_days)
    sliced = np.where(days_done + 1 >= horizon_days, left, np.minimum(left, per_day))
    return np.where((algorithm == TWAP) | (algorithm == VWAP), sliced, left)


def share_cap(
    wanted: np.ndarray, instrument: np.ndarray, cap_shares: np.ndarray, uncapped: np.ndarray
) -> np.ndarray:
    """Book-wide cap per name: pro rata when the book wants more than ``cap_shares`` of a name."""
    capped = ~uncapped
    demand = np.bincount(instrument[capped], weights=wanted[capped], minlength=len(cap_shares)).astype(float)
    over = demand > cap_shares
    scale = np.divide(cap_shares, demand, out=np.ones_like(demand), where=over)
    return np.where(uncapped, wanted, np.floor(wanted * scale[instrument] + 1e-9))


def _bucket_shapes(
    granted: np.ndarray,
    algorithm: np.ndarray,
    instrument: np.ndarray,
    profile: np.ndarray,
    participation: float,
    volume_shares: np.ndarray,
) -> np.ndarray:
    """Each row's share of its day's quantity per bucket [rows × buckets] (rows sum to 1)."""
    n_buckets = len(profile)
    shape = np.empty((len(granted), n_buckets))
    shape[:] = 1.0 / n_buckets  # TWAP
    shape[algorithm == VWAP] = profile
    shape[algorithm == IMMEDIATE] = np.eye(n_buckets)[0]
    pov = algorithm == POV
    if pov.any():
        # the book's POV flow in a name fills each bucket at participation × its volume until done
        book_qty = np.bincount(instrument[pov], weights=granted[pov], minlength=len(volume_shares))
        room = participation * profile[None, :] * volume_shares[:, None]
        filled = np.minimum(np.cumsum(room, axis=1), book_qty[:, None])
        per_bucket = np.diff(np.concatenate([np.zeros((len(book_qty), 1)), filled], axis=1), axis=1)
        name_shape = per_bucket / np.maximum(book_qty, 1e-300)[:, None]
        name_shape[book_qty <= 0] = profile
        shape[pov] = name_shape[instrument[pov]]
    return shape


def bucket_costs(
    bucket_minor: np.ndarray,
    instrument: np.ndarray,
    money_volume_minor: np.ndarray,
    volatility: np.ndarray,
    profile: np.ndarray,
    impact: float = SQRT_LAW_Y,
    spread_bps: float = SPREAD_BPS,
) -> np.ndarray:
    """Cost fraction per row: half spread + √-law impact of the book's flow in each name and bucket."""
    flow = np.zeros((len(money_volume_minor), len(profile)))
    np.add.at(flow, instrument, bucket_minor)
    bucket_volume = profile[None, :] * money_volume_minor[:, None]
    rate = flow / np.maximum(bucket_volume, 1.0)
    per_bucket = spread_bps / 2e4 + impact * volatility[:, None] * np.sqrt(rate)
    value = bucket_minor.sum(axis=1)
    paid = (bucket_minor * per_bucket[instrument]).sum(axis=1)
    return np.divide(paid, value, out=np.zeros_like(value), where=value > 0)


@dataclass(frozen=True)
class DayFills:
    """What the book's schedules sell in one session, per parent row."""

    quantity: np.ndarray  # shares sold today
    cost_fraction: np.ndarray  # spread + impact, of the value sold
    bucket_quantity: np.ndarray  # [rows × buckets]: the day's child orders


def fill_day(
    left: np.ndarray,
    total: np.ndarray,
    days_done: np.ndarray,
    algorithm: np.ndarray,
    instrument: np.ndarray,
    price: np.ndarray,
    money_volume_minor: np.ndarray,
    volatility: np.ndarray,
    policy: SchedulePolicy,
    profile: np.ndarray,
    locked: np.ndarray | None = None,
) -> DayFills:
    """One session of every open parent row in the book, vectorised.

    ``left``/``total``/``days_done``/``algorithm``/``instrument`` are per parent row;
    ``price``, ``money_volume_minor`` (the day's volume in money), ``volatility`` and
    ``locked`` (limit-down: nothing sells) are per instrument.
    """
    wanted = day_wanted(left, total, days_done, algorithm, policy.horizon_days)
    if locked is not None:
        wanted = np.where(locked[instrument], 0.0, wanted)
    volume_shares = money_volume_minor / np.maximum(price, 1e-300)
    cap = np.floor(policy.participation * volume_shares)
    granted = np.minimum(share_cap(wanted, instrument, cap, algorithm == IMMEDIATE), left)
    shape = _bucket_shapes(granted, algorithm, instrument, profile, policy.participation, volume_shares)
    bucket_qty = granted[:, None] * shape
    cost = bucket_costs(
        bucket_qty * price[instrument][:, None],
        instrument,
        money_volume_minor,
        volatility,
        profile,
        policy.impact,
        policy.spread_bps,
    )
    return DayFills(granted, cost, bucket_qty)


@dataclass(frozen=True)
class Schedule:
    """The expected child orders of a batch of parent rows, and their expected cost."""

    day: np.ndarray  # sessions from now (0 = today)
    bucket: np.ndarray  # intraday bucket
    row: np.ndarray  # parent row
    quantity: np.ndarray  # shares
    expected_cost_fraction: np.ndarray  # per parent row, of the value sold at the arrival price
    days: int  # sessions until every row is done (MAX_SCHEDULE_DAYS if never)


def build_schedule(
    quantity: np.ndarray,
    instrument: np.ndarray,
    algorithm: np.ndarray,
    price: np.ndarray,
    money_adv_minor: np.ndarray,
    volatility: np.ndarray,
    policy: SchedulePolicy,
    regime_name: str = "cn",
    locked: np.ndarray | None = None,
) -> Schedule:
    """Plan parent rows into child orders at today's prices and ADV (``locked``: [days × names]).

    The expectation: every future session trades the ADV, prices stay at arrival, and the
    cap is shared among the rows given (the book's other running schedules are not seen).
    """
    quantity = np.floor(np.asarray(quantity, dtype=np.float64))
    profile = volume_profile(regime_name)
    left, done = quantity.copy(), np.zeros(len(quantity))
    paid = np.zeros(len(quantity))
    parts: list[tuple[np.ndarray, ...]] = []
    day = 0
    while (left > 0).any() and day < MAX_SCHEDULE_DAYS:
        lock = locked[day] if locked is not None and day < len(locked) else None
        fills = fill_day(
            left,
            quantity,
            done,
            algorithm,
            instrument,
            price,
            money_adv_minor,
            volatility,
            policy,
            profile,
            lock,
        )
        rows, buckets = np.nonzero(fills.bucket_quantity > 0)
        parts.append((np.full(len(rows), day), buckets, rows, fills.bucket_quantity[rows, buckets]))
        paid += fills.quantity * fills.cost_fraction
        left -= fills.quantity
        done += 1
        day += 1
    cols = [np.concatenate(c) if parts else np.zeros(0) for c in zip(*parts, strict=True)] or [
        np.zeros(0)
    ] * 4
    sold = quantity - left
    cost = np.divide(paid, sold, out=np.zeros_like(sold), where=sold > 0)
    return Schedule(
        cols[0].astype(np.int64), cols[1].astype(np.int64), cols[2].astype(np.int64), cols[3], cost, day
    )


def sessions_needed(quantity_shares: float, adv_shares: float, participation: float) -> int:
    """Sessions a sale needs at the cap alone (one seller): ⌈Q / (p · ADV)⌉."""
    check_participation(participation)
    if quantity_shares <= 0:
        return 0
    cap = math.floor(participation * adv_shares)
    return MAX_SCHEDULE_DAYS if cap <= 0 else math.ceil(quantity_shares / cap)
