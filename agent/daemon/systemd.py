"""sd_notify: tell systemd we are ready, stopping, and still making progress.

The protocol is one datagram to ``$NOTIFY_SOCKET``; it is small enough to speak directly. The socket is
non-blocking: a manager that stops reading it (a full queue) must not stall the event loop, and with it the
pipeline and the watchdog logic, so a message that does not fit is dropped and counted instead.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class SystemdNotifier:
    """Sends sd_notify messages when run under systemd (``Type=notify``); a no-op otherwise."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | None = None
        if address:
            # A leading '@' names a socket in the abstract namespace.
            self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog_interval: float | None = None
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            # Ping at half the deadline so one late ping is not fatal.
            self.watchdog_interval = int(usec) / 1_000_000 / 2
        self._sock: socket.socket | None = None
        # Messages dropped because the socket's queue was full (nobody reads it), and whether that lasts.
        self.dropped = 0
        self._failing = False

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, message: str) -> None:
        """Send one sd_notify message without ever waiting; a failure is counted and logged, never raised."""
        if self._address is None:
            return
        try:
            if self._sock is None:
                kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
                self._sock = socket.socket(socket.AF_UNIX, kind)
            self._sock.sendto(message.encode(), self._address)
        except OSError as exc:
            self.dropped += 1
            # Once when it starts failing and once when it recovers, not at every message.
            if not self._failing:
                full = isinstance(exc, BlockingIOError)
                log.warning(
                    "sd_notify to %s failed, dropping messages until it works again: %s",
                    self._address,
                    "its queue is full (nobody reads it)" if full else exc,
                )
            self._failing = True
            return
        if self._failing:
            log.info("sd_notify works again; %d messages dropped so far", self.dropped)
            self._failing = False

    def ready(self) -> None:
        self.notify("READY=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def reloading(self) -> None:
        # Not STOPPING=1: systemd would take that as the service going away and wait for it to exit.
        # The watchdog ping gives the stop and the fresh start a whole WatchdogSec between them.
        self.notify("RELOADING=1\nWATCHDOG=1\nSTATUS=restarting to apply a new config")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")

    def close(self) -> None:
        """Close the socket; safe to call twice."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
