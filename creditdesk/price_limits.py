"""Daily price limits of the Chinese exchanges (涨跌幅限制), shared by the margin stress
replay and the generator's outcome simulation.

Source: SSE/SZSE 交易规则 (涨跌幅限制): ±10 % main board, ±20 % ChiNext (创业板) and STAR
(科创板), ±5 % for main-board shares under risk warning (ST / *ST). A share closing at its
limit-down price cannot be sold that day — the sell queue at the limit is not filled — so a
forced liquidation rolls to the next session: the gap risk that dominated Chinese margin
books in 2015. Pure numpy; no clock.
"""

from __future__ import annotations

import numpy as np

from creditdesk.errors import InputError

BOARDS = ("main", "chinext", "star", "st")
# board -> daily price limit as a fraction of the previous close
PRICE_LIMIT_BY_BOARD: dict[str, float] = {"main": 0.10, "chinext": 0.20, "star": 0.20, "st": 0.05}


def price_limit(board: str) -> float:
    """Daily up/down limit of ``board`` as a fraction of the previous close."""
    try:
        return PRICE_LIMIT_BY_BOARD[board]
    except KeyError as exc:
        raise InputError(f"board must be one of {list(BOARDS)}, got {board!r}", field="board") from exc


def at_limit_down(
    close: np.ndarray, prev_close: np.ndarray, limit: np.ndarray | float, tick: float = 0.01
) -> np.ndarray:
    """Whether each close sits at its limit-down price (within one tick of prev × (1 − limit))."""
    floor_price = prev_close * (1.0 - np.asarray(limit, dtype=np.float64))
    return np.asarray((prev_close > 0) & (close <= floor_price + tick))


def limit_path(close: np.ndarray, limit: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Replay an unlimited price history [days × names] under daily limits.

    Each day the limited price moves towards the unlimited close but by at most ``limit`` of
    the previous limited close; a name whose move was cut at the lower bound closed at
    limit-down and is ``locked`` (unsellable) that day. A fall from 100 to 75 on a main-board
    name becomes 90, 81, 75, locked the first two days. Row 0 is taken as given.
    Returns (limited close, locked).
    """
    close = np.asarray(close, dtype=np.float64)
    lim = np.broadcast_to(np.asarray(limit, dtype=np.float64), close.shape[1:])
    if (lim <= 0).any() or (lim >= 1).any():
        raise InputError("price limits must be fractions in (0, 1)", field="price_limit")
    out = close.copy()
    locked = np.zeros(close.shape, dtype=bool)
    for t in range(1, close.shape[0]):
        lo, hi = out[t - 1] * (1.0 - lim), out[t - 1] * (1.0 + lim)
        locked[t] = close[t] <= lo
        out[t] = np.clip(close[t], lo, hi)
    return out, locked
