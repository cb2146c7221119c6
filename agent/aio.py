"""Small asyncio helpers that keep cancellation reliable on Python 3.11."""

from __future__ import annotations

import asyncio


def cancel_requested() -> bool:
    """True when the current task has been asked to stop.

    A library can turn a cancellation into its own error (aiomqtt raising MqttError from a
    disconnect that the cancellation interrupted). A loop that retries on such errors asks this
    first, so a stop request is never mistaken for a failure and retried forever.
    """
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
