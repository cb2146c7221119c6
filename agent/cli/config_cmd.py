"""``hearth config``: check a config file, print the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import click
import msgspec


@click.group()
def config() -> None:
    """Check config files and print their schema."""


@config.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def check(file: Path) -> None:
    """Validate FILE as the agent would load it; exit 2 naming the key if it is wrong.

    Example: hearth config check /etc/hearth/hearth.toml
    """
    from agent.config import load_config
    from agent.sources.factory import build_source

    cfg = load_config(file)
    for source in cfg.sources:
        build_source(source)  # loads data files, so their errors surface now
    models = ""
    if cfg.models:
        from agent.inference.check import load_models

        load_models(cfg, source=str(file))  # model files, cards and stream mappings
        models = f", {len(cfg.models)} models"
    if cfg.web is not None:
        from agent.web.server import check_listen, password_is_set, tls_context

        check_listen(cfg.web, password_set=password_is_set(Path(cfg.hub.data_dir)), source=str(file))
        tls_context(cfg.web, source=str(file))
    click.echo(f"{file}: ok (hub {cfg.hub.id}, {len(cfg.sources)} sources{models})")


@config.command()
def schema() -> None:
    """Print the config's JSON Schema (for editors and fleet tooling).

    Example: hearth config schema > hearth.schema.json
    """
    from agent.config.schema import Config

    document = msgspec.json.schema(Config)
    document["title"] = "Hearth hub configuration"
    click.echo(json.dumps(document, indent=2, sort_keys=True))
