"""The feature registry: one row per feature the daemon can load, in the order they are set up.

A row says where the feature lives, when the config turns it on, which config sections it reads,
whether a change to those needs a restart, and which function cross-checks a config that has it
(run by the loader). Rows name modules as strings, the way Home Assistant's loader names its
integrations: the registry sits with the config, below every feature, and a feature's module (and the
libraries it needs) is imported only when the config turns the feature on, which keeps a small hub small.

A feature module has ``setup(hub: agent.hub.Hub) -> object | None``; what it returns is kept in
``hub.features[row.name]``. A check is ``check(config, source, base_dir)`` raising ``ConfigError``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config.schema import Config

Check = Callable[[Config, str, Path | None], None]


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature: ``module`` has ``setup(hub)``; ``check`` is ``"module:function"`` or None."""

    name: str
    module: str
    enabled: Callable[[Config], bool]
    sections: tuple[str, ...] = ()
    restart: bool = True  # the feature reads its sections once: a change to them needs a restart
    check: str | None = None

    def setup(self) -> Callable[[Any], object]:
        """The feature's ``setup`` function (imports its module)."""
        setup: Callable[[Any], object] = importlib.import_module(self.module).setup
        return setup


def _check(path: str) -> Check:
    module, _, name = path.partition(":")
    check: Check = getattr(importlib.import_module(module), name)
    return check


FEATURES: tuple[Feature, ...] = (
    # Lazy: numpy and LiteRT cost a hub without models ~21 MB.
    Feature("inference", "agent.inference.pipeline", lambda c: bool(c.models), ("models",)),
    # Lazy: numpy (~10 MB) is not needed by a hub that forecasts nothing.
    Feature(
        "prediction",
        "agent.prediction.service",
        lambda c: c.prediction is not None,
        ("prediction",),
        check="agent.prediction.check:check_config",
    ),
    # Always on and light: bleak and the advert parsers load only when a BLE source is bound.
    Feature("ble", "agent.daemon.adoptions", lambda c: True),
    # Lazy: aiomqtt and paho bring http.client and email along.
    Feature(
        "local_mqtt",
        "agent.local.service",
        lambda c: c.local_mqtt is not None,
        ("local_mqtt",),
        check="agent.rules.validate:check_config",
    ),
    # Lazy: the rule engine and its dispatcher are not needed by a hub without rules.
    Feature(
        "rules",
        "agent.rules.service",
        lambda c: bool(c.rules),
        ("rules",),
        check="agent.rules.validate:check_config",
    ),
    # Lazy: aiomqtt and paho bring http.client and email along.
    Feature("sync", "agent.sync.service", lambda c: c.upstream is not None, ("upstream",)),
    # Lazy: aiomqtt and paho bring http.client and email along. On with [upstream] too (--via upstream).
    Feature(
        "intents",
        "agent.intents.service",
        lambda c: c.market is not None or c.upstream is not None,
        ("market", "upstream"),
        check="agent.intents.service:check_config",
    ),
    # Lazy: aiomqtt, and cryptography for the signatures.
    Feature(
        "fleet",
        "agent.fleet.service",
        lambda c: c.fleet is not None,
        ("fleet",),
        check="agent.fleet.verify:check_config",
    ),
    # Lazy: aiohttp and jinja2 cost a hub without a dashboard ~15 MB.
    Feature("web", "agent.web.server", lambda c: c.web is not None and c.web.enabled, ("web",)),
)


def enabled_features(config: Config) -> list[Feature]:
    """The rows ``config`` turns on, in setup order."""
    return [row for row in FEATURES if row.enabled(config)]


def check_features(config: Config, source: str, base_dir: Path | None) -> None:
    """Run the cross-check of every feature ``config`` turns on (each check once)."""
    done: set[str] = set()
    for row in enabled_features(config):
        if row.check is not None and row.check not in done:
            done.add(row.check)
            _check(row.check)(config, source, base_dir)


def live_sections() -> frozenset[str]:
    """Config sections of features that apply a change without a restart."""
    return frozenset(section for row in FEATURES if not row.restart for section in row.sections)
