"""A stop ends the agent's services while the store's writer thread still serves them, then closes it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.config import parse_config
from agent.daemon import Agent
from agent.sources.simulated import SimulatedSource, load_table


async def test_a_service_may_use_the_writer_thread_while_it_stops(tmp_path: Path) -> None:
    config = parse_config(f'[hub]\nid = "t"\ndata_dir = "{tmp_path}"\n[store]\nflush_interval = "20ms"\n')
    steady = SimulatedSource("steady", load_table("steady", "builtin:kettle_plug.csv"), rate=100)
    agent = Agent(config, sources=[steady])
    counted: list[int] = []

    async def service() -> None:
        # A health pass, a retention pass or Home Assistant loading the adopted streams may be
        # under way on the writer thread when the stop comes; this one makes its last call then.
        try:
            await asyncio.Event().wait()
        finally:
            counted.append(await agent.recorder.in_writer(agent.store.count_readings))

    agent.services["service"] = service
    task = asyncio.create_task(agent.run())
    await agent.started.wait()
    agent.stop()
    # An error here ends `hearth run` with a traceback and, when the stop was the restart a fleet
    # push asked for, rolls the pushed config back as if it could not start.
    await asyncio.wait_for(task, 15)
    assert len(counted) == 1
