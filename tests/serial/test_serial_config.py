"""The ``kind = "serial"`` source in a config file."""

from __future__ import annotations

import pytest

from agent.config import parse_config, seconds
from agent.config.schema import SerialSourceConfig
from agent.errors import ConfigError
from agent.sources.factory import build_source
from agent.sources.serial import SerialSource

CONFIG = """
[hub]
id = "hub-1"

[[sources]]
kind = "serial"
name = "workbench"
port = "/dev/serial/by-id/usb-Arduino_Uno_8573-if00"
"""


def test_defaults_and_factory() -> None:
    config = parse_config(CONFIG)
    (source,) = config.sources
    assert isinstance(source, SerialSourceConfig)
    assert (source.baud, source.mode, source.overflow) == (115_200, "framed", "block")
    assert seconds(source.handshake_timeout) == 3.0
    built = build_source(source)
    assert isinstance(built, SerialSource)
    assert (built.name, built.kind) == ("workbench", "serial")


def test_every_key() -> None:
    text = CONFIG + 'baud = 9600\nmode = "text"\nboard_id = "uno-1"\nhandshake_timeout = "500ms"\n'
    text += 'command_timeout = "2s"\ncommand_retries = 0\nreconnect_max = "1m"\noverflow = "drop_oldest"\n'
    (source,) = parse_config(text).sources
    assert isinstance(source, SerialSourceConfig)
    assert (source.baud, source.mode, source.board_id, source.command_retries) == (9600, "text", "uno-1", 0)


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        pytest.param('mode = "binary"\n', "sources[0].mode", id="bad-mode"),
        pytest.param("baud = 12\n", "sources[0].baud", id="baud-too-low"),
        pytest.param('handshake_timeout = "soon"\n', "sources[0].handshake_timeout", id="bad-duration"),
        pytest.param('parity = "even"\n', "sources[0]", id="unknown-key"),
    ],
)
def test_mistakes_name_the_key(extra: str, where: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG + extra)
    assert where in str(caught.value)
