"""When a scanner counts as wedged or failed, and what to do about it (pure; no I/O, no clock).

Home Assistant's habluetooth restarts a scanner that went quiet, and resets the adapter with
``bluetooth-auto-recovery`` when restarting is not enough; this module is that policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Fault = Literal["in_progress", "dbus_error", "no_adapter", "no_slots", "scanner_error"]
Action = Literal["restart", "reset_adapter"]

_IN_PROGRESS = "org.bluez.Error.InProgress"
_NO_ADAPTER_HINTS = ("No Bluetooth adapters", "adapter", "UnknownObject", "not found")


def classify(exc: BaseException) -> Fault:  # noqa: PLR0911 - one return per kind reads best
    """The kind of scanner failure ``exc`` is, from bleak's and BlueZ's errors."""
    from bleak.exc import BleakDBusError
    from bleak_retry_connector import BleakOutOfConnectionSlotsError

    if isinstance(exc, BleakOutOfConnectionSlotsError):
        return "no_slots"
    if isinstance(exc, BleakDBusError):
        if exc.dbus_error == _IN_PROGRESS:
            return "in_progress"
        if exc.dbus_error.endswith(("UnknownObject", "UnknownMethod", "NotReady")):
            return "no_adapter"
        return "dbus_error"
    text = str(exc)
    if _IN_PROGRESS in text or "InProgress" in text:
        return "in_progress"
    if type(exc).__name__ == "BleakBluetoothNotAvailableError" or any(h in text for h in _NO_ADAPTER_HINTS):
        return "no_adapter"
    return "scanner_error"


@dataclass(slots=True)
class SilenceWatchdog:
    """Detects a scanner that hears nothing for ``timeout`` seconds although it should.

    Fed the running count of adverts at each check; ``expected`` says whether adopted devices exist
    (a hub with nothing adopted may legitimately hear silence in an empty street).
    """

    timeout: float
    _count: int = -1
    _since: float = 0.0

    def reset(self, now: float) -> None:
        """Start watching afresh (after a (re)start of the scanner)."""
        self._count = -1
        self._since = now

    def wedged(self, now: float, adverts: int, *, expected: bool) -> bool:
        """True if no advert arrived for ``timeout`` seconds while adverts were expected."""
        if adverts != self._count:
            self._count = adverts
            self._since = now
            return False
        return expected and now - self._since >= self.timeout


@dataclass(slots=True)
class RecoveryPolicy:
    """Restart on each failure; after ``reset_after`` failures in a row, reset the adapter first."""

    reset_after: int
    failures: int = 0

    def failed(self, fault: Fault) -> Action:
        """Record one failure (or wedge) and return what to do before the next start."""
        del fault  # every kind is first met by a restart; BlueZ's InProgress too, then a reset
        self.failures += 1
        if self.failures >= self.reset_after:
            self.failures = 0
            return "reset_adapter"
        return "restart"

    def succeeded(self) -> None:
        """The scanner delivers again: forget past failures."""
        self.failures = 0
