"""``BatonPlugin``: everything a Temporal client, worker or replayer needs to run Baton.

Put it on the client; every worker built from that client then runs Baton's workflows and
activities next to whatever else it runs::

    client = await Client.connect("localhost:7233", plugins=[BatonPlugin(BatonSettings())])
    worker = Worker(client, task_queue="baton", workflows=[MyWorkflow], activities=[my_act])

It brings:

* the pydantic data converter (Baton's payloads are pydantic models), keeping any payload codec
  the client already has (encryption, compression);
* the sandbox rules: only Baton's pure contract modules (specs, messages, runs, approvals,
  conditions, activity payloads) pass through; workflow code itself stays sandboxed, so a
  ``datetime.now()`` in an orchestration module fails the workflow task instead of silently
  breaking replay;
* interceptors: log context and GenAI spans, and Temporal's OpenTelemetry plugin ordered before
  them when tracing is on;
* the eight pattern workflows and the ``resolve_catalog``, ``chat`` and ``execute_tool``
  activities, built from the worker's configuration: the model profiles it serves, the tools of
  its ``tool_modules``, its idempotency ledger (``ledger_url``) and one pooled HTTP client,
  opened and closed with the worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import temporalio.client
import temporalio.worker
from temporalio.contrib.opentelemetry import OpenTelemetryPlugin
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from baton.activities.catalog import CatalogActivities
from baton.activities.llm.activity import LlmActivities
from baton.activities.tools import ToolActivities, open_ledger
from baton.settings import BatonSettings
from baton.telemetry import TelemetryInterceptor, Tracing
from baton.telemetry.tracing import tracer_provider
from baton.tools import ToolRegistry, default_registry
from baton.workflows import ALL_WORKFLOWS

__all__ = ["SANDBOX_PASSTHROUGH", "BatonPlugin", "baton_data_converter", "workflow_runner"]

# Pure data and pure functions (no I/O, no clock, no randomness): safe to share across workflow
# runs, and re-importing their pydantic models for every run would cost more than all the rest.
SANDBOX_PASSTHROUGH = (
    "baton.approvals", "baton.calls", "baton.conditions", "baton.idempotency", "baton.messages",
    "baton.patterns", "baton.runs", "baton.schemas", "baton.specs", "baton.visibility",
    "jsonschema",
)


def baton_data_converter(existing: DataConverter | None = None) -> DataConverter:
    """The pydantic converter, keeping the payload codec (and failure converter settings) of
    ``existing``: Baton composes with a user's encryption instead of replacing it."""
    if existing is None:
        return pydantic_data_converter
    return dataclasses.replace(
        existing, payload_converter_class=pydantic_data_converter.payload_converter_class)


def workflow_runner(existing: WorkflowRunner | None = None) -> WorkflowRunner:
    """The sandboxed runner with Baton's contract modules passed through (and the existing
    runner's own rules kept)."""
    if isinstance(existing, SandboxedWorkflowRunner):
        return dataclasses.replace(existing, restrictions=existing.restrictions
                                   .with_passthrough_modules(*SANDBOX_PASSTHROUGH))
    if existing is not None:  # an unsandboxed runner was chosen on purpose: leave it
        return existing
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH))


class BatonPlugin(SimplePlugin):
    """Baton as a Temporal plugin (client, worker and replayer).

    ``settings`` is the worker's configuration (profiles, tool modules, ledger, limits);
    ``registry`` overrides the tools served (default: the tools of ``settings.tool_modules``);
    ``tracing`` overrides the exporters of ``settings`` (tests pass an in-memory exporter).
    """

    def __init__(self, settings: BatonSettings | None = None, *,
                 registry: ToolRegistry | None = None, tracing: Tracing | None = None) -> None:
        self.settings = settings = settings or BatonSettings()
        self.tracing = tracing if tracing is not None else Tracing.from_settings(settings)
        self.registry = registry or default_registry.serving(settings.tool_modules)
        self.llm = LlmActivities(settings=settings)
        # The ledger store the configuration names: SQLite on one host, PostgreSQL across hosts.
        self.tools = ToolActivities(self.registry, open_ledger(settings.resolved_ledger_url),
                                    max_result_chars=settings.max_tool_result_chars,
                                    lease_s=settings.ledger_lease_s)
        self.catalog = CatalogActivities(settings, self.registry)
        telemetry = TelemetryInterceptor(self.tracing)
        # Temporal's tracing interceptor must run outside Baton's, so the caller's trace context
        # is current before Baton's invoke_* spans open: it is configured first (see below).
        self._otel: OpenTelemetryPlugin | None = None
        if telemetry.tracing is not None:
            tracer_provider()  # the plugin refuses a global provider that is not replay-safe
            self._otel = OpenTelemetryPlugin(add_temporal_spans=telemetry.tracing.temporal_spans)
        super().__init__(
            "baton",
            data_converter=baton_data_converter,
            interceptors=[telemetry],
            workflows=ALL_WORKFLOWS,
            activities=[self.catalog.resolve_catalog, self.llm.chat, self.tools.execute_tool],
            workflow_runner=workflow_runner,
            run_context=self._resources,
        )

    def configure_client(self, config: temporalio.client.ClientConfig
                         ) -> temporalio.client.ClientConfig:
        if self._otel is not None:
            config = self._otel.configure_client(config)
        return super().configure_client(config)

    def configure_worker(self, config: temporalio.worker.WorkerConfig
                         ) -> temporalio.worker.WorkerConfig:
        if self._otel is not None:
            config = self._otel.configure_worker(config)
        config = super().configure_worker(config)
        # The llm activity rebuilds a conversation prefix by querying its workflow.
        self.llm.temporal_client = config["client"]
        return config

    def configure_replayer(self, config: temporalio.worker.ReplayerConfig
                           ) -> temporalio.worker.ReplayerConfig:
        if self._otel is not None:
            config = self._otel.configure_replayer(config)
        return super().configure_replayer(config)

    @asynccontextmanager
    async def _resources(self) -> AsyncIterator[None]:
        """What lives as long as the worker: exporters, one pooled HTTP client for every
        provider call (no SDK retries: Temporal owns retries) and the ledger's connections."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with self.tracing.exporting():
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as http:
                self.llm.http = http
                try:
                    yield
                finally:
                    self.llm.http = None
                    # Tools whose attempt was cancelled may still run in threads: their claims
                    # are renewed and their outcomes recorded before the ledger closes.
                    await self.tools.drain()
                    await self.tools.ledger.close()
