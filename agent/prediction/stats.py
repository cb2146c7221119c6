"""Median and quantiles for the prediction layer, on ``np.sort`` (pure).

``np.median`` and ``np.quantile`` import ``numpy.ma`` on their first call, 1.2 MB of a hub's memory for
what a sort and an interpolation do; these give the same values (NumPy's default, linear method).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def quantiles(values: npt.ArrayLike, qs: Sequence[float]) -> list[float]:
    """The ``qs`` quantiles of ``values`` (at least one), linearly interpolated between order statistics."""
    ordered = np.sort(np.asarray(values, dtype=np.float64), axis=None)
    last = len(ordered) - 1
    if last < 0:
        raise ValueError("no values")
    out = []
    for q in qs:
        position = q * last
        below = min(math.floor(position), last)
        above = min(below + 1, last)
        low, high = float(ordered[below]), float(ordered[above])
        out.append(low + (high - low) * (position - below))
    return out


def median(values: npt.ArrayLike) -> float:
    """The median of ``values`` (at least one)."""
    return quantiles(values, (0.5,))[0]
