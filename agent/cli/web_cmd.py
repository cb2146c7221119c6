"""``hearth web``: set the dashboard password, print the dashboard's address."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import click

from agent.cli.options import config_option
from agent.errors import ConfigError


@click.group()
def web() -> None:
    """Manage the local web dashboard."""


@web.command("set-password")
@config_option
@click.option(
    "--password-file",
    type=click.File("r"),
    help="Read the password from the first line of this file ('-' for stdin) instead of prompting.",
)
def set_password(config_path: Path, password_file: TextIO | None) -> None:
    """Set (or change) the password the dashboard asks for; stored as a scrypt hash in the ledger.

    Example: hearth web set-password -c /etc/hearth/hearth.toml
    """
    from agent.config import load_config
    from agent.control.client import call
    from agent.web.auth import MIN_PASSWORD_LENGTH, hash_password

    cfg = load_config(config_path)
    if password_file is not None:
        password = password_file.readline().rstrip("\r\n")
    else:
        password = click.prompt("New dashboard password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"use at least {MIN_PASSWORD_LENGTH} characters", param_hint="password")
    call(cfg, "web.password", encoded=hash_password(password))
    click.echo("dashboard password set; browsers logged in with an earlier password are logged out")


@web.command()
@config_option
def url(config_path: Path) -> None:
    """Print the address to open in a browser.

    Example: hearth web url -c /etc/hearth/hearth.toml
    """
    from agent.config import load_config
    from agent.web.server import dashboard_url

    cfg = load_config(config_path)
    if cfg.web is None or not cfg.web.enabled:
        raise ConfigError(
            "the dashboard is not enabled",
            source=str(config_path),
            key_path="web",
            hint="add a [web] section to the config",
        )
    click.echo(dashboard_url(cfg.web))
