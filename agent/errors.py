"""The agent's one error tree.

    AgentError                  anything the operator can act on; the CLI prints it and exits non-zero
    ├── ConfigError             a config file or document is wrong (exit 2); names the file and key path
    │   └── RestartNeededError       a valid change the running agent applies only by restarting
    ├── StoreError              a data file cannot be opened, migrated or written
    │   ├── SchemaVersionError  the data file was written by a newer release
    │   └── UnwritableDataError the data folder's disk refuses writes until fixed (a restart cannot help)
    │       ├── ReadOnlyDataError   the data folder is on a read-only mount (a failing SD card)
    │       └── DiskFullError       the data folder's disk is full
    ├── SourceError             a source failed; the supervisor restarts it with backoff
    │   └── BoardCommandError   a serial or BLE UART board did not carry out a command (no link, no ACK, NACK)
    ├── ConsentError            a grant, strand or granularity the owner gave is not valid
    ├── UpstreamError           the upstream broker refused us or cannot be reached safely (TLS)
    ├── IntentError             an intent, offer or answer the owner gave is not valid, or cannot go out
    ├── ModelError              a model file is missing, corrupt or does not fit its card
    └── LearningError           a label or adaptation the owner asked for cannot be done

Foreign exceptions are converted where they enter (``raise ... from exc``); every error carries a
hint for the operator where one helps.

An error about one of the owner's inputs names it as a ``field`` (``purpose``, ``bounds``), never as a
command-line flag or a form label: the words are written once, and each front end names the input its own
way through a ``Naming`` (the CLI as ``--bounds``, the dashboard by the label of its form field). A hint may
say ``{field}`` where that name goes, and ``example`` is a value that would do.

Advice that sends the owner somewhere to look or act (every grant is listed, forget a device first) names
that place as ``see``, an owner ``Place`` (``grants``, ``forget_device``) and the thing there, never as a
command: the hint says ``{see}`` where it goes, and each front end shows the place its own way (the CLI as
the command, ``hearth consent list``; the dashboard as a link to its Consent page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

FIELD = "{field}"
SEE = "{see}"

# Where the owner looks or acts: the list of grants, of labels, of adopted devices, of intents, of streams;
# forgetting one adopted device (``thing``: its name); one intent (``thing``: its id).
Place = Literal["grants", "labels", "devices", "forget_device", "intents", "intent", "streams"]


@dataclass(frozen=True, slots=True)
class See:
    """A place an error's advice sends the owner to, and the thing there it is about (a device, an intent)."""

    place: Place
    thing: str | None = None


class Naming(Protocol):
    """How a front end names the owner's inputs in an error's advice."""

    def name(self, field: str) -> str:
        """The input ``field`` as this front end shows it (``--allow-raw``, “Bounds”)."""

    def example(self, field: str, value: str) -> str:
        """``value`` given as ``field`` (``--bounds 10..35``, “Bounds”: for example 10..35)."""

    def where(self, see: See) -> str:
        """The place as this front end sends the owner there (``hearth consent list``, the Consent page)."""


class _Plain:
    """Inputs by their own names (``bounds``), for logs and anything that is not a front end."""

    def name(self, field: str) -> str:
        return field

    def example(self, field: str, value: str) -> str:
        return f"{field} {value}"

    def where(self, see: See) -> str:
        if see.place == "forget_device":
            return f"forgetting {see.thing}"
        return f"the {see.place} {see.thing}" if see.thing else f"the list of {see.place}"


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        field: str | None = None,
        example: str | None = None,
        see: See | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field
        self.example = example
        self.see = see

    def advice(self, naming: Naming) -> str | None:
        """The hint and the example, with the input and the place named as ``naming`` names them (None
        without either)."""
        parts = []
        if self.hint:
            named = self.hint if self.field is None else self.hint.replace(FIELD, naming.name(self.field))
            parts.append(named if self.see is None else named.replace(SEE, naming.where(self.see)))
        if self.field is not None and self.example is not None:
            parts.append(naming.example(self.field, self.example))
        return "; ".join(parts) or None

    def told(self, naming: Naming) -> str:
        """The message with its advice on a ``hint:`` line, for a terminal or a log."""
        advice = self.advice(naming)
        return f"{self.message}\n  hint: {advice}" if advice else self.message

    def __str__(self) -> str:
        return self.told(_Plain())


class ConfigError(AgentError):
    """A configuration file or pushed document is invalid."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        key_path: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = source or "config"
        if key_path:
            where = f"{where}: {key_path}"
        super().__init__(f"{where}: {message}", hint=hint)
        self.source = source
        self.key_path = key_path


class RestartNeededError(ConfigError):
    """A change to sections the running layers read once (models, rules...): apply it by restarting."""


class StoreError(AgentError):
    """A data file cannot be opened, migrated or written."""


class SchemaVersionError(StoreError):
    """A data file's schema is newer than this release understands."""


class UnwritableDataError(StoreError):
    """The data folder's disk refuses writes (read-only, full) until someone fixes it; a restart cannot."""


class ReadOnlyDataError(UnwritableDataError):
    """The data folder is on a read-only filesystem (the kernel remounts a failing SD card so)."""


class DiskFullError(UnwritableDataError):
    """The disk that holds the data folder has no room left for the data files."""


class SourceError(AgentError):
    """A source failed; its supervisor restarts it."""


class BoardCommandError(SourceError):
    """A command to a board (serial or BLE UART) was not acknowledged, or the board refused it."""


class IntentError(AgentError):
    """An intent, offer or answer the owner gave is not valid, or its market cannot be reached."""


class ModelError(AgentError):
    """A model file is missing, corrupt, or does not match its card."""


class ConsentError(AgentError):
    """A grant, strand pattern or granularity given by the owner is not valid, or names no grant."""


class UpstreamError(AgentError):
    """The upstream broker cannot be reached safely or refused the connection."""


class LearningError(AgentError):
    """A label is invalid, or a model cannot be adapted from the labels given."""
