"""``BatonPlugin``: everything a Temporal client, worker or replayer needs to run Baton.

Put it on the client; every worker built from that client then runs Baton's workflows and
activities next to whatever else it runs::

    client = await Client.connect("localhost:7233", plugins=[BatonPlugin(BatonSettings())])
    worker = Worker(client, task_queue="baton", workflows=[MyWorkflow], activities=[my_act])

It brings:

* the pydantic data converter (Baton's payloads are pydantic models), keeping any payload codec
  the client already has (compression, a codec of your own) and adding Baton's payload
  encryption when the settings hold codec keys;
* the sandbox rules: only Baton's pure contract modules (specs, messages, runs, approvals,
  conditions, activity payloads) pass through; workflow code itself stays sandboxed, so a
  ``datetime.now()`` in an orchestration module fails the workflow task instead of silently
  breaking replay;
* interceptors: log context and GenAI spans, and Temporal's OpenTelemetry plugin ordered before
  them when tracing is on;
* the eight pattern workflows, the session workflow, the tenant budget and rollout workflows,
  and the ``resolve_catalog``, ``chat``, ``execute_tool``, ``recall_memories``,
  ``store_memory``, ``reserve_tenant_budget`` and ``version_stats`` activities, built from the
  worker's configuration: the model profiles it serves, the tools of its ``tool_modules`` and of its
  ``mcp_servers`` plus the built-in memory tools, its tenant budgets, its idempotency ledger
  (``ledger_url``), its memory store (``memory_url``) and one pooled HTTP client, opened and
  closed with the worker (as are the MCP servers: started in the background when a worker
  starts, stopped when it stops).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import temporalio.client
import temporalio.worker
from temporalio.contrib.opentelemetry import OpenTelemetryPlugin
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.plugin import SimplePlugin
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from baton._code_pinning import pin_workflow_code, workflow_packages
from baton.activities.catalog import CatalogActivities
from baton.activities.llm.activity import LlmActivities
from baton.activities.mcp import McpPool
from baton.activities.memory import (
    Embedder,
    MemoryActivities,
    MemoryService,
    open_memory_store,
)
from baton.activities.memory.tools import BUILTIN_TOOL_MODULE
from baton.activities.rollout import RolloutActivities
from baton.activities.tenant import TenantActivities
from baton.activities.tools import ToolActivities, open_ledger
from baton.codec import ChainCodec, EncryptionCodec, encryption_codec
from baton.settings import BatonSettings
from baton.telemetry import TelemetryInterceptor, Tracing
from baton.telemetry.tracing import tracer_provider
from baton.tools import ToolRegistry, default_registry
from baton.workflows import ALL_WORKFLOWS
from baton.workflows._activities import rate_limited_queue

__all__ = ["SANDBOX_PASSTHROUGH", "BatonPlugin", "baton_data_converter", "workflow_runner"]

# Pure data and pure functions (no I/O, no clock, no randomness): safe to share across workflow
# runs, and re-importing their pydantic models for every run would cost more than all the rest.
SANDBOX_PASSTHROUGH = (
    "baton.approvals", "baton.budgets", "baton.calls", "baton.canary", "baton.conditions",
    "baton.idempotency", "baton.memory", "baton.messages", "baton.patterns", "baton.profiles",
    "baton.reports", "baton.rollout", "baton.run_events", "baton.runs", "baton.schemas",
    "baton.sessions", "baton.signing", "baton.specs", "baton.streaming", "baton.visibility",
    "baton.workflow_records", "cryptography", "jsonschema",
)


def baton_data_converter(existing: DataConverter | None = None, *,
                         codec: PayloadCodec | None = None) -> DataConverter:
    """The pydantic converter, keeping the payload codec (and failure converter settings) of
    ``existing`` and adding ``codec`` (Baton's encryption) after it: Baton composes with a
    user's codec instead of replacing it."""
    base = existing or pydantic_data_converter
    if isinstance(base.payload_codec, EncryptionCodec | ChainCodec):
        codec = None  # Baton's codec is already there (a client built by baton.worker.connect)
    codecs = [c for c in (base.payload_codec, codec) if c is not None]
    return dataclasses.replace(
        base, payload_converter_class=pydantic_data_converter.payload_converter_class,
        payload_codec=codecs[0] if len(codecs) == 1 else ChainCodec(codecs) if codecs else None)


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
    ``tracing`` overrides the exporters of ``settings`` (tests pass an in-memory exporter);
    ``workflows`` overrides which of Baton's workflow classes are registered (all of them).
    """

    def __init__(self, settings: BatonSettings | None = None, *,
                 registry: ToolRegistry | None = None, tracing: Tracing | None = None,
                 workflows: Sequence[type] | None = None) -> None:
        self.settings = settings = settings or BatonSettings()
        self.tracing = tracing if tracing is not None else Tracing.from_settings(settings)
        self.registry = registry or default_registry.serving(settings.tool_modules)
        # The memory tools (remember, recall) are served by every worker, next to its own.
        builtins = default_registry.serving([BUILTIN_TOOL_MODULE])
        for name in builtins.names():
            if self.registry.get(name) is None:
                self.registry.register(builtins.resolve(name))
        self.llm = LlmActivities(settings=settings)
        # MCP servers add their tools to the same registry as they come up.
        self.mcp = McpPool(settings.mcp_servers, self.registry, log_dir=settings.home / "logs")
        # The stores the configuration names: SQLite on one host, PostgreSQL across hosts.
        self.embedder = None if settings.embeddings is None else Embedder(
            settings.embeddings, base_url=settings.resolved_model_server_url)
        self.memory = MemoryService(open_memory_store(settings.resolved_memory_url),
                                    self.embedder)
        self.tools = ToolActivities(self.registry, open_ledger(settings.resolved_ledger_url),
                                    max_result_chars=settings.max_tool_result_chars,
                                    lease_s=settings.ledger_lease_s,
                                    unavailable=self.mcp.why_unavailable, memory=self.memory,
                                    conversations=self.llm.cache)
        self.memory_activities = MemoryActivities(self.memory)
        self.catalog = CatalogActivities(settings, self.registry, self.mcp)
        self.tenants = TenantActivities(settings)
        self.rollouts = RolloutActivities()
        telemetry = TelemetryInterceptor(self.tracing)
        # Temporal's tracing interceptor must run outside Baton's, so the caller's trace context
        # is current before Baton's invoke_* spans open: it is configured first (see below).
        self._otel: OpenTelemetryPlugin | None = None
        if telemetry.tracing is not None:
            tracer_provider()  # the plugin refuses a global provider that is not replay-safe
            self._otel = OpenTelemetryPlugin(add_temporal_spans=telemetry.tracing.temporal_spans)
        codec = encryption_codec(settings)
        super().__init__(
            "baton",
            data_converter=lambda existing: baton_data_converter(existing, codec=codec),
            interceptors=[telemetry],
            workflows=list(ALL_WORKFLOWS if workflows is None else workflows),
            activities=[self.catalog.resolve_catalog, self.llm.chat, self.tools.execute_tool,
                        self.memory_activities.recall_memories,
                        self.memory_activities.store_memory,
                        self.tenants.reserve_tenant_budget, self.rollouts.version_stats],
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
        pin_workflow_code(workflow_packages(config.get("workflows") or ()))
        # The llm activity rebuilds a conversation prefix by querying its workflow; the tenant
        # budget activity sends updates to an authority, the rollout one reads visibility.
        self.llm.temporal_client = self.tenants.client = self.rollouts.client = config["client"]
        self._task_queue = config["task_queue"]
        return config

    def configure_replayer(self, config: temporalio.worker.ReplayerConfig
                           ) -> temporalio.worker.ReplayerConfig:
        if self._otel is not None:
            config = self._otel.configure_replayer(config)
        config = super().configure_replayer(config)
        pin_workflow_code(workflow_packages(config.get("workflows") or ()))
        return config

    @asynccontextmanager
    async def _resources(self) -> AsyncIterator[None]:
        """What lives as long as the worker: exporters, one pooled HTTP client for every
        provider call (no SDK retries: Temporal owns retries), the MCP servers (a worker only:
        a replayer runs no activity) and the ledger's connections."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        with self.tracing.exporting():
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as http:
                self.llm.http = http
                if self.embedder is not None:
                    self.embedder.http = http
                try:
                    async with AsyncExitStack() as limited:
                        if getattr(self, "_task_queue", None) is not None:
                            await limited.enter_async_context(self.mcp.running())
                        for worker in self._rate_limited_workers():
                            await limited.enter_async_context(worker)
                        yield
                finally:
                    self.llm.http = None
                    # Tools whose attempt was cancelled may still run in threads: their claims
                    # are renewed and their outcomes recorded before the ledger closes.
                    await self.tools.drain()
                    await self.tools.ledger.close()
                    await self.memory.close()

    def _rate_limited_workers(self) -> list[temporalio.worker.Worker]:
        """One activity worker per rate-limited profile, polling that profile's queue: the
        server dispatches its calls at most ``max_requests_per_second`` across the fleet."""
        client, queue = self.llm.temporal_client, getattr(self, "_task_queue", None)
        if client is None or queue is None:
            return []
        # The same connection and converter, without this plugin: a worker built from a client
        # that carries it would register all of Baton again (and start its own limited workers).
        config = client.config(active_config=True)
        config["plugins"] = []
        plain = temporalio.client.Client(**config)
        return [temporalio.worker.Worker(
            plain, task_queue=rate_limited_queue(queue, name), activities=[self.llm.chat],
            max_task_queue_activities_per_second=profile.max_requests_per_second)
            for name, profile in self.settings.profiles.items()
            if profile.max_requests_per_second is not None]
