"""Stopping a child process the way a user does (a signal), and saying where it hung when it does not stop."""

from __future__ import annotations

import os
import signal
import subprocess


def traced_env(**extra: str) -> dict[str, str]:
    """The environment for a Python child whose stacks ``stop`` can dump: faulthandler on, for SIGABRT."""
    return {**os.environ, "PYTHONFAULTHANDLER": "1", **extra}


def stop(process: subprocess.Popen[str], sig: signal.Signals = signal.SIGINT, within: float = 20.0) -> str:
    """Send ``sig`` and wait ``within`` s for the process to exit; return its remaining stdout.

    When it does not exit, abort it (a child started with ``traced_env`` prints every thread's stack on
    stderr) and fail with that stack, so a hang names the line it hung on.
    """
    process.send_signal(sig)
    try:
        out, _ = process.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        out, err = process.communicate(timeout=30)
        raise AssertionError(
            f"{process.args!r} did not exit within {within} s of {sig.name}; its stacks:\n{err}\n{out}"
        ) from None
    return out or ""
