"""The Dask trading builder gives exactly the pandas numbers, whatever the partitioning."""

from __future__ import annotations

import pandas as pd
import pytest

from creditdesk.errors import InputError
from features.builders import trading_features
from features.distributed import compute_trading_features, trading_features_dask
from tests.features.feature_tables import random_population


@pytest.mark.parametrize("npartitions", [1, 3, 7])
def test_dask_equals_pandas_exactly(npartitions: int) -> None:
    tables = random_population(70, seed=21)
    expected = trading_features(tables)
    result = compute_trading_features(tables, npartitions, scheduler="synchronous")
    pd.testing.assert_frame_equal(result, expected)


def test_dask_equals_pandas_on_a_threaded_scheduler_with_shuffled_inputs() -> None:
    tables = random_population(50, seed=22)
    shuffled = {name: frame.sample(frac=1.0, random_state=1) for name, frame in tables.items()}
    expected = trading_features(tables)
    result = compute_trading_features(shuffled, 4, scheduler="threads")
    # Rows follow the order of the applications given; compare by application.
    pd.testing.assert_frame_equal(
        result.set_index("application_id").sort_index(), expected.set_index("application_id").sort_index()
    )


def test_partitions_follow_customer_ranges() -> None:
    tables = random_population(40, seed=23)
    lazy = trading_features_dask(tables, 4)
    assert lazy.npartitions == 4
    assert lazy.divisions[0] == 1 and lazy.divisions[-1] == 40


def test_bad_partition_count_is_refused() -> None:
    with pytest.raises(InputError, match="npartitions"):
        trading_features_dask(random_population(3, seed=1), 0)
