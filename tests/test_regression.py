"""Results-table regression in the style of DAPPER: fixed seeds, expected scores.

Background and 3D-Var on the first four shipped test cases with random observations. If a
deliberate change to the world, the observation operator or the 3D-Var moves these numbers,
re-run ``benchmarks/world_bench.py``, check the new table makes sense, and update them here.
"""

import pytest

from alignda.analysis.threedvar import BackgroundError, ThreeDVar
from alignda.checkpoints import resolve
from alignda.evaluation.experiments import baseline_table
from alignda.paths import SHIPPED_CASES
from alignda.world.cases import Cases
from alignda.world.stats import WorldStats

EXPECTED = {
    "background": {"MSE": 0.15769, "RMSE z": 41.970, "RMSE u": 4.9358},
    "3D-Var 1%": {"MSE": 0.080322, "RMSE z": 22.491, "RMSE u": 3.4938},
    "3D-Var 5%": {"MSE": 0.019003, "RMSE z": 8.8994, "RMSE u": 1.6482},
}


@pytest.fixture(scope="module")
def table():
    cases = Cases.open(SHIPPED_CASES)
    stats = WorldStats.load(resolve("world_stats"))
    var = ThreeDVar(BackgroundError.load(resolve("threedvar_b")))
    return baseline_table(cases, stats, var, [0.01, 0.05], seed=0, n_cases=4)[0]


@pytest.mark.parametrize("method", list(EXPECTED))
def test_scores_match_table(table, method):
    for column, expected in EXPECTED[method].items():
        assert table.loc[method, column] == pytest.approx(expected, rel=2e-3), column


def test_ordering(table):
    mse = table["MSE"]
    assert mse["3D-Var 5%"] < mse["3D-Var 1%"] < 0.7 * mse["background"]
