"""The config check of ``[prediction]`` (run by the loader; imports no NumPy)."""

from __future__ import annotations

import re
from pathlib import Path

from agent.config.durations import seconds
from agent.config.schema import Config
from agent.errors import ConfigError

# Horizons and the anomaly duration, in steps: the forecaster keeps errors per horizon step.
MAX_STEPS = 168
# A stream name or a glob of them, ``<device>.<quantity>``; ``*`` stays within one part.
_PATTERN = re.compile(r"^[a-z0-9_*?\-]+(\.[a-z0-9_*?\-]+)+$")


def check_config(config: Config, source: str, base_dir: Path | None) -> None:
    """Raise ``ConfigError`` naming the key if ``[prediction]`` asks for what cannot be forecast."""
    prediction = config.prediction
    if prediction is None:
        return
    step = seconds(prediction.step)
    if step < 1 or 86400 % step:
        raise ConfigError(
            f"step {prediction.step!r} must divide a day into whole steps",
            source=source,
            key_path="prediction.step",
            hint="use 1h, 30m, 15m, 1m...",
        )
    if not prediction.horizons:
        raise ConfigError("give at least one horizon", source=source, key_path="prediction.horizons")
    for index, horizon in enumerate(prediction.horizons):
        steps = seconds(horizon) / step
        if steps != int(steps) or not 1 <= steps <= MAX_STEPS:
            raise ConfigError(
                f"horizon {horizon!r} must be 1 to {MAX_STEPS} whole steps of {prediction.step}",
                source=source,
                key_path=f"prediction.horizons[{index}]",
            )
    if seconds(prediction.anomaly_min_duration) < step:
        raise ConfigError(
            f"anomaly_min_duration must be at least one step ({prediction.step})",
            source=source,
            key_path="prediction.anomaly_min_duration",
        )
    for index, pattern in enumerate(prediction.streams):
        if not _PATTERN.match(pattern):
            raise ConfigError(
                f"{pattern!r} is not a stream name or a glob of them",
                source=source,
                key_path=f"prediction.streams[{index}]",
                hint="use a stream such as bedroom.temperature, or a glob such as *.temperature",
            )
