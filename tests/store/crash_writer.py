"""Records numbered readings as fast as it can and prints the last number of every committed batch.

Run by test_crash_safety.py, which kills it with SIGKILL at random moments:
    python tests/store/crash_writer.py DATA_DIR START
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.pipeline.recorder import Recorder
from agent.readings import Reading, StreamInfo
from agent.store.readings import open_readings

STREAM = StreamInfo.of("counter", "n")


async def main(data_dir: Path, start: int) -> None:
    store = open_readings(data_dir)
    recorder = Recorder(store, flush_interval=0.005, batch_size=500, queue_size=2000)
    sink = recorder.sink("counter", "simulated", "block")
    sink.declare(STREAM)

    def acknowledged(batch: Sequence[Reading]) -> None:
        print(int(batch[-1].value), flush=True)

    recorder.on_commit.append(acknowledged)
    task = asyncio.create_task(recorder.run())
    n = start
    while True:
        await sink.put(Reading(STREAM.name, 1_700_000_000 + n / 1000, float(n)))
        n += 1
        if n % 200 == 0:
            await asyncio.sleep(0)  # let the recorder interleave, as live sources do
    await task


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
