"""Small synthetic credit data with a known, monotone signal (fast to fit)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def credit_frame(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    util = rng.uniform(0, 1, n)
    income = rng.lognormal(10, 0.5, n)
    late = rng.poisson(0.5, n).astype(float)
    noise = rng.normal(size=n)
    region = rng.choice(["north", "south", "east"], n)
    logit = -3.0 + 2.0 * util - 0.8 * (np.log(income) - 10) + 0.7 * late + 0.3 * (region == "east")
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    util[rng.uniform(size=n) < 0.05] = np.nan  # missing values must be handled
    frame = pd.DataFrame(
        {"utilisation": util, "income": income, "late_payments": late, "noise": noise, "region": region}
    )
    frame["region"] = frame["region"].astype("category")
    return frame, y


MONOTONE = {"utilisation": 1, "income": -1, "late_payments": 1}
DESCRIPTIONS = {
    "utilisation": "Share of revolving credit in use",
    "income": "Annual income",
    "late_payments": "Number of late payments in the last two years",
    "noise": "An unrelated number",
    "region": "Region",
}
