"""Composition root: settings → logging/telemetry → Temporal client (with ``BatonPlugin``) →
worker.

The only place real clients, providers and stores are built. ``baton worker`` calls
:func:`run_worker`; tests, benchmarks and the embedded stack use :func:`worker_resources`.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import structlog
from temporalio.client import Client, Plugin
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.contrib.opentelemetry import MetricsExporter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig
from temporalio.worker import Worker, WorkerDeploymentConfig

from baton.codec import encryption_codec
from baton.plugin import BatonPlugin, baton_data_converter
from baton.settings import BatonSettings
from baton.telemetry import Tracing, configure_logging
from baton.telemetry.metrics import meter_provider, temporal_runtime
from baton.tools import ToolRegistry

__all__ = ["connect", "deployment_config", "run_worker", "tls_config", "worker_resources"]

log = structlog.get_logger("baton.worker")


async def connect(settings: BatonSettings, *, runtime: Runtime | None = None,
                  plugins: Sequence[Plugin] = ()) -> Client:
    """A Temporal client for ``settings``: Baton's data converter (with payload encryption when
    codec keys are configured), TLS and an API key when configured, and ``plugins`` (a worker
    passes ``BatonPlugin``; a CLI client needs none)."""
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.namespace,
        data_converter=baton_data_converter(codec=encryption_codec(settings)),
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
    """Run until ``stop`` is set or SIGINT/SIGTERM arrives, then shut down gracefully."""
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
