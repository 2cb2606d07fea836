"""A worker process serving the bare workflows (``python -m bench.bare_worker ADDRESS QUEUE``),
so the throughput benchmark compares worker processes with worker processes."""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from bench import bare


async def serve(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=bare.WORKFLOWS,
                      activities=bare.ACTIVITIES):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
