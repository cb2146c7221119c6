"""Options several commands share."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_CONFIG = "/etc/hearth/hearth.toml"

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_CONFIG,
    show_default=True,
    envvar="HEARTH_CONFIG",
    help="The hub's config file (or $HEARTH_CONFIG).",
)
