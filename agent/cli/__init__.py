"""The ``hearth`` command line: a small click app over the agent's layers.

Every command catches ``AgentError`` once (in ``HearthGroup``): a clear message and a non-zero exit,
never a traceback for a user's mistake.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from agent import __version__
from agent.errors import AgentError, See


def _agent_error(exc: BaseException) -> AgentError | None:
    """The AgentError inside ``exc`` (directly, or wrapped by a TaskGroup's ExceptionGroup)."""
    if isinstance(exc, AgentError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _agent_error(inner)
            if found is not None:
                return found
    return None


# Inputs that commands take as arguments rather than options, by the name their usage line shows.
_ARGUMENTS = {"cls": "CLASS"}


class Flags:
    """The owner's inputs named as command options (``bounds`` → ``--bounds``) and the places an error's
    advice sends the owner to as the commands that show them (``grants`` → ``hearth consent list``)."""

    def name(self, field: str) -> str:
        """``--<field>``, with ``-`` for ``_`` (an argument by its name in the usage line: ``CLASS``)."""
        return _ARGUMENTS.get(field) or "--" + field.replace("_", "-")

    def example(self, field: str, value: str) -> str:
        """The option and the value, quoted for a shell when it needs it."""
        return f"{self.name(field)} {shlex.quote(value)}"

    def where(self, see: See) -> str:
        """The command that shows (or does) it, in backquotes."""
        thing = shlex.quote(see.thing or "")
        command = {
            "grants": "hearth consent list",
            "labels": "hearth label list",
            "devices": "hearth ble list",
            "forget_device": f"hearth ble forget {thing}",
            "intents": "hearth intent list",
            "intent": f"hearth intent show {thing}",
            "streams": "hearth status",
        }[see.place]
        return f"`{command}`"


class HearthGroup(click.Group):
    """A click group that turns AgentError into ``error: ...`` on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (AgentError, BaseExceptionGroup) as exc:
            error = _agent_error(exc)
            if error is None:
                raise
            click.echo(f"error: {error.told(Flags())}", err=True)
            ctx.exit(error.exit_code)


@click.group(cls=HearthGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hearth")
def cli() -> None:
    """Hearth: an edge agent for home hubs that keeps your data at home."""


def _register() -> None:
    from agent.cli import (
        ble_cmd,
        board_cmd,
        config_cmd,
        consent_cmd,
        demo_cmd,
        fleet_cmd,
        forecast_cmd,
        intent_cmd,
        label_cmd,
        model_cmd,
        passport_cmd,
        rules_cmd,
        run_cmd,
        status_cmd,
        sync_cmd,
        web_cmd,
    )

    cli.add_command(run_cmd.run)
    cli.add_command(demo_cmd.demo)
    cli.add_command(status_cmd.status)
    cli.add_command(config_cmd.config)
    cli.add_command(board_cmd.board)
    cli.add_command(model_cmd.model)
    cli.add_command(label_cmd.label)
    cli.add_command(ble_cmd.ble)
    cli.add_command(rules_cmd.rules)
    cli.add_command(web_cmd.web)
    cli.add_command(consent_cmd.consent)
    cli.add_command(passport_cmd.passport)
    cli.add_command(passport_cmd.forget)
    cli.add_command(sync_cmd.sync)
    cli.add_command(fleet_cmd.fleet)
    cli.add_command(intent_cmd.intent)
    cli.add_command(forecast_cmd.forecast)


_register()


def main() -> None:
    """Entry point of the ``hearth`` console script."""
    cli(prog_name="hearth")
    sys.exit(0)
