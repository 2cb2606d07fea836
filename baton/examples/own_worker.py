"""Baton next to your own workflows, on one worker: ``BatonPlugin`` on the client is all it takes.

Run it against any Temporal server (``baton up`` gives one) and start runs with ``baton run``::

    python -m baton.examples.own_worker

``OrderFollowUp`` stands for a workflow of your own: it asks your own activity for a delivery
estimate. Baton's eight pattern workflows and its activities run on the same task queue.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

# This file holds a workflow, so the sandbox re-imports it for every run of that workflow; what
# only the worker needs (clients, the plugin, HTTP) comes from outside the sandbox. (In a larger
# project the worker lives in its own module, as in Temporal's samples.)
with workflow.unsafe.imports_passed_through():
    from temporalio.client import Client
    from temporalio.worker import Worker

    from baton.plugin import BatonPlugin
    from baton.settings import BatonSettings

__all__ = ["OrderFollowUp", "build_worker", "estimate_delivery", "main"]


@activity.defn
async def estimate_delivery(order_id: str) -> str:
    """Your own activity (here: a fixed answer instead of a carrier API)."""
    return f"order {order_id} arrives in 2 days"


@workflow.defn
class OrderFollowUp:
    """Your own workflow, unaware of Baton."""

    @workflow.run
    async def run(self, order_id: str) -> str:
        return await workflow.execute_activity(
            estimate_delivery, order_id, start_to_close_timeout=timedelta(seconds=10))


async def build_worker(settings: BatonSettings) -> Worker:
    """A worker running your workflow and Baton's, from one client that carries the plugin."""
    client = await Client.connect(settings.temporal_address, namespace=settings.namespace,
                                  plugins=[BatonPlugin(settings)])
    return Worker(client, task_queue=settings.task_queue, workflows=[OrderFollowUp],
                  activities=[estimate_delivery])


async def main() -> None:
    worker = await build_worker(BatonSettings())
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
