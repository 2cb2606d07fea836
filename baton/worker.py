"""Composition root: settings → logging/telemetry → Temporal client → worker.

The only place real clients, providers and stores are built (DESIGN.md layout). ``baton worker``
calls :func:`run_worker`; tests and the embedded stack use :func:`build_worker` directly.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import structlog
from temporalio.client import Client
from temporalio.contrib.opentelemetry import MetricsExporter, OpenTelemetryPlugin
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.plugin import SimplePlugin
from temporalio.runtime import Runtime
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from baton.activities.llm.activity import LlmActivities
from baton.activities.tools import Ledger, ToolActivities
from baton.settings import BatonSettings
from baton.telemetry import TelemetryInterceptor, Tracing, configure_logging
from baton.telemetry.metrics import meter_provider, temporal_runtime
from baton.telemetry.tracing import tracer_provider
from baton.tools import ToolRegistry, default_registry
from baton.workflows import ALL_WORKFLOWS

__all__ = ["build_worker", "connect", "run_worker", "worker_resources"]

log = structlog.get_logger("baton.worker")

# Baton's contracts are pure (no I/O, no clocks) and jsonschema is a pure validator: passing them
# through the sandbox avoids re-importing pydantic models for every workflow run.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("baton", "jsonschema")
)


async def connect(settings: BatonSettings, *, runtime: Runtime | None = None) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )


@asynccontextmanager
async def worker_resources(
    client: Client,
    settings: BatonSettings,
    registry: ToolRegistry | None = None,
    *,
    tracing: Tracing | None = None,
    max_cached_workflows: int | None = None,
) -> AsyncIterator[Worker]:
    """A worker with its HTTP client, closed when the block ends.

    ``tracing`` overrides the exporters of ``settings`` (tests pass an in-memory exporter); its
    processors receive spans while the block runs and are flushed when it ends.
    """
    registry = registry or default_registry
    registry.load_modules(settings.tool_modules)
    settings.home.mkdir(parents=True, exist_ok=True)
    tracing = tracing if tracing is not None else Tracing.from_settings(settings)
    # One pooled client for every provider call; no SDK retries: Temporal owns retries.
    with tracing.exporting():
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as http:
            ledger = Ledger(settings.resolved_ledger_path)  # per-call connections: nothing to close
            yield build_worker(client, settings, http=http, ledger=ledger, registry=registry,
                               tracing=tracing, max_cached_workflows=max_cached_workflows)


def build_worker(
    client: Client,
    settings: BatonSettings,
    *,
    http: httpx.AsyncClient,
    ledger: Ledger,
    registry: ToolRegistry,
    tracing: Tracing | None = None,
    max_cached_workflows: int | None = None,
) -> Worker:
    llm = LlmActivities(http=http, settings=settings, temporal_client=client)
    tools = ToolActivities(registry, ledger, max_result_chars=settings.max_tool_result_chars)
    options = _telemetry_options(tracing)
    if max_cached_workflows is not None:  # 0 in replay tests: every task replays from history
        options["max_cached_workflows"] = max_cached_workflows
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[llm.chat, tools.execute_tool],
        workflow_runner=WORKFLOW_RUNNER,
        **options,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=10),
    )


def _telemetry_options(tracing: Tracing | None) -> dict[str, Any]:
    """Interceptors, and with tracing Temporal's OpenTelemetry plugin.

    Order matters: the plugin's workflow interceptor must run *outside* Baton's, so the trace
    context from the client (or parent workflow) is current before ``invoke_*`` spans open. Worker
    plugins append their interceptors in plugin order, hence Baton's in a plugin of its own after
    Temporal's rather than in ``interceptors=``.
    """
    telemetry = TelemetryInterceptor(tracing)
    if telemetry.tracing is None:
        return {"interceptors": [telemetry]}
    tracer_provider()  # the plugin refuses a global provider that is not replay-safe
    return {"plugins": [
        OpenTelemetryPlugin(add_temporal_spans=telemetry.tracing.temporal_spans),
        SimplePlugin("baton.telemetry", interceptors=[telemetry]),
    ]}


async def run_worker(settings: BatonSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set or SIGINT/SIGTERM arrives, then shut down gracefully."""
    configure_logging(settings.log_format, settings.log_level, secret_envs=[
        str(p["api_key_env"]) for p in settings.profiles.values() if p.get("api_key_env")])
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    meters = meter_provider(settings)
    runtime, buffer = temporal_runtime(settings)
    async with AsyncExitStack() as stack:
        if buffer is not None and meters is not None:
            # Temporal's worker metrics join Baton's in the OpenTelemetry pipeline.
            await stack.enter_async_context(MetricsExporter(buffer, meters))
        client = await connect(settings, runtime=runtime)
        worker = await stack.enter_async_context(worker_resources(client, settings))
        await stack.enter_async_context(worker)
        log.info("worker started", task_queue=settings.task_queue,
                 address=settings.temporal_address, namespace=settings.namespace,
                 tracing=settings.trace_exporter, metrics=settings.metrics_exporter,
                 prometheus=settings.metrics_prometheus)
        await stop.wait()
        log.info("worker stopping")
        if meters is not None:
            meters.force_flush()


if __name__ == "__main__":
    asyncio.run(run_worker(BatonSettings()))
