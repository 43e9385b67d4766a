"""Master scale: grade edges, floor, default grade, monotonicity."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditdesk.errors import InputError
from models.master_scale import DEFAULT_GRADE, GRADE_BANDS, PD_FLOOR, floor_pd, grade_of, grade_pd


def test_grade_edges_by_hand() -> None:
    pds = [0.0, 0.0005, 0.00099, 0.001, 0.0019, 0.002, 0.03, 0.032, 0.2, 0.256, 0.999, 1.0]
    assert grade_of(pds).tolist() == [1, 1, 1, 2, 2, 3, 6, 7, 9, 10, 10, 11]


def test_bands_are_contiguous_and_cover_floor_to_one() -> None:
    assert [b.grade for b in GRADE_BANDS] == list(range(1, 11))
    assert GRADE_BANDS[0].pd_lower == PD_FLOOR
    assert GRADE_BANDS[-1].pd_upper == 1.0
    for lower, upper in itertools.pairwise(GRADE_BANDS):
        assert lower.pd_upper == upper.pd_lower
    # a band's representative PD grades into the band itself
    mids = np.array([b.pd_mid for b in GRADE_BANDS])
    assert grade_of(mids).tolist() == list(range(1, 11))
    assert grade_pd([1, 11]).tolist() == pytest.approx([np.sqrt(0.0005 * 0.001), 1.0])


def test_floor_and_default_flag() -> None:
    assert floor_pd([0.0, 0.01]).tolist() == [PD_FLOOR, 0.01]
    assert grade_of([0.01, 0.01], defaulted=[False, True]).tolist() == [5, DEFAULT_GRADE]
    with pytest.raises(InputError):
        grade_of([0.1, float("nan")])
    with pytest.raises(InputError):
        grade_of([1.2])
    with pytest.raises(InputError):
        grade_pd([0])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=50))
def test_grades_monotone_in_pd(pds: list[float]) -> None:
    arr = np.sort(np.array(pds))
    grades = grade_of(arr)
    assert np.all(np.diff(grades) >= 0)
    assert grades.min() >= 1 and grades.max() <= DEFAULT_GRADE
