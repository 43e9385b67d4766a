"""The one place that decides how many threads LightGBM may use.

Training defaults to one thread: on a shared, busy machine OpenMP threads wait on each
other at every barrier (a 100k-row fit took 466 s with 2 threads at load ~8 here); pass
``n_jobs`` to an estimator to use more on a machine of your own. Prediction of a small
batch also runs on one thread: waking OpenMP workers costs more than a few rows' work,
and a barrier wait on a busy box turns microseconds into milliseconds.
"""

from __future__ import annotations

from typing import Any

TRAIN_THREADS = 1
SINGLE_THREAD_BELOW_ROWS = 1000


def threads_for(rows: int) -> dict[str, Any]:
    """``Booster.predict`` keyword arguments for a batch of ``rows``."""
    return {"num_threads": 1} if rows < SINGLE_THREAD_BELOW_ROWS else {}
