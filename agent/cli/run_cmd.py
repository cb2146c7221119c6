"""``hearth run``: the daemon in the foreground (what systemd starts)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import click

from agent.cli.options import config_option
from agent.config import Config, load_config


@click.command()
@config_option
def run(config_path: Path) -> None:
    """Run the agent until SIGTERM or Ctrl-C.

    Example: hearth run -c /etc/hearth/hearth.toml
    """
    from agent.cli.logs import setup_logging

    config = load_config(config_path)
    setup_logging(config.log.level, config.log.format)
    os.umask(0o077)  # every file the agent creates is the owner's alone
    asyncio.run(run_agent(config, config_path=config_path.resolve()))


async def run_agent(config: Config, *, config_path: Path | None = None) -> None:
    """Run an Agent for ``config`` (from ``config_path``) with SIGTERM/SIGINT wired to a graceful stop."""
    from agent.daemon import Agent

    agent = Agent(config, config_path=config_path)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stop)
    try:
        await agent.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
