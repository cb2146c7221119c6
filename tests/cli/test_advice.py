"""Advice on the command line: an error that sends the owner somewhere names the command that shows it,
whether the command did the work itself or a running hub did (the place travels over the control socket)."""

from __future__ import annotations

import asyncio
import subprocess
import tomllib
from pathlib import Path

from agent.config import config_from_mapping
from agent.control import wire
from agent.daemon import Agent
from tests.conftest import hearth
from tests.testbed.wait import eventually

ADVICE = {
    ("consent", "revoke", "g-000000000000"): (
        "error: no grant 'g-000000000000'\n  hint: `hearth consent list` shows every grant\n"
    ),
    ("label", "remove", "7"): "error: no label 7\n  hint: `hearth label list` shows their ids\n",
    ("ble", "forget", "attic"): (
        "error: no adopted BLE device is named 'attic'\n  hint: `hearth ble list` shows adopted devices\n"
    ),
}


def ask(config: Path, command: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return hearth(*command[:2], "-c", str(config), *command[2:])


def test_advice_names_the_command_that_shows_it(hub_config: Path) -> None:
    assert hearth("consent", "list", "-c", str(hub_config)).returncode == 0  # makes the data files
    for command, told in ADVICE.items():
        result = ask(hub_config, command)
        assert result.returncode != 0, command
        assert result.stderr == told, command


async def test_advice_from_a_running_hub_names_the_command_too(hub_config: Path) -> None:
    text = await asyncio.to_thread(hub_config.read_text)
    agent = Agent(config_from_mapping(tomllib.loads(text)))
    run = asyncio.create_task(agent.run())
    try:
        await agent.started.wait()
        await eventually(lambda: wire.socket_path(agent.data_dir).exists(), "the hub's control socket")
        for command, told in ADVICE.items():
            result = await asyncio.to_thread(ask, hub_config, command)
            assert result.returncode != 0, command
            assert result.stderr == told, command
    finally:
        agent.stop()
        await run
