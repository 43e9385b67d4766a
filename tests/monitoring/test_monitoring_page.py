"""The committee page: sections in order, escaping, capped detail, no script."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitoring.contract import check_pair
from monitoring.page import MAX_CSI_ROWS, render_index
from monitoring.report import build_report


def _page(reference: pd.DataFrame, current: pd.DataFrame) -> str:
    report = build_report(check_pair(reference, current))
    return render_index(
        report,
        reference["pd_12m"].to_numpy(),
        current["pd_12m"].to_numpy(),
        evidently_href=None,
        labels={"<b>odd</b>": "a <script>alert(1)</script> description"},
    )


def test_page_escapes_names_caps_csi_tables_and_orders_sections() -> None:
    n = 3000
    levels = np.array([f"level{i:03d}" for i in range(100)])

    def frame(seed: int) -> pd.DataFrame:
        r = np.random.default_rng(seed)
        return pd.DataFrame(
            {
                "<b>odd</b>": r.normal(size=n),
                "branch": levels[r.integers(0, 100, n)],
                "pd_12m": r.uniform(0.01, 0.2, n),
            }
        )

    page = _page(frame(1), frame(2))
    assert "<b>odd</b>" not in page and "&lt;b&gt;odd&lt;/b&gt;" in page
    assert "<script" not in page
    assert f"The {MAX_CSI_ROWS} largest of 100 bins." in page
    positions = [page.index(f'id="{s}"') for s in ("summary", "stability", "score", "performance")]
    assert positions == sorted(positions)
    assert "No matured outcomes" in page  # no default_12m: the section says why it is empty
    assert "Evidently detail report not produced" in page


def test_numbers_are_formatted_for_reading() -> None:
    from monitoring.page import _fmt

    assert _fmt(19_740.4) == "19,740"  # money in minor units: whole, with separators
    assert _fmt(0.0153312) == "0.01533"
    assert _fmt(np.int64(2471)) == "2,471"
    assert _fmt(float("nan")) == "–" and _fmt(None) == "–"
    assert _fmt(True) == "yes"
