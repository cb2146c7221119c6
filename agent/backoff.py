"""Capped exponential backoff with jitter, for restarting what failed."""

from __future__ import annotations

import random


class Backoff:
    """Delays of ``base * 2**n`` seconds capped at ``cap``, each jittered into its upper half.

    The jitter keeps a fleet of hubs (or a house of sources) from retrying in lock-step.
    """

    def __init__(self, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one attempt."""
        ceiling = min(self.cap, self.base * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return float(ceiling / 2 + self._rng.uniform(0, ceiling / 2))

    def reset(self) -> None:
        """Start again from ``base`` (after a success)."""
        self.attempts = 0
