"""What a config makes exist: the strands (streams) its sources and models produce, and its boards.

Each layer that produces strands or drives boards appends one provider here (a function of the
config), so rules, grants and other checks all see the same set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from agent.config.schema import Config, SimulatedSourceConfig

Provider = Callable[[Config], Iterable[str]]


def _simulated_strands(config: Config) -> Iterable[str]:
    from agent.sources.simulated import load_table

    for source in config.sources:
        if isinstance(source, SimulatedSourceConfig):
            yield from (info.name for info in load_table(source.name, source.file).streams)


STRAND_PROVIDERS: list[Provider] = [_simulated_strands]
"""Functions naming the strands a config produces (sources' streams, models' context strands)."""

BOARD_PROVIDERS: list[Provider] = []
"""Functions naming the boards a config can send commands to (firmware bridge sources)."""


def known_strands(config: Config) -> frozenset[str]:
    """Every strand the configured sources and models can produce."""
    return frozenset(name for provider in STRAND_PROVIDERS for name in provider(config))


def known_boards(config: Config) -> frozenset[str]:
    """Every board name a rule action or a switch may address."""
    return frozenset(name for provider in BOARD_PROVIDERS for name in provider(config))
