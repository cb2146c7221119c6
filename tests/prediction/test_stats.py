"""The prediction layer's median and quantiles: NumPy's values, without loading ``numpy.ma`` on a hub."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from agent.prediction.stats import median, quantiles


@pytest.mark.parametrize("n", [1, 2, 3, 10, 721])
def test_the_same_values_as_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    for dtype in (np.float64, np.float32):
        values = rng.normal(0, 5, n).astype(dtype)
        qs = (0.0, 0.1, 0.25, 0.5, 0.9, 1.0)
        assert quantiles(values, qs) == pytest.approx(np.quantile(values.astype(np.float64), qs), abs=1e-9)
        assert median(values) == pytest.approx(float(np.median(values.astype(np.float64))), abs=1e-9)
    assert median([3.0, 1.0, 2.0]) == 2.0


def test_nothing_has_no_median() -> None:
    with pytest.raises(ValueError, match="no values"):
        median([])


LEARN = """
import sys
import numpy as np
from agent.prediction.battery import estimate
from agent.prediction.forecast import Forecaster, Season
from agent.prediction.pattern import DayPattern

times = 1_700_000_000.0 + 3600.0 * np.arange(24 * 30)
values = 20 + 3 * np.sin(2 * np.pi * np.arange(len(times)) / 24)
model = Forecaster(season=Season(3600.0), max_horizon=6)
model.fit(times, values)
model.forecast([1, 6])
pattern = DayPattern(Season(3600.0))
verdicts = [v for t, y in zip(times, values) for v in pattern.step(float(t), float(y))]
assert verdicts
assert estimate(list(times[:50]), [90 - i / 10 for i in range(50)]) is not None
print("numpy.ma" in sys.modules)
"""


def test_learning_forecasting_and_judging_leave_numpy_ma_unloaded() -> None:
    """``numpy.ma`` is 1.2 MB of RSS that no part of the hub's prediction path needs."""
    done = subprocess.run(
        [sys.executable, "-c", LEARN], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]
