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
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


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
