"""Differential privacy for what a grant lets leave: noisy window summaries and the owner's budget (pure).

The noise is OpenDP's (vetted samplers, floating-point-safe sums), never written here. The unit of
privacy is one reading: two windows are neighbours when one has a reading more or less than the other
(symmetric distance 1). A release is a window's count and its sum with every value clamped to the
policy's bounds, each measured separately and composed (OpenDP's composition: with Laplace noise the
epsilons of the two add up, with Gaussian noise the rhos of zero-concentrated DP); the mean is their
quotient, which costs no privacy (post-processing). OpenDP's privacy map of the composed measurement
is what the budget is charged, so the figure the owner sees is the one the library proves.

The budget is per recipient and period: every release debits it, and a release that would take it past
its cap is not made until the next period begins (periods are aligned to multiples of their length since
the Unix epoch, so a restart does not renew a budget early).
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, NamedTuple

from agent.config.durations import PATTERN, seconds
from agent.errors import ConsentError

Mechanism = Literal["laplace", "gaussian"]


@dataclass(frozen=True, slots=True)
class DpPolicy:
    """How a grant's summaries are noised: mechanism, loss per release (epsilon, or rho for Gaussian),
    clamping bounds, and a cap on the loss per recipient per period."""

    mechanism: Mechanism
    per_release: float
    lower: float
    upper: float
    cap: float
    period_s: float = 86400.0

    def check(self) -> None:
        """``ConsentError`` naming what is wrong with the policy."""
        if self.mechanism not in ("laplace", "gaussian"):
            raise ConsentError(
                f"unknown mechanism {self.mechanism!r}", hint="laplace or gaussian", field="dp"
            )
        if not (math.isfinite(self.per_release) and self.per_release > 0):
            raise ConsentError("the privacy loss per release must be a positive number", field=self.unit)
        if not (math.isfinite(self.lower) and math.isfinite(self.upper) and self.lower < self.upper):
            raise ConsentError(
                f"bounds {self.lower}..{self.upper} must be finite, lower below upper",
                field="bounds",
                example="10..35",
            )
        if not (self.cap >= self.per_release):
            raise ConsentError(
                f"a cap of {self.cap:g} per period allows no release of {self.per_release:g}",
                hint="raise the cap or lower the loss per release",
                field="budget",
            )
        if not self.period_s > 0:
            raise ConsentError("the budget period must be positive", field="budget", example="8/day")

    @property
    def unit(self) -> str:
        """What the loss is measured in: epsilon (pure DP) or rho (zero-concentrated DP)."""
        return "epsilon" if self.mechanism == "laplace" else "rho"


def describe(policy: DpPolicy) -> dict[str, Any]:
    """The policy as every noisy message and receipt names it."""
    return {
        "mechanism": policy.mechanism,
        policy.unit: policy.per_release,
        "bounds": [policy.lower, policy.upper],
        "cap": policy.cap,
        "period_s": policy.period_s,
        "composition": "basic (epsilons add up)" if policy.mechanism == "laplace" else "zCDP (rhos add up)",
    }


class Release(NamedTuple):
    """One noisy window summary (``n``: the noisy count) and the privacy loss it cost."""

    n: float
    total: float
    mean: float | None
    loss: float


class NoisySummary:
    """The OpenDP measurement of one policy, built once: ``release(values)`` noises a window."""

    def __init__(self, policy: DpPolicy) -> None:
        policy.check()
        self.policy = policy
        self._measurement, self.loss, self.scales = _measurement(
            policy.mechanism, policy.per_release, policy.lower, policy.upper
        )

    def release(self, values: Sequence[float]) -> Release:
        """Noisy count, clamped sum and their mean for one window of readings."""
        n, total = self._measurement([float(v) for v in values if math.isfinite(v)])
        mean = None
        if n >= 1:
            mean = min(max(total / n, self.policy.lower), self.policy.upper)
        return Release(float(n), float(total), mean, self.loss)

    def typical_error(self, n: int) -> float:
        """The standard deviation of the released sum's noise divided by ``n``: a mean's typical error."""
        _count_scale, sum_scale = self.scales
        sd = sum_scale * (math.sqrt(2) if self.policy.mechanism == "laplace" else 1.0)
        return sd / max(n, 1)


def held() -> str | None:
    """Why noised grants are held on this hub (OpenDP, the ``dp`` extra, is not installed), or None.

    The one wording of it, for every place that shows a noised grant (``hearth consent``, the dashboard).
    """
    if importlib.util.find_spec("opendp") is not None:
        return None
    return "held: OpenDP is not installed (pip install 'hearth-agent[dp]'), nothing of it leaves"


@cache
def _measurement(
    mechanism: Mechanism, loss: float, lower: float, upper: float
) -> tuple[Any, float, tuple[float, float]]:
    """The composed OpenDP measurement with half of ``loss`` on the count and half on the clamped sum."""
    try:
        import opendp.prelude
    except ImportError as exc:  # an optional extra: absent on 32-bit systems, where it has no build
        raise ConsentError(
            f"noised grants need OpenDP, which is not installed here ({exc})",
            hint="pip install 'hearth-agent[dp]' (scripts/install-service does on 64-bit systems)",
        ) from None

    dp: Any = opendp.prelude  # partly typed: its combinators are used as the library documents them
    dp.enable_features("contrib")
    space: Any = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance()
    noise = dp.m.then_laplace if mechanism == "laplace" else dp.m.then_gaussian

    def count(scale: float) -> Any:
        return space >> dp.t.then_count() >> noise(scale)

    def total(scale: float) -> Any:
        return space >> dp.t.then_clamp((lower, upper)) >> dp.t.then_sum() >> noise(scale)

    half = loss / 2
    count_scale = dp.binary_search_param(count, d_in=1, d_out=half, T=float)
    sum_scale = dp.binary_search_param(total, d_in=1, d_out=half, T=float)
    measurement: Any = dp.c.make_composition([count(count_scale), total(sum_scale)])
    return measurement, float(measurement.map(1)), (float(count_scale), float(sum_scale))


# -- the budget ------------------------------------------------------------------------------------


class Budget(NamedTuple):
    """What one recipient's releases spent in the period that began at ``period_start``."""

    period_start: float
    spent: float


def period_start(now: float, period_s: float) -> float:
    """The start of the budget period holding ``now``."""
    return math.floor(now / period_s) * period_s


def charge(
    budget: Budget | None, *, loss: float, cap: float, period_s: float, now: float
) -> tuple[Budget, bool]:
    """The budget after a release costing ``loss`` at ``now``, and whether the release may be made.

    A release that would pass ``cap`` is refused and costs nothing; a new period starts from nothing.
    """
    start = period_start(now, period_s)
    spent = budget.spent if budget is not None and budget.period_start == start else 0.0
    # A hair of slack for the library's float rounding of the same loss added up several times.
    if spent + loss > cap * (1 + 1e-9):
        return Budget(start, spent), False
    return Budget(start, spent + loss), True


# -- the owner's words -----------------------------------------------------------------------------

_PERIODS = {"hour": 3600.0, "day": 86400.0, "week": 7 * 86400.0}


def policy_from_options(
    mechanism: str, *, epsilon: float | None, rho: float | None, bounds: str | None, budget: str | None
) -> DpPolicy:
    """The policy that a mechanism, its loss per release (``epsilon`` or ``rho``), ``bounds`` (``LO..HI``)
    and a ``budget`` (``N/PERIOD``) describe; ``ConsentError`` naming the field that is wrong."""
    if mechanism not in ("laplace", "gaussian"):
        raise ConsentError(
            f"unknown noise mechanism {mechanism!r}",
            hint="laplace or gaussian",
            field="dp",
            example="laplace",
        )
    unit, given, other = ("epsilon", epsilon, rho) if mechanism == "laplace" else ("rho", rho, epsilon)
    if given is None or other is not None:
        raise ConsentError(
            f"{mechanism} noise takes its loss per release as {unit}",
            field=unit,
            example="0.5" if unit == "epsilon" else "0.05",
        )
    if bounds is None:
        raise ConsentError(
            "noise needs bounds LO..HI: values are clamped to them", field="bounds", example="10..35"
        )
    lo_text, sep, hi_text = bounds.partition("..")
    try:
        lower, upper = float(lo_text), float(hi_text)
    except ValueError:
        lower = upper = math.nan
    if not sep or math.isnan(lower) or math.isnan(upper):
        raise ConsentError(
            f"invalid bounds {bounds!r}", hint="two numbers joined by '..'", field="bounds", example="10..35"
        )
    if budget is None:
        raise ConsentError(
            f"noise needs a budget N/PERIOD, the cap on {unit}", field="budget", example="8/day"
        )
    cap_text, sep, period = budget.partition("/")
    try:
        cap = float(cap_text)
    except ValueError:
        cap = math.nan
    period_s = _PERIODS.get(period)
    if period_s is None and re.match(PATTERN, period):
        period_s = seconds(period)
    if not sep or math.isnan(cap) or period_s is None:
        raise ConsentError(
            f"invalid budget {budget!r}",
            hint="a cap and a period: 8/day, 2/hour, 20/week or 4/12h",
            field="budget",
            example="8/day",
        )
    policy = DpPolicy(mechanism, given, lower, upper, cap, period_s)  # type: ignore[arg-type]
    policy.check()
    return policy
