"""Composition root: settings → logging → Temporal client → worker.

The only place real clients, providers and stores are built (DESIGN.md layout). ``baton worker``
calls :func:`run_worker`; tests and the embedded stack use :func:`build_worker` directly.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.llm.activity import LlmActivities
from activities.tools import Ledger, ToolActivities
from baton.settings import BatonSettings
from baton.telemetry import LogContextInterceptor, configure_logging
from baton.tools import ToolRegistry, default_registry
from workflows import ALL_WORKFLOWS

__all__ = ["build_worker", "connect", "run_worker", "worker_resources"]

log = structlog.get_logger("baton.worker")

# Baton's contracts are pure (no I/O, no clocks) and jsonschema is a pure validator: passing them
# through the sandbox avoids re-importing pydantic models for every workflow run.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("baton", "jsonschema")
)


async def connect(settings: BatonSettings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
    )


@asynccontextmanager
async def worker_resources(
    client: Client, settings: BatonSettings, registry: ToolRegistry | None = None
) -> AsyncIterator[Worker]:
    """A worker with its HTTP client, closed when the block ends."""
    registry = registry or default_registry
    registry.load_modules(settings.tool_modules)
    settings.home.mkdir(parents=True, exist_ok=True)
    # One pooled client for every provider call; no SDK retries: Temporal owns retries.
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as http:
        ledger = Ledger(settings.resolved_ledger_path)  # connections are per call: nothing to close
        yield build_worker(client, settings, http=http, ledger=ledger, registry=registry)


def build_worker(
    client: Client,
    settings: BatonSettings,
    *,
    http: httpx.AsyncClient,
    ledger: Ledger,
    registry: ToolRegistry,
) -> Worker:
    llm = LlmActivities(http=http, settings=settings, temporal_client=client)
    tools = ToolActivities(registry, ledger, max_result_chars=settings.max_tool_result_chars)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[llm.chat, tools.execute_tool],
        interceptors=[LogContextInterceptor()],
        workflow_runner=WORKFLOW_RUNNER,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


async def run_worker(settings: BatonSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set or SIGINT/SIGTERM arrives, then shut down gracefully."""
    configure_logging(settings.log_format, settings.log_level)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client = await connect(settings)
    async with worker_resources(client, settings) as worker, worker:
        log.info("worker started", task_queue=settings.task_queue,
                 address=settings.temporal_address, namespace=settings.namespace)
        await stop.wait()
        log.info("worker stopping")


if __name__ == "__main__":
    asyncio.run(run_worker(BatonSettings()))
