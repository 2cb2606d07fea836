"""Composition root: settings → logging/telemetry → Temporal client (with ``BatonPlugin``) →
worker.

The only place real clients, providers and stores are built. ``baton worker`` calls
:func:`run_worker`; tests, benchmarks and the embedded stack use :func:`worker_resources`.

:func:`run_worker` outlives Temporal: a server that is not there yet, or one that went away for
long enough that the SDK's worker gives up, means waiting and connecting again (with backoff and
a log line each time), never exiting. Short blips never get that far: the client's own RPC
retries ride them out, and the worker keeps polling through a server restart.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from datetime import timedelta
from typing import TypeVar

import structlog
from temporalio.client import Client, Plugin
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.contrib.opentelemetry import MetricsExporter
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig
from temporalio.worker import Worker, WorkerDeploymentConfig

from baton.backoff import Backoff
from baton.codec import encryption_codec
from baton.plugin import BatonPlugin, baton_data_converter
from baton.settings import BatonSettings
from baton.telemetry import Tracing, configure_logging
from baton.telemetry.metrics import meter_provider, temporal_runtime
from baton.tools import ToolRegistry

__all__ = ["connect", "data_converter", "deployment_config", "run_worker", "tls_config",
           "worker_resources"]

log = structlog.get_logger("baton.worker")
_T = TypeVar("_T")


def data_converter(settings: BatonSettings) -> DataConverter:
    """Baton's data converter for ``settings``: pydantic payloads, encrypted and decrypted with
    the configured codec keys (the CLI reads a saved history with it, no server needed)."""
    return baton_data_converter(codec=encryption_codec(settings))


async def connect(settings: BatonSettings, *, runtime: Runtime | None = None,
                  plugins: Sequence[Plugin] = ()) -> Client:
    """A Temporal client for ``settings``: Baton's data converter (with payload encryption when
    codec keys are configured), TLS and an API key when configured, and ``plugins`` (a worker
    passes ``BatonPlugin``; a CLI client needs none)."""
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.namespace,
        data_converter=data_converter(settings),
        tls=tls_config(settings),
        api_key=api_key.get_secret_value() if api_key else None,
        runtime=runtime,
        plugins=plugins,
    )


def deployment_config(settings: BatonSettings) -> WorkerDeploymentConfig | None:
    """Worker versioning, when configured: this worker serves one version of a Worker
    Deployment, and every run stays pinned to the version it started on, so a run that waits
    days for a person finishes on the code that began it (see docs/operations.md)."""
    if settings.deployment_name is None or settings.build_id is None:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(settings.deployment_name, settings.build_id),
        use_worker_versioning=True, default_versioning_behavior=VersioningBehavior.PINNED)


def tls_config(settings: BatonSettings) -> TLSConfig | bool:
    """TLS for the Temporal connection: off, the system's trust store (Temporal Cloud with an
    API key), or a CA and a client certificate (mTLS to a self-hosted cluster or Cloud)."""
    files = (settings.temporal_tls_ca_file, settings.temporal_tls_cert_file,
             settings.temporal_tls_key_file)
    if not settings.temporal_tls and not any(files) and settings.temporal_api_key is None:
        return False
    if not any(files) and settings.temporal_tls_server_name is None:
        return True
    ca, cert, key = (path.read_bytes() if path else None for path in files)
    return TLSConfig(server_root_ca_cert=ca, client_cert=cert, client_private_key=key,
                     domain=settings.temporal_tls_server_name)


@asynccontextmanager
async def worker_resources(
    client: Client,
    settings: BatonSettings,
    registry: ToolRegistry | None = None,
    *,
    tracing: Tracing | None = None,
    max_cached_workflows: int | None = None,
    workflows: Sequence[type] | None = None,
) -> AsyncIterator[Worker]:
    """A Baton worker on ``settings.task_queue`` for an existing client (``async with`` the
    worker to run it). ``registry`` overrides the tools served, ``tracing`` the exporters of
    ``settings``; ``max_cached_workflows=0`` makes every task replay from history (tests)."""
    plugin = BatonPlugin(settings, registry=registry, tracing=tracing, workflows=workflows)
    yield Worker(
        client,
        task_queue=settings.task_queue,
        plugins=[plugin],
        deployment_config=deployment_config(settings),
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        graceful_shutdown_timeout=timedelta(seconds=10),
        max_cached_workflows=1000 if max_cached_workflows is None else max_cached_workflows,
    )


async def run_worker(settings: BatonSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set or SIGINT/SIGTERM arrives, then shut down gracefully; while
    Temporal is out of reach, retry with backoff instead of exiting."""
    configure_logging(settings.log_format, settings.log_level, secret_envs=[
        p.api_key_env for p in settings.profiles.values() if p.api_key_env])
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
        backoff = Backoff()
        while not stop.is_set():
            began = loop.time()
            problem = await _serve(settings, runtime, stop)
            if problem is None:
                break
            what, error = problem
            delay = backoff.next_delay(up_for_s=loop.time() - began)
            log.warning(f"{what}; retrying in {delay:g} s", address=settings.temporal_address,
                        retry_in_s=delay, error=error)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        log.info("worker stopped")
        if meters is not None:
            meters.force_flush()


async def _serve(settings: BatonSettings, runtime: Runtime | None,
                 stop: asyncio.Event) -> tuple[str, str] | None:
    """Connect and run one worker until ``stop`` (None) or until it cannot go on: then what
    happened and the error, for the retry line."""
    where = settings.temporal_address
    try:
        client = await _first(connect(settings, runtime=runtime), stop)
    except RuntimeError as exc:  # the SDK's "Failed client connect: ..."
        return f"cannot reach Temporal at {where}", str(exc)
    if client is None:
        return None
    async with worker_resources(client, settings) as worker:
        running = asyncio.ensure_future(worker.run())
        log.info("worker started", task_queue=settings.task_queue, address=where,
                 namespace=settings.namespace, tracing=settings.trace_exporter,
                 metrics=settings.metrics_exporter, prometheus=settings.metrics_prometheus)
        try:
            await _first(asyncio.shield(running), stop)
        except Exception as exc:  # the SDK worker failed (it logged why) and has shut down
            return f"worker failed against Temporal at {where}", str(exc)
        log.info("worker stopping")
        await worker.shutdown()  # graceful: running activities get graceful_shutdown_timeout
        await asyncio.gather(running, return_exceptions=True)  # shut down is shut down
        return None


async def _first(work: Awaitable[_T], stop: asyncio.Event) -> _T | None:
    """``work``'s result, or None (``work`` cancelled) if ``stop`` is set first."""
    task, stopping = asyncio.ensure_future(work), asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        return None
    return task.result()


if __name__ == "__main__":
    asyncio.run(run_worker(BatonSettings()))
