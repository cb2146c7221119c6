"""Noisy summaries: OpenDP's privacy maps give the stated loss, bounds clamp, neighbouring windows stay
within e^ε of each other, and the budget refuses what would pass its cap until the period renews."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.consent.dp import Budget, DpPolicy, NoisySummary, charge
from agent.errors import ConsentError

DAY = 86400.0


def laplace(epsilon: float = 1.0, lower: float = 0.0, upper: float = 40.0) -> DpPolicy:
    return DpPolicy("laplace", epsilon, lower, upper, cap=10 * epsilon)


@pytest.mark.parametrize(("mechanism", "loss"), [("laplace", 0.5), ("laplace", 2.0), ("gaussian", 0.1)])
def test_the_privacy_map_gives_the_stated_loss(mechanism: str, loss: float) -> None:
    policy = DpPolicy(mechanism, loss, 0.0, 40.0, cap=loss * 5)  # type: ignore[arg-type]
    summary = NoisySummary(policy)
    assert summary.loss == pytest.approx(loss, rel=1e-6)
    assert policy.unit == ("epsilon" if mechanism == "laplace" else "rho")


def test_values_beyond_the_bounds_are_clamped() -> None:
    summary = NoisySummary(laplace(epsilon=1e6, lower=0.0, upper=40.0))  # next to no noise
    made = summary.release([1000.0, -50.0, 20.0, math.nan])
    assert made.n == pytest.approx(3, abs=0.01)
    assert made.total == pytest.approx(60.0, abs=0.01)
    assert made.mean == pytest.approx(20.0, abs=0.01)


def test_a_mean_stays_within_the_bounds_and_the_error_shrinks_with_more_readings() -> None:
    summary = NoisySummary(laplace(epsilon=0.5))
    means = [summary.release([20.0] * 3).mean for _ in range(200)]
    assert all(m is None or 0.0 <= m <= 40.0 for m in means)
    assert summary.typical_error(600) < summary.typical_error(60) / 5


def test_neighbouring_windows_are_told_apart_no_better_than_e_to_the_epsilon() -> None:
    """The released sums of two windows differing by one reading at the bound: for every threshold, the
    share above it under one window is at most e^ε times the share under the other (plus sampling slack)."""
    epsilon = 1.0
    summary = NoisySummary(laplace(epsilon=epsilon))
    base = [20.0] * 30
    neighbour = [*base, 40.0]
    runs = 4000
    a = np.array([summary.release(base).total for _ in range(runs)])
    b = np.array([summary.release(neighbour).total for _ in range(runs)])
    bound = math.exp(epsilon)
    for threshold in np.quantile(np.concatenate([a, b]), np.linspace(0.1, 0.9, 9)):
        pa, pb = float(np.mean(a > threshold)), float(np.mean(b > threshold))
        # Five standard errors of pb - e^eps * pa, each share's variance at most 1/4.
        slack = 5 * math.sqrt((1 + bound**2) * 0.25 / runs)
        assert pb <= bound * pa + slack
        assert pa <= bound * pb + slack
    # And the two windows do differ: the test could fail if the noise were too small.
    assert abs(float(np.mean(b)) - float(np.mean(a))) > 20


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (DpPolicy("laplace", 0.0, 0.0, 1.0, cap=1.0), "positive"),
        (DpPolicy("laplace", 1.0, 5.0, 1.0, cap=1.0), "lower below upper"),
        (DpPolicy("laplace", 1.0, 0.0, math.inf, cap=1.0), "finite"),
        (DpPolicy("laplace", 1.0, 0.0, 1.0, cap=0.5), "allows no release"),
        (DpPolicy("uniform", 1.0, 0.0, 1.0, cap=1.0), "unknown mechanism"),  # type: ignore[arg-type]
    ],
)
def test_a_policy_that_makes_no_sense_is_refused_clearly(policy: DpPolicy, message: str) -> None:
    with pytest.raises(ConsentError, match=message):
        policy.check()


def test_the_budget_refuses_past_its_cap_and_renews_with_the_period() -> None:
    now = 10 * DAY + 3600
    budget: Budget | None = None
    allowed = []
    for i in range(5):
        budget, ok = charge(budget, loss=1.0, cap=3.0, period_s=DAY, now=now + i)
        allowed.append(ok)
    assert allowed == [True, True, True, False, False]
    assert budget is not None
    assert budget.spent == 3.0
    budget, ok = charge(budget, loss=1.0, cap=3.0, period_s=DAY, now=11 * DAY)
    assert ok
    assert budget == Budget(11 * DAY, 1.0)
