"""Awaiting an aiomqtt request (publish, subscribe) without losing a cancellation.

aiomqtt bounds each request with ``asyncio.wait_for``, which on Python 3.11 drops a cancellation that
arrives together with the broker's reply: the task then carries on as if it had never been stopped.
So requests are made with ``timeout=math.inf`` and bounded here with ``asyncio.timeout``, which keeps
it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable
from typing import TypeVar

import aiomqtt

# How long a publish or subscribe waits for the broker's reply.
REPLY_TIMEOUT = 10.0
UNBOUNDED = math.inf  # pass as ``timeout=`` to aiomqtt; ``reply`` bounds the wait instead

T = TypeVar("T")


async def reply(request: Awaitable[T], *, within: float = REPLY_TIMEOUT) -> T:
    """Await a request made with ``timeout=UNBOUNDED``; ``MqttError`` if no reply ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            return await request
    except TimeoutError:
        raise aiomqtt.MqttError(f"no reply from the broker within {within:.0f} s") from None


async def farewell(client: aiomqtt.Client, topic: str, payload: bytes | str, *, within: float = 2.0) -> None:
    """Best effort, on the way out of a cancelled session: publish ``payload`` retained on ``topic``.

    A graceful disconnect does not make the broker send the will, so a stopping client says it
    itself. A broker already gone, or no reply in time, is no reason to hold up the stop.
    """
    with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
        async with asyncio.timeout(within):
            await client.publish(topic, payload, qos=1, retain=True, timeout=UNBOUNDED)
