"""``[prediction]`` is checked when the config is: a wrong key is exit 2 naming it."""

from __future__ import annotations

import pytest

from agent.config import parse_config
from agent.errors import ConfigError

HEAD = '[hub]\nid = "home"\ndata_dir = "/tmp/unused"\n[prediction]\nstreams = ["bedroom.temperature"]\n'


@pytest.mark.parametrize(
    ("extra", "message", "key"),
    [
        pytest.param('step = "7m"', "must divide a day", "prediction.step", id="step"),
        pytest.param(
            'horizons = ["90m"]', "whole steps of 1h", "prediction.horizons[0]", id="horizon-part-step"
        ),
        pytest.param(
            'horizons = ["8d"]', "1 to 168 whole steps", "prediction.horizons[0]", id="horizon-too-far"
        ),
        pytest.param("horizons = []", "at least one horizon", "prediction.horizons", id="no-horizon"),
        pytest.param(
            'anomaly_min_duration = "30m"',
            "at least one step",
            "prediction.anomaly_min_duration",
            id="anomaly",
        ),
        pytest.param("level = 0.3", "", "level", id="level"),
    ],
)
def test_a_bad_prediction_section_names_the_key(extra: str, message: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(HEAD + extra + "\n", source="hub.toml")
    assert message in str(info.value)
    assert key in str(info.value)


def test_a_pattern_that_names_no_stream_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(HEAD.replace('"bedroom.temperature"', '"bedroom"'), source="hub.toml")
    assert "'bedroom' is not a stream name or a glob of them" in str(info.value)
    assert "prediction.streams[0]" in str(info.value)


def test_a_good_section_passes() -> None:
    config = parse_config(HEAD + 'step = "15m"\nhorizons = ["15m", "2h"]\n')
    assert config.prediction is not None
    assert config.prediction.horizons == ["15m", "2h"]
