"""Point-in-time feature builders: one numpy core for the batch job and the online API.

Why one core: a model is only as honest as the agreement between the features it was trained
on and the features it scores with. ``build_features`` (a population) and ``online_features``
(one applicant at request time) both call ``kyc_block``, ``bureau_block``,
``application_block`` and ``trading_block``; the batch path passes every application as a
segment, the online path passes one. Exact equality (not "close") holds because every
reduction in the core is segment-local:

- floating sums use ``np.add.reduceat`` (a plain left-to-right loop per segment whose result
  does not depend on what lies outside the segment; ``np.sum`` is pairwise and would not
  match), never ``np.sum`` or ``cumsum`` over the whole population; several sums over the same
  segments go through one 2-D ``reduceat`` (column by column, same order for both paths);
- running sums over time are integer (money in minor units, share counts), where a global
  ``cumsum`` minus the segment's start value is exact;
- running maxima use integer keys shifted per segment, which is exact by construction.

Point in time: the trading core itself drops every trade and cash flow that is not strictly
earlier than its application date, so neither path can leak the future.

Definitions (the catalogue holds the plain-language text):
- a trade's cash value is ``rint(quantity * price * 100)`` minor units, as it settles;
- a *round trip* is a position (customer, ticker) going from flat to flat; its profit is sells
  minus buys minus fees of the trades in it; holding time is share-weighted
  ``sum(q * t_sell) - sum(q * t_buy)`` over all shares, which is the same under any lot
  matching (FIFO, LIFO, average) once the position is flat, so no matching convention leaks
  into the feature;
- open holdings at the application date are valued at the customer's own last trade price in
  that name (the online path has no price feed; stale by up to the last trade);
- *capital* is the larger of deposits before the application and platform assets (at least
  one major unit), the base for realised profit and drawdown;
- windows of "12 months" are the 365 days before the application date.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from creditdesk.errors import InputError
from features.catalogue import (
    EMPLOYMENT_CODES,
    ILLIQUID_ADV_QUANTILE,
    INCOME_BAND_EDGES_MAJOR,
    KEYS,
    NET_WORTH_BAND_EDGES_MAJOR,
    RECENT_WINDOW_DAYS,
    THIN_FILE_MAX_OLDEST_MONTHS,
    THIN_FILE_MAX_OPEN_ACCOUNTS,
    feature_names,
)

NS_PER_DAY = 86_400 * 10**9
MIN_DENOMINATOR_MINOR = 100  # one major unit: ratios stay finite for empty accounts
MAX_TRADES_ONLINE = 1_000_000  # one request never carries more; bounds memory and latency

FEATURES = tuple(feature_names())
TRADING_FEATURES = tuple(feature_names("trading"))


# --------------------------------------------------------------------------------------------
# segment helpers (offsets has n_segments + 1 entries, segment s is [offsets[s], offsets[s+1]))


def _segment_reduce(
    ufunc: np.ufunc, values: np.ndarray, offsets: np.ndarray, empty: float | int
) -> np.ndarray:
    """``ufunc`` over each segment; ``empty`` where a segment has no rows (reduceat would not)."""
    starts = offsets[:-1]
    sizes = offsets[1:] - starts
    if values.size and sizes.all():  # the common case, and the online path's only one
        return ufunc.reduceat(values, starts, axis=0)
    shape = (len(starts), *values.shape[1:])  # 2-D values: several sums in one pass, column by column
    out = np.full(shape, empty, dtype=np.result_type(values.dtype, np.asarray(empty).dtype))
    if values.size:
        nonempty = sizes > 0
        out[nonempty] = ufunc.reduceat(values, starts[nonempty], axis=0)
    return out


def _segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    return _segment_reduce(np.add, values, offsets, 0)


def _offsets_from_ids(segment_ids: np.ndarray, n_segments: int) -> np.ndarray:
    """Offsets of sorted ``segment_ids`` (every id in [0, n_segments))."""
    if n_segments == 1:
        return np.array([0, len(segment_ids)], dtype=np.int64)
    offsets = np.zeros(n_segments + 1, dtype=np.int64)
    np.cumsum(np.bincount(segment_ids, minlength=n_segments), out=offsets[1:])
    return offsets


def _segmented_cumsum_int(values: np.ndarray, starts: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sum restarting at each group start; exact because integer (wrap-around cancels)."""
    total = np.cumsum(values, dtype=np.int64)
    if len(starts) == 1 and values.size and starts[0] == 0:  # one group: nothing to subtract
        return total
    before = total[starts] - values[starts]
    return total - before[group]


def _segmented_cummax_int(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Running maximum restarting at each segment, exact: keys shifted so segments never overlap."""
    if values.size == 0:
        return values.copy()
    if len(offsets) == 2:  # one segment (the online path): max is exact, so no shift is needed
        return np.maximum.accumulate(values)
    lows = _segment_reduce(np.minimum, values, offsets, 0)
    highs = _segment_reduce(np.maximum, values, offsets, 0)
    spans = highs - lows + 1
    if float(spans.astype(np.float64).sum()) >= 2.0**62:
        raise InputError("trades: cumulative amounts too large for one batch; build in smaller chunks")
    bases = np.concatenate(([0], np.cumsum(spans)[:-1]))
    group = np.repeat(np.arange(len(offsets) - 1), _sizes(offsets))
    shift = bases[group] - lows[group]
    return np.maximum.accumulate(values + shift) - shift


# --------------------------------------------------------------------------------------------
# instruments


@dataclass(frozen=True)
class InstrumentIndex:
    """Ticker codes and flags, built once from the ``instruments`` table.

    Codes are positions in the ticker-sorted master, so both paths order a customer's
    positions identically (the order of floating sums depends on it).
    """

    tickers: np.ndarray  # object, sorted
    volatile: np.ndarray  # bool, per code
    illiquid: np.ndarray  # bool, per code: adv in the bottom ILLIQUID_ADV_QUANTILE of the universe
    lookup: Mapping[str, int]

    @classmethod
    def from_frame(cls, instruments: pd.DataFrame) -> InstrumentIndex:
        for column in ("ticker", "volatile", "adv_shares"):
            if column not in instruments.columns:
                raise InputError(f"instruments: missing column {column!r}", field="instruments")
        frame = instruments.sort_values("ticker", kind="stable")
        tickers = frame["ticker"].astype(str).to_numpy(dtype=object)
        if len(set(tickers)) != len(tickers):
            raise InputError("instruments: duplicate ticker", field="instruments.ticker")
        # "Illiquid" ranks by money traded (issue 13): share counts are not comparable across
        # names (a $1,000 share trades fewer shares) nor across a split. A master without
        # ``adv_money`` (a bundle written before it existed) still ranks by shares.
        column = "adv_money" if "adv_money" in frame.columns else "adv_shares"
        adv = frame[column].to_numpy(dtype=np.float64)
        cut = float(np.quantile(adv, ILLIQUID_ADV_QUANTILE)) if len(adv) else 0.0
        return cls(
            tickers=tickers,
            volatile=frame["volatile"].to_numpy(dtype=bool),
            illiquid=adv < cut,
            lookup={t: i for i, t in enumerate(tickers)},
        )

    def __post_init__(self) -> None:
        # The same sorted tickers as fixed-width text: ``codes`` is one binary search per call.
        object.__setattr__(self, "_sorted_text", np.asarray(self.tickers, dtype=str))

    def codes(self, tickers: Sequence[str] | np.ndarray) -> np.ndarray:
        """Positions of ``tickers`` in the master (vectorised: no pandas, no loop over trades)."""
        keys = np.asarray(tickers, dtype=str)
        sorted_text: np.ndarray = getattr(self, "_sorted_text")  # noqa: B009 (set in __post_init__)
        if keys.size == 0:
            return np.zeros(0, dtype=np.int64)
        if sorted_text.size == 0:  # an empty master knows no ticker
            found, unknown = np.zeros(keys.size, dtype=np.int64), np.ones(keys.size, dtype=bool)
        else:
            found = np.minimum(np.searchsorted(sorted_text, keys), sorted_text.size - 1)
            unknown = sorted_text[found] != keys
        if unknown.any():
            names = sorted({str(t) for t in keys[unknown]})
            if len(names) == 1:
                raise InputError(f"trades.ticker: unknown ticker {names[0]!r}", field="trades.ticker")
            raise InputError(f"trades.ticker: unknown tickers {names[:5]}", field="trades.ticker")
        return found.astype(np.int64)


# --------------------------------------------------------------------------------------------
# the static blocks: elementwise, so one row and a million rows run the same operations


def _f(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


_EMPLOYMENT_INDEX = {code: i for i, code in enumerate(EMPLOYMENT_CODES)}
_EMPLOYMENT_ONE_HOT = np.eye(len(EMPLOYMENT_CODES), dtype=np.float64)


def kyc_block(
    *,
    age: Any,
    annual_income_minor: Any,
    net_worth_minor: Any,
    liquid_assets_minor: Any,
    employment: Any,
    investing_experience_years: Any,
    risk_questionnaire_score: Any,
    identity_verified: Any,
    is_pep: Any,
    pep_reviewed: Any,
    sanctions_hit: Any,
    requested_line_minor: Any,
) -> dict[str, np.ndarray]:
    jobs = np.asarray(employment, dtype=object)
    out = {
        "age_years": _f(age),
        "income_band": _f(np.searchsorted(INCOME_BAND_EDGES_MAJOR, _f(annual_income_minor) / 100.0, "right")),
        "net_worth_band": _f(
            np.searchsorted(NET_WORTH_BAND_EDGES_MAJOR, _f(net_worth_minor) / 100.0, "right")
        ),
        "liquid_assets_to_line": _f(liquid_assets_minor)
        / np.maximum(_f(requested_line_minor), MIN_DENOMINATOR_MINOR),
        "investing_experience_years": _f(investing_experience_years),
        "risk_questionnaire_score": _f(risk_questionnaire_score),
    }
    if len(jobs) == 1:  # the online path: a dict lookup instead of a hashing pass
        codes = np.array([_EMPLOYMENT_INDEX.get(jobs[0], -1)], dtype=np.int64)
    else:
        found, uniques = pd.factorize(jobs)
        codes = np.array([_EMPLOYMENT_INDEX.get(u, -1) for u in uniques], dtype=np.int64)[found]
        codes[found < 0] = -1
    if (codes < 0).any():
        bad = sorted({str(v) for v in jobs[codes < 0]})[:5]
        raise InputError(f"customers.employment: unknown values {bad}; allowed {list(EMPLOYMENT_CODES)}")
    one_hot = _EMPLOYMENT_ONE_HOT[codes]
    for j, code in enumerate(EMPLOYMENT_CODES):
        out[f"employment_{code}"] = one_hot[:, j]
    pep = np.asarray(is_pep, dtype=bool)
    out["identity_verified"] = _f(np.asarray(identity_verified, dtype=bool))
    out["pep_unreviewed"] = _f(pep & ~np.asarray(pep_reviewed, dtype=bool))
    out["sanctions_hit"] = _f(np.asarray(sanctions_hit, dtype=bool))
    return out


def bureau_block(
    *,
    bureau_score: Any,
    open_accounts: Any,
    credit_utilisation: Any,
    delinquencies_24m: Any,
    inquiries_6m: Any,
    oldest_account_months: Any,
    debt_to_income: Any,
    bureau_default_24m: Any,
) -> dict[str, np.ndarray]:
    accounts = _f(open_accounts)
    oldest = _f(oldest_account_months)
    return {
        "bureau_score": _f(bureau_score),
        "open_accounts": accounts,
        "credit_utilisation": _f(credit_utilisation),
        "delinquencies_24m": _f(delinquencies_24m),
        "inquiries_6m": _f(inquiries_6m),
        "oldest_account_months": oldest,
        "debt_to_income": _f(debt_to_income),
        "bureau_default_24m": _f(np.asarray(bureau_default_24m, dtype=bool)),
        "thin_file": _f((accounts <= THIN_FILE_MAX_OPEN_ACCOUNTS) | (oldest < THIN_FILE_MAX_OLDEST_MONTHS)),
    }


def application_block(*, requested_line_minor: Any, platform_assets_minor: Any) -> dict[str, np.ndarray]:
    assets = _f(platform_assets_minor)
    return {
        "requested_line_to_assets": _f(requested_line_minor) / np.maximum(assets, MIN_DENOMINATOR_MINOR),
        "platform_assets_log10": np.log10(1.0 + np.maximum(assets, 0.0) / 100.0),
    }


# --------------------------------------------------------------------------------------------
# the trading core


@dataclass(frozen=True)
class TradeArrays:
    """Trades of any number of application segments, in any order.

    ``segment`` is the index of the application each trade belongs to (the customer's).
    """

    segment: np.ndarray  # int64
    trade_id: np.ndarray  # int64, unique within a customer: the tie-break for equal timestamps
    timestamp_ns: np.ndarray  # int64 nanoseconds since the epoch
    ticker_code: np.ndarray  # int64, InstrumentIndex codes
    is_buy: np.ndarray  # bool
    quantity: np.ndarray  # int64, > 0
    price: np.ndarray  # float64, per share
    fees_minor: np.ndarray  # int64


@dataclass(frozen=True)
class FlowArrays:
    segment: np.ndarray  # int64
    timestamp_ns: np.ndarray  # int64
    is_deposit: np.ndarray  # bool
    amount_minor: np.ndarray  # int64, > 0


def _order_trades(t: TradeArrays) -> np.ndarray | None:
    """Permutation to (segment, timestamp, trade_id) order, or None when already in it."""
    seg, ts, tid = t.segment, t.timestamp_ns, t.trade_id
    if len(seg) < 2:
        return None
    d_seg, d_ts, d_id = seg[1:] - seg[:-1], ts[1:] - ts[:-1], tid[1:] - tid[:-1]
    if ((d_seg > 0) | ((d_seg == 0) & ((d_ts > 0) | ((d_ts == 0) & (d_id > 0))))).all():
        return None
    return np.lexsort((tid, ts, seg))


def _take(t: TradeArrays, index: np.ndarray) -> TradeArrays:
    return TradeArrays(*(getattr(t, name)[index] for name in TradeArrays.__dataclass_fields__))


def trading_block(
    *,
    application_ns: np.ndarray,
    opened_ns: np.ndarray,
    platform_assets_minor: np.ndarray,
    trades: TradeArrays,
    flows: FlowArrays,
    instruments: InstrumentIndex,
) -> dict[str, np.ndarray]:
    """Trading-behaviour features of ``len(application_ns)`` segments, as of each application date."""
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 only where the feature is NaN by definition
        return _trading_core(application_ns, opened_ns, platform_assets_minor, trades, flows, instruments)


def _trading_core(
    application_ns: np.ndarray,
    opened_ns: np.ndarray,
    platform_assets_minor: np.ndarray,
    trades: TradeArrays,
    flows: FlowArrays,
    instruments: InstrumentIndex,
) -> dict[str, np.ndarray]:
    n = len(application_ns)
    app_ns = np.asarray(application_ns, dtype=np.int64)
    assets = np.asarray(platform_assets_minor, dtype=np.int64)

    # Point in time: only what happened strictly before the application date exists.
    known = trades.timestamp_ns < app_ns[trades.segment]
    t = _take(trades, np.flatnonzero(known)) if not known.all() else trades
    order = _order_trades(t)  # (segment, time, id): the account's own order of events
    if order is not None:
        t = _take(t, order)
    time_order = t
    # Positions: stable re-sort by (segment, ticker) keeps time order inside each position.
    n_codes = np.int64(len(instruments.tickers) + 1)
    by_position = np.argsort(t.segment * n_codes + t.ticker_code, kind="stable")
    t = _take(t, by_position)
    offsets = _offsets_from_ids(t.segment, n)
    seg = t.segment
    count = _sizes(offsets)

    rel_days = (app_ns[seg] - t.timestamp_ns) / NS_PER_DAY  # > 0: days before the application
    cash_minor = np.rint(t.quantity * t.price * 100.0).astype(np.int64)
    signed_q = np.where(t.is_buy, t.quantity, -t.quantity)

    m = len(seg)
    new_position = np.ones(m, dtype=bool)
    if m > 1:
        new_position[1:] = (seg[1:] != seg[:-1]) | (t.ticker_code[1:] != t.ticker_code[:-1])
    position_starts = np.flatnonzero(new_position)
    position_id = np.cumsum(new_position) - 1
    held = _segmented_cumsum_int(signed_q, position_starts, position_id)
    if (held < 0).any():
        first = int(np.flatnonzero(held < 0)[0])
        raise InputError(
            f"trades: sell trade_id {int(t.trade_id[first])} exceeds the shares held in that name",
            field="trades.quantity",
        )

    # Round trips: a position from flat to flat. A trip starts a position or follows a flat.
    trip_start = new_position.copy()
    if m > 1:
        trip_start[1:] |= held[:-1] == 0
    trip_starts = np.flatnonzero(trip_start)
    trip_ends = _ends(trip_starts, m)
    closed = held[trip_ends] == 0 if m else np.zeros(0, dtype=bool)
    buy = t.is_buy
    per_trade = np.empty((m, 4), dtype=np.int64)  # buy cash, sell cash, fees, shares bought
    per_trade[:, 0] = cash_minor * buy
    per_trade[:, 1] = cash_minor - per_trade[:, 0]
    per_trade[:, 2] = t.fees_minor
    per_trade[:, 3] = t.quantity * buy
    per_trip = np.add.reduceat(per_trade, trip_starts, axis=0) if m else per_trade
    buy_cash, sell_cash, fees, buy_q = per_trip.T
    # Holding = sum(q * t_sell) - sum(q * t_buy) = sum_buy(q * rel) - sum_sell(q * rel).
    q_days = t.quantity * rel_days
    hold_q_days = np.add.reduceat(np.where(buy, q_days, -q_days), trip_starts) if m else q_days

    c_seg = seg[trip_starts[closed]]
    c_offsets = _offsets_from_ids(c_seg, n)
    trips = _sizes(c_offsets)
    c_pnl = (sell_cash - buy_cash - fees)[closed]
    c_return = c_pnl / np.maximum(buy_cash[closed], 1)
    held_days, sum_return = _segment_sum(np.column_stack((hold_q_days[closed], c_return)), c_offsets).T
    held_shares, wins = _segment_sum(np.column_stack((buy_q[closed], c_pnl > 0)), c_offsets).T
    avg_holding = np.where(trips > 0, held_days / np.maximum(held_shares, 1), np.nan)
    win_rate = np.where(trips > 0, wins / np.maximum(trips, 1), np.nan)
    mean_return = sum_return / np.maximum(trips, 1)
    dev = c_return - mean_return[c_seg]
    vol = np.where(trips > 1, np.sqrt(_segment_sum(dev * dev, c_offsets) / np.maximum(trips, 1)), np.nan)

    # Realised profit over time: closing trades in the account's time order.
    closes_at = np.zeros(m, dtype=bool)
    pnl_at = np.zeros(m, dtype=np.int64)
    closes_at[by_position[trip_ends[closed]]] = True
    pnl_at[by_position[trip_ends[closed]]] = c_pnl
    pnl_time = pnl_at[closes_at]
    p_seg = time_order.segment[closes_at]
    p_offsets = _offsets_from_ids(p_seg, n)
    cum_pnl = _segmented_cumsum_int(pnl_time, p_offsets[:-1][_sizes(p_offsets) > 0], _dense_group(p_offsets))
    peak = np.maximum(_segmented_cummax_int(cum_pnl, p_offsets), 0)
    max_drawdown_minor = _segment_reduce(np.maximum, peak - cum_pnl, p_offsets, 0)
    realised_minor = _segment_sum(pnl_time, p_offsets)

    # Holdings at the application date: the last trade of each position still holding shares.
    position_ends = _ends(position_starts, m)
    open_mask = held[position_ends] > 0
    o_idx = position_ends[open_mask]
    o_seg = seg[o_idx]
    o_offsets = _offsets_from_ids(o_seg, n)
    value = held[o_idx] * t.price[o_idx]
    o_code = t.ticker_code[o_idx]
    sums = _segment_sum(
        np.column_stack(
            (value, value * value, value * instruments.volatile[o_code], value * instruments.illiquid[o_code])
        ),
        o_offsets,
    )
    total_value = sums[:, 0]
    has_holdings = total_value > 0
    hhi = np.where(has_holdings, sums[:, 1] / (total_value * total_value), np.nan)
    volatile_share = np.where(has_holdings, sums[:, 2] / total_value, np.nan)
    illiquid_share = np.where(has_holdings, sums[:, 3] / total_value, np.nan)

    recent = rel_days <= RECENT_WINDOW_DAYS
    traded_12m_minor = _segment_sum(np.where(recent, cash_minor, 0), offsets)
    last_trade_days = _segment_reduce(np.minimum, rel_days, offsets, np.nan)

    # Cash flows (integer sums: order inside a segment does not matter).
    f_known = flows.timestamp_ns < app_ns[flows.segment]
    f_order = np.flatnonzero(f_known)
    f_order_seg = flows.segment[f_order]
    if len(f_order) > 1 and not (f_order_seg[1:] >= f_order_seg[:-1]).all():
        f_order = f_order[np.argsort(f_order_seg, kind="stable")]
    f_seg = flows.segment[f_order]
    f_offsets = _offsets_from_ids(f_seg, n)
    f_amount = flows.amount_minor[f_order]
    f_deposit = flows.is_deposit[f_order]
    f_recent = (app_ns[f_seg] - flows.timestamp_ns[f_order]) <= RECENT_WINDOW_DAYS * NS_PER_DAY
    deposit_amount = f_amount * f_deposit
    recent_amount = f_amount * f_recent
    deposits_all, deposits_12m, withdrawals_12m = _segment_sum(
        np.column_stack(
            (deposit_amount, deposit_amount * f_recent, recent_amount - deposit_amount * f_recent)
        ),
        f_offsets,
    ).T

    asset_base = np.maximum(assets, MIN_DENOMINATOR_MINOR).astype(np.float64)
    capital = np.maximum(np.maximum(deposits_all, assets), MIN_DENOMINATOR_MINOR).astype(np.float64)
    age_days = (app_ns - np.asarray(opened_ns, dtype=np.int64)) / NS_PER_DAY
    return {
        "account_age_days": age_days,
        "trade_count": count.astype(np.float64),
        "trades_per_month": count * 30.0 / np.maximum(age_days, 30.0),
        "turnover_12m_to_assets": traded_12m_minor / asset_base,
        "days_since_last_trade": last_trade_days.astype(np.float64),
        "closed_round_trips": trips.astype(np.float64),
        "avg_holding_days": avg_holding,
        "win_rate": win_rate,
        "pnl_return_volatility": vol,
        "realised_pnl_to_capital": realised_minor / capital,
        "max_drawdown_to_capital": max_drawdown_minor / capital,
        "open_positions": _sizes(o_offsets).astype(np.float64),
        "holdings_hhi": hhi,
        "volatile_share_holdings": volatile_share,
        "illiquid_share_holdings": illiquid_share,
        "deposits_12m_to_assets": deposits_12m / asset_base,
        "withdrawals_12m_to_assets": withdrawals_12m / asset_base,
    }


def _ends(starts: np.ndarray, m: int) -> np.ndarray:
    """Last row of each run, given the first rows of consecutive runs covering ``m`` rows."""
    return np.append(starts[1:], m) - 1 if len(starts) else starts


def _sizes(offsets: np.ndarray) -> np.ndarray:
    return offsets[1:] - offsets[:-1]


def _dense_group(offsets: np.ndarray) -> np.ndarray:
    """For each row, the rank of its (non-empty) segment among the non-empty segments."""
    if len(offsets) == 2:
        return np.zeros(int(offsets[1] - offsets[0]), dtype=np.int64)
    sizes = _sizes(offsets)
    return np.repeat(np.arange(int((sizes > 0).sum())), sizes[sizes > 0])


_FEATURE_SET = frozenset(FEATURES)


def _assemble(blocks: Sequence[Mapping[str, np.ndarray]], n: int) -> np.ndarray:
    merged: dict[str, np.ndarray] = {}
    for block in blocks:
        merged.update(block)
    if merged.keys() != _FEATURE_SET:
        missing, extra = _FEATURE_SET - merged.keys(), merged.keys() - _FEATURE_SET
        raise RuntimeError(
            f"builders and catalogue disagree: missing {sorted(missing)}, extra {sorted(extra)}"
        )
    if n == 1:  # the online path: one row, no column-by-column writes
        return np.array([[merged[name][0] for name in FEATURES]], dtype=np.float64)
    out = np.empty((n, len(FEATURES)), dtype=np.float64)
    for j, name in enumerate(FEATURES):
        out[:, j] = merged[name]
    return out


# --------------------------------------------------------------------------------------------
# the batch path


def _ns(values: Any) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[ns]").view(np.int64)


def _require(tables: Mapping[str, pd.DataFrame], name: str, columns: Sequence[str]) -> pd.DataFrame:
    if name not in tables:
        raise InputError(f"{name}: table missing", field=name)
    frame = tables[name]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{name}: missing columns {missing}", field=name)
    return frame


def _align(frame: pd.DataFrame, name: str, customer_ids: np.ndarray) -> pd.DataFrame:
    """Rows of ``frame`` (one per customer) in the order of ``customer_ids``."""
    index = pd.Index(frame["customer_id"].to_numpy())
    if not index.is_unique:
        raise InputError(f"{name}.customer_id: duplicate customers", field=f"{name}.customer_id")
    pos = index.get_indexer(customer_ids)
    if (pos < 0).any():
        missing = customer_ids[pos < 0][:5].tolist()
        raise InputError(f"{name}: no row for customers {missing}", field=f"{name}.customer_id")
    return frame.iloc[pos]


def _segments_of(customer_ids: np.ndarray, apps_customer: np.ndarray) -> np.ndarray:
    """Application row of each event; events of customers without an application get -1.

    Event tables usually come sorted by customer: then only the runs' customers are looked up.
    """
    if len(customer_ids) > 1 and (customer_ids[1:] >= customer_ids[:-1]).all():
        starts = np.flatnonzero(np.r_[True, customer_ids[1:] != customer_ids[:-1]])
        rows = pd.Index(apps_customer).get_indexer(customer_ids[starts]).astype(np.int64)
        return np.repeat(rows, np.diff(np.r_[starts, len(customer_ids)]))
    return pd.Index(apps_customer).get_indexer(customer_ids).astype(np.int64)


def _factorize(column: pd.Series, keep: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and distinct values of a string column: free for a categorical column
    (parquet dictionary encoding), one hashing pass for plain object strings."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()[keep].astype(np.int64)
        return codes, np.asarray(column.cat.categories, dtype=object)
    codes, uniques = pd.factorize(column.to_numpy(dtype=object)[keep])
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _category_codes(
    field: str, column: pd.Series, keep: slice | np.ndarray, allowed: tuple[str, ...]
) -> np.ndarray:
    """Position of each value in ``allowed``; unknown values are refused (hashing, not compares)."""
    codes, uniques = _factorize(column, keep)
    known = {value: i for i, value in enumerate(allowed)}
    used = uniques[np.unique(codes[codes >= 0])] if len(uniques) else uniques
    bad = sorted(str(u) for u in used if u not in known)
    if bad or (codes < 0).any():
        raise InputError(f"{field}: unknown values {(bad or ['<null>'])[:5]}; allowed {list(allowed)}")
    lookup = np.array([known.get(u, -1) for u in uniques], dtype=np.int64)
    return lookup[codes] if len(uniques) else codes


def _ticker_codes(column: pd.Series, keep: slice | np.ndarray, instruments: InstrumentIndex) -> np.ndarray:
    codes, uniques = _factorize(column, keep)
    if (codes < 0).any():
        raise InputError("trades.ticker: null ticker", field="trades.ticker")
    if not len(uniques):
        return codes
    used = np.unique(codes)
    lookup = np.full(len(uniques), -1, dtype=np.int64)
    lookup[used] = instruments.codes(uniques[used])  # unknown tickers that are used are refused
    return lookup[codes]


def trading_features(
    tables: Mapping[str, pd.DataFrame], instruments: InstrumentIndex | None = None
) -> pd.DataFrame:
    """Trading block of every application: ``application_id`` + the trading features."""
    apps = _require(tables, "applications", ["application_id", "customer_id", "application_date"])
    apps_customer = apps["customer_id"].to_numpy(dtype=np.int64)
    if not pd.Index(apps_customer).is_unique:
        raise InputError(
            "applications.customer_id: more than one application per customer",
            field="applications.customer_id",
        )
    customers = _align(
        _require(tables, "customers", ["customer_id", "account_opened_date"]), "customers", apps_customer
    )
    if instruments is None:
        instruments = InstrumentIndex.from_frame(_require(tables, "instruments", ["ticker"]))
    block = _trading_arrays(apps, customers, tables, instruments)
    frame = pd.DataFrame(block, columns=list(TRADING_FEATURES))
    frame.insert(0, "application_id", apps["application_id"].to_numpy(dtype=np.int64))
    return frame


def _trading_arrays(
    apps: pd.DataFrame,
    customers: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    instruments: InstrumentIndex,
) -> np.ndarray:
    apps_customer = apps["customer_id"].to_numpy(dtype=np.int64)
    trades = _require(
        tables,
        "trades",
        ["trade_id", "customer_id", "timestamp", "ticker", "side", "quantity", "price", "fees_minor"],
    )
    flows = _require(tables, "cash_flows", ["customer_id", "timestamp", "kind", "amount_minor"])
    t_seg = _segments_of(trades["customer_id"].to_numpy(dtype=np.int64), apps_customer)
    f_seg = _segments_of(flows["customer_id"].to_numpy(dtype=np.int64), apps_customer)
    # Events of customers without an application are dropped (a no-op copy avoided when none).
    t_keep: slice | np.ndarray = slice(None) if (t_seg >= 0).all() else np.flatnonzero(t_seg >= 0)
    f_keep: slice | np.ndarray = slice(None) if (f_seg >= 0).all() else np.flatnonzero(f_seg >= 0)
    side = _category_codes("trades.side", trades["side"], t_keep, ("buy", "sell"))
    kind = _category_codes("cash_flows.kind", flows["kind"], f_keep, ("deposit", "withdrawal"))
    trade_arrays = TradeArrays(
        segment=t_seg[t_keep],
        trade_id=trades["trade_id"].to_numpy(dtype=np.int64)[t_keep],
        timestamp_ns=_ns(trades["timestamp"].to_numpy()[t_keep]),
        ticker_code=_ticker_codes(trades["ticker"], t_keep, instruments),
        is_buy=side == 0,
        quantity=trades["quantity"].to_numpy(dtype=np.int64)[t_keep],
        price=trades["price"].to_numpy(dtype=np.float64)[t_keep],
        fees_minor=trades["fees_minor"].to_numpy(dtype=np.int64)[t_keep],
    )
    flow_arrays = FlowArrays(
        segment=f_seg[f_keep],
        timestamp_ns=_ns(flows["timestamp"].to_numpy()[f_keep]),
        is_deposit=kind == 0,
        amount_minor=flows["amount_minor"].to_numpy(dtype=np.int64)[f_keep],
    )
    block = trading_block(
        application_ns=_ns(apps["application_date"].to_numpy()),
        opened_ns=_ns(customers["account_opened_date"].to_numpy()),
        platform_assets_minor=apps["platform_assets_minor"].to_numpy(dtype=np.int64),
        trades=trade_arrays,
        flows=flow_arrays,
        instruments=instruments,
    )
    return np.column_stack([block[name] for name in TRADING_FEATURES])


def _check_categories(field: str, values: np.ndarray, allowed: tuple[str, ...]) -> None:
    bad = values != allowed[0]
    for value in allowed[1:]:
        bad &= values != value
    if bad.any():
        raise InputError(
            f"{field}: unknown values {sorted({str(v) for v in values[bad]})[:5]}; allowed {list(allowed)}"
        )


def build_features(
    tables: Mapping[str, pd.DataFrame], instruments: InstrumentIndex | None = None
) -> pd.DataFrame:
    """One row per application: the keys, then every catalogue feature in catalogue order."""
    apps = _require(
        tables,
        "applications",
        [
            "application_id",
            "customer_id",
            "application_date",
            "requested_line_minor",
            "platform_assets_minor",
        ],
    )
    apps_customer = apps["customer_id"].to_numpy(dtype=np.int64)
    if not pd.Index(apps_customer).is_unique:
        raise InputError(
            "applications.customer_id: more than one application per customer",
            field="applications.customer_id",
        )
    customers = _align(_require(tables, "customers", ["customer_id"]), "customers", apps_customer)
    bureau = _align(_require(tables, "bureau", ["customer_id"]), "bureau", apps_customer)
    if instruments is None:
        instruments = InstrumentIndex.from_frame(_require(tables, "instruments", ["ticker"]))
    requested = apps["requested_line_minor"].to_numpy()
    kyc = kyc_block(
        **{name: customers[name].to_numpy() for name in _KYC_COLUMNS}, requested_line_minor=requested
    )
    bur = bureau_block(**{name: bureau[name].to_numpy() for name in _BUREAU_COLUMNS})
    app = application_block(
        requested_line_minor=requested, platform_assets_minor=apps["platform_assets_minor"].to_numpy()
    )
    trading = _trading_arrays(apps, customers, tables, instruments)
    block = _assemble([kyc, bur, app, dict(zip(TRADING_FEATURES, trading.T, strict=True))], len(apps))
    frame = pd.DataFrame(block, columns=list(FEATURES))
    for position, key in enumerate(KEYS):
        values = apps[key].to_numpy()
        frame.insert(
            position,
            key,
            values.astype("datetime64[ns]") if key == "application_date" else values.astype(np.int64),
        )
    return frame


_KYC_COLUMNS = (
    "age",
    "annual_income_minor",
    "net_worth_minor",
    "liquid_assets_minor",
    "employment",
    "investing_experience_years",
    "risk_questionnaire_score",
    "identity_verified",
    "is_pep",
    "pep_reviewed",
    "sanctions_hit",
)
_BUREAU_COLUMNS = (
    "bureau_score",
    "open_accounts",
    "credit_utilisation",
    "delinquencies_24m",
    "inquiries_6m",
    "oldest_account_months",
    "debt_to_income",
    "bureau_default_24m",
)


# --------------------------------------------------------------------------------------------
# the online path: one applicant, plain values and arrays in, one float64 row out


def _field(mapping: Mapping[str, Any], table: str, name: str) -> Any:
    try:
        return mapping[name]
    except KeyError:
        raise InputError(f"{table}.{name}: required", field=f"{table}.{name}") from None


def online_features(
    *,
    application: Mapping[str, Any],
    customer: Mapping[str, Any],
    bureau: Mapping[str, Any],
    trades: Mapping[str, Any],
    cash_flows: Mapping[str, Any],
    instruments: InstrumentIndex,
) -> np.ndarray:
    """Features of one application at request time, in catalogue order (float64, shape (n,)).

    ``application``: application_date, requested_line_minor, platform_assets_minor.
    ``customer``: the KYC columns of ``customers`` (incl. account_opened_date).
    ``bureau``: the bureau columns. ``trades``: arrays or lists keyed like the ``trades`` table
    (trade_id optional; input order breaks timestamp ties then). ``cash_flows``: timestamp,
    kind, amount_minor. Events at or after the application date are ignored, as in training.
    """
    requested = np.array([_field(application, "application", "requested_line_minor")], dtype=np.int64)
    assets = np.array([_field(application, "application", "platform_assets_minor")], dtype=np.int64)
    app_ns = _ns([_field(application, "application", "application_date")])
    kyc = kyc_block(
        **{name: np.array([_field(customer, "customer", name)]) for name in _KYC_COLUMNS},
        requested_line_minor=requested,
    )
    bur = bureau_block(**{name: np.array([_field(bureau, "bureau", name)]) for name in _BUREAU_COLUMNS})
    app = application_block(requested_line_minor=requested, platform_assets_minor=assets)

    side = np.asarray(_field(trades, "trades", "side"), dtype=object)
    n_trades = len(side)
    if n_trades > MAX_TRADES_ONLINE:
        raise InputError(f"trades: at most {MAX_TRADES_ONLINE} per request, got {n_trades}", field="trades")
    columns = {
        name: np.asarray(_field(trades, "trades", name))
        for name in ("timestamp", "ticker", "quantity", "price", "fees_minor")
    }
    trade_id = np.asarray(trades.get("trade_id", np.arange(n_trades)), dtype=np.int64)
    for name, values in (*columns.items(), ("trade_id", trade_id)):
        if len(values) != n_trades:
            raise InputError(
                f"trades.{name}: {len(values)} values for {n_trades} trades", field=f"trades.{name}"
            )
    _check_categories("trades.side", side, ("buy", "sell"))
    # The batch path has its data contracts; a request gets the same rules checked here.
    quantity = columns["quantity"].astype(np.int64)
    price = columns["price"].astype(np.float64)
    fees = columns["fees_minor"].astype(np.int64)
    if n_trades and (
        quantity.min() <= 0 or not price.min() > 0 or fees.min() < 0 or not np.isfinite(price).all()
    ):
        field = "quantity" if quantity.min() <= 0 else "fees_minor" if fees.min() < 0 else "price"
        rule = {"quantity": "> 0", "price": "> 0 and finite", "fees_minor": ">= 0"}[field]
        raise InputError(f"trades.{field}: must be {rule}", field=f"trades.{field}")
    kind = np.asarray(_field(cash_flows, "cash_flows", "kind"), dtype=object)
    _check_categories("cash_flows.kind", kind, ("deposit", "withdrawal"))
    flow_ts = _ns(_field(cash_flows, "cash_flows", "timestamp"))
    flow_amount = np.asarray(_field(cash_flows, "cash_flows", "amount_minor"), dtype=np.int64)
    if not len(flow_ts) == len(flow_amount) == len(kind):
        raise InputError("cash_flows: timestamp, kind and amount_minor differ in length", field="cash_flows")
    if len(flow_amount) and flow_amount.min() <= 0:
        raise InputError("cash_flows.amount_minor: must be > 0", field="cash_flows.amount_minor")

    trading = trading_block(
        application_ns=app_ns,
        opened_ns=_ns([_field(customer, "customer", "account_opened_date")]),
        platform_assets_minor=assets,
        trades=TradeArrays(
            segment=np.zeros(n_trades, dtype=np.int64),
            trade_id=trade_id,
            timestamp_ns=_ns(columns["timestamp"]) if n_trades else np.zeros(0, np.int64),
            ticker_code=instruments.codes(columns["ticker"]),
            is_buy=side == "buy",
            quantity=quantity,
            price=price,
            fees_minor=fees,
        ),
        flows=FlowArrays(
            segment=np.zeros(len(flow_ts), dtype=np.int64),
            timestamp_ns=flow_ts,
            is_deposit=kind == "deposit",
            amount_minor=flow_amount,
        ),
        instruments=instruments,
    )
    return _assemble([kyc, bur, app, trading], 1)[0]
