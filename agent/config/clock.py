"""The owner's clock: every time the hub shows its owner, or reads from them, is in ``hub.timezone``.

Forecasts, rules and day patterns already count hours in ``hub.timezone``; the command line and the
dashboard use this clock too, so the owner never meets the process's or the browser's zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from agent.config.schema import Config

SECONDS = "%Y-%m-%d %H:%M:%S"
# The form ``parse`` reads back exactly (a browser's datetime-local field takes it too).
TYPED = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True, slots=True)
class HubClock:
    """Formats unix seconds in, and reads typed times as, the hub's time zone."""

    zone: ZoneInfo

    @classmethod
    def of(cls, config: Config) -> HubClock:
        """The clock of the hub ``config`` configures (its zone was checked when it was loaded)."""
        return cls(ZoneInfo(config.hub.timezone))

    @property
    def name(self) -> str:
        """The zone's IANA name, as tables and pages name it (``Europe/Berlin``)."""
        return self.zone.key

    def format(self, ts: float, pattern: str = SECONDS) -> str:
        """Unix seconds ``ts`` as the hub's wall-clock time, in strftime ``pattern``."""
        return datetime.fromtimestamp(ts, self.zone).strftime(pattern)

    def when(self, ts: float | None) -> str:
        """A time for tables (``2026-12-02 14:30:00``), or an em dash for none."""
        return "—" if ts is None else self.format(ts)

    def stamp(self, ts: float | None) -> str:
        """A time that names its zone (``2026-12-02 14:30:00 CET``), or an em dash for none."""
        return "—" if ts is None else self.format(ts, f"{SECONDS} %Z")

    def parse(self, text: str) -> float:
        """Unix seconds of ISO 8601 ``text``; without an offset it is the hub's time. ``ValueError`` if not.

        A wall-clock time that a daylight-saving change repeats is read as its first occurrence; one that
        the change skips, with the offset before it.
        """
        return self.instant(datetime.fromisoformat(text.strip()))

    def instant(self, moment: datetime) -> float:
        """Unix seconds of ``moment``; a naive one is the hub's wall-clock time (as ``parse`` reads it)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.timestamp()
