"""The generator's cn admission inputs (issue 13) and the knock-outs that use them.

Source: CSRC 证券公司融资融券业务管理办法 (2015) art. 11 and the exchanges' admission guidance:
a margin account needs at least 6 months of trading, at least CNY 500,000 of average daily
assets over the last 20 trading days, no major default, and must not be a related party of
the broker. The generator writes ``avg_daily_assets_20d_minor`` (applications) and
``related_party`` (customers); the batch decision path feeds them to the cn knock-outs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.prices import PricePanel
from features.synthetic import ASSETS_WINDOW_DAYS, PopulationConfig
from pipelines.decide_batch import decided_frame, decision_frame
from pipelines.generate import generate_population, read_population
from pricing.policy import policy_for_regime
from pricing.reasons import REASON_BY_CODE
from tests.features.conftest import PopulationMaker

pytestmark = pytest.mark.slow  # generates two small populations (~1 min under load)

N = 3_000


@pytest.fixture(scope="module")
def population(make_population: PopulationMaker) -> dict[str, pd.DataFrame]:
    return make_population(N, 21)


def _avg_assets_by_hand(pop: dict[str, pd.DataFrame], customer_id: int) -> float:
    """From the published tables only: mean over the 20 sessions before the application of
    max(opening deposit, Σ shares held at that close × close)."""
    app = pop["applications"].set_index("customer_id").loc[customer_id, "application_date"]
    sessions = np.sort(pop["prices"]["date"].unique())
    window = sessions[sessions < np.datetime64(app)][-ASSETS_WINDOW_DAYS:]
    flows = pop["cash_flows"][pop["cash_flows"]["customer_id"] == customer_id]
    deposit = float(flows.sort_values("timestamp")["amount_minor"].iloc[0])
    trades = pop["trades"][pop["trades"]["customer_id"] == customer_id].set_index("trade_id")
    buys = trades[trades["side"] == "buy"]
    sold = trades["timestamp"].reindex(buys.index + 1)  # a trip's sell is its buy id + 1
    close = pop["prices"].set_index(["date", "ticker"])["close"]
    daily = []
    for day in window:
        end = day + np.timedelta64(1, "D")
        held = (buys["timestamp"] < end) & ~(sold.to_numpy() < end)
        value = sum(
            q * close[(day, t)] * 100
            for q, t in zip(buys["quantity"][held], buys["ticker"][held], strict=True)
        )
        daily.append(max(deposit, value))
    return float(np.mean(daily))


def test_average_daily_assets_follow_the_published_trades_and_closes(
    population: dict[str, pd.DataFrame],
) -> None:
    apps = population["applications"]
    assert (apps["avg_daily_assets_20d_minor"] > 0).all()
    rng = np.random.default_rng(0)
    for cid in rng.choice(apps["customer_id"].to_numpy(), 40, replace=False).tolist():
        stored = float(apps.set_index("customer_id").loc[cid, "avg_daily_assets_20d_minor"])
        assert stored == pytest.approx(_avg_assets_by_hand(population, cid), rel=1e-4, abs=100)
    # not the same number as the assets at the last close: the window moves with the market
    differs = (apps["avg_daily_assets_20d_minor"] != apps["platform_assets_minor"]).mean()
    assert differs > 0.1


def test_related_parties_are_a_small_share_on_their_own_stream(
    population: dict[str, pd.DataFrame], panel: PricePanel, tmp_path: Path
) -> None:
    related = population["customers"]["related_party"]
    assert related.dtype == bool and 0.003 * N <= related.sum() <= 0.02 * N
    # another share redraws only the flag: every other table and column stays byte-identical
    config = replace(PopulationConfig(), related_party_share=0.5)
    generate_population(N, 21, tmp_path / "half", panel=panel, config=config)
    other = read_population(tmp_path / "half")
    assert 0.45 * N <= other["customers"]["related_party"].sum() <= 0.55 * N
    for name, frame in population.items():
        drop = ["related_party"] if name == "customers" else []
        pd.testing.assert_frame_equal(frame.drop(columns=drop), other[name].drop(columns=drop))


def test_cn_knockouts_use_the_generated_inputs(population: dict[str, pd.DataFrame]) -> None:
    apps = population["applications"]
    n = len(apps)
    scored = pd.DataFrame(
        {
            "application_id": apps["application_id"],
            "pd_12m": np.full(n, 0.01),
            "grade": np.full(n, 3),
            "lgd": np.full(n, 0.3),
            "ccf": np.full(n, 0.8),
        }
    )
    feats = pd.DataFrame({"application_id": apps["application_id"], "account_age_days": np.full(n, 400)})
    policy = policy_for_regime("cn")
    decided = decided_frame(decision_frame(scored, feats, population), policy).set_index("customer_id")
    mask = decided["reason_mask"].to_numpy(dtype=np.int64)
    related = population["customers"].set_index("customer_id")["related_party"].reindex(decided.index)
    ko_related = (mask & REASON_BY_CODE["KO_RELATED_PARTY"].flag) != 0
    assert related.any() and (ko_related == related.to_numpy()).all()
    assert (decided.loc[related.to_numpy(), "outcome"] == "decline").all()
    # below CNY 500,000 on the 20-day average though the last close was above: knocked out
    floor = policy.knockouts.min_avg_daily_assets_20d_minor
    dipped = (decided["avg_daily_assets_20d_minor"] < floor) & (decided["platform_assets_minor"] >= floor)
    ko_assets = (mask & REASON_BY_CODE["KO_ASSETS"].flag) != 0
    assert dipped.any() and ko_assets[dipped.to_numpy()].all()
    assert not ko_assets[(decided["avg_daily_assets_20d_minor"] >= floor).to_numpy()].any()
