"""Fixtures shared by the features tests: the price panel and generated populations."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from features.prices import PricePanel, load_price_panel
from pipelines.generate import generate_population, read_population
from tests.conftest import DATASETS_DIR

SP500 = DATASETS_DIR / "sp500_prices" / "daily_prices.parquet"

PopulationMaker = Callable[[int, int], dict[str, pd.DataFrame]]


@pytest.fixture(scope="session")
def panel() -> PricePanel:
    """Real S&P 500 paths when the shared data is here, the documented simulation otherwise."""
    return load_price_panel(SP500 if SP500.exists() else None)


@pytest.fixture(scope="session")
def make_population(panel: PricePanel, tmp_path_factory: pytest.TempPathFactory) -> PopulationMaker:
    """``make(customers, seed)``: a population generated on ``panel`` and read back from its files.

    Generating is the slow part of these tests, so each (customers, seed) is made once per
    session; tests read the frames and must not change them.
    """
    made: dict[tuple[int, int], dict[str, pd.DataFrame]] = {}

    def make(customers: int, seed: int) -> dict[str, pd.DataFrame]:
        if (customers, seed) not in made:
            out = tmp_path_factory.mktemp("pop") / "raw"
            generate_population(customers, seed, out, panel=panel)
            made[customers, seed] = read_population(out)
        return made[customers, seed]

    return make
