"""``hearth run``: the daemon in the foreground (what systemd starts)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from agent.cli.options import config_option
from agent.config import Config


@click.command()
@config_option
def run(config_path: Path) -> None:
    """Run the agent until SIGTERM or Ctrl-C.

    A fleet push that needs a restart restarts the agent inside this process.

    Example: hearth run -c /etc/hearth/hearth.toml
    """
    from agent.cli.logs import setup_logging
    from agent.config import HubClock
    from agent.daemon.lifecycle import run_hub

    def configure(config: Config) -> None:
        setup_logging(config.log.level, config.log.format, HubClock.of(config))

    setup_logging()  # until the config says otherwise
    os.umask(0o077)  # every file the agent creates is the owner's alone
    asyncio.run(run_hub(config_path.resolve(), on_config=configure))
