"""What a config makes exist: the strands (streams) its sources and models produce, and its boards.

Each layer that produces strands or drives boards has one provider here (a function of the config),
so rules, grants and other checks all see the same set. A strand ending in ``.*`` stands for every
stream of that device: a serial board names its sensors only when it connects (HELLO), and a BLE
device's streams follow from its adverts once the owner has adopted it.

It lives with the sources, not the config, because the providers read a simulated source's table and
the BLE adoptions in the readings file; the rules check (``agent.rules.validate``) is its user.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from pathlib import Path

from agent.config.schema import BleSourceConfig, Config, SerialSourceConfig, SimulatedSourceConfig

Provider = Callable[[Config], Iterable[str]]


def _simulated_strands(config: Config) -> Iterable[str]:
    from agent.sources.simulated import load_table

    for source in config.sources:
        if isinstance(source, SimulatedSourceConfig):
            yield from (info.name for info in load_table(source.name, source.file).streams)


def _serial_strands(config: Config) -> Iterable[str]:
    return [f"{s.name}.*" for s in config.sources if isinstance(s, SerialSourceConfig)]


def _ble_strands(config: Config) -> Iterable[str]:
    """GATT devices named in the config, and advertising devices adopted in the readings file."""
    ble = [s for s in config.sources if isinstance(s, BleSourceConfig)]
    names = [g.name for s in ble for g in s.gatt]
    if ble:
        from agent.store.readings import adopted_names

        names += adopted_names(Path(config.hub.data_dir))
    return [f"{name}.*" for name in names]


def _model_strands(config: Config) -> Iterable[str]:
    """Each model's context strand, and the strand of the owner's labels of it."""
    return [name for m in config.models for name in (f"context.{m.name}", f"labels.{m.name}")]


def _prediction_strands(config: Config) -> Iterable[str]:
    """Forecasts and anomalies of the streams ``[prediction]`` names (a glob: of any), and batteries."""
    prediction = config.prediction
    if prediction is None:
        return []
    names = []
    for pattern in prediction.streams:
        if "*" in pattern or "?" in pattern:
            names += ["forecast.*", "anomaly.*"]
        else:
            names += [f"forecast.{pattern}.*", f"anomaly.{pattern}"]
    if prediction.battery:
        names.append("battery.*")
    return names


def _serial_boards(config: Config) -> Iterable[str]:
    return [s.name for s in config.sources if isinstance(s, SerialSourceConfig) and s.mode == "framed"]


def _ble_boards(config: Config) -> Iterable[str]:
    return [
        g.name
        for s in config.sources
        if isinstance(s, BleSourceConfig)
        for g in s.gatt
        if "nus" in g.services and g.nus_mode == "framed"
    ]


STRAND_PROVIDERS: list[Provider] = [
    _simulated_strands,
    _serial_strands,
    _ble_strands,
    _model_strands,
    _prediction_strands,
]
"""Functions naming the strands a config produces (sources' streams, models' context strands)."""

BOARD_PROVIDERS: list[Provider] = [_serial_boards, _ble_boards]
"""Functions naming the boards a config can send commands to (framed serial sources and NUS devices)."""


def known_strands(config: Config) -> frozenset[str]:
    """Every strand the configured sources and models can produce (``device.*`` for any of a device's)."""
    return frozenset(name for provider in STRAND_PROVIDERS for name in provider(config))


def is_known(strand: str, known: frozenset[str]) -> bool:
    """True if ``strand`` is in ``known``, directly or through a ``device.*`` entry."""
    if strand in known:
        return True
    return any(fnmatch.fnmatchcase(strand, pattern) for pattern in known if pattern.endswith(".*"))


def known_boards(config: Config) -> frozenset[str]:
    """Every board name a rule action or a switch may address."""
    return frozenset(name for provider in BOARD_PROVIDERS for name in provider(config))
