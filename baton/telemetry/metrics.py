"""Metrics: GenAI client metrics (semconv v1.37.0) and Baton's cost and tool latency, recorded
through the OpenTelemetry metrics API, plus Temporal's own worker metrics.

The instruments are created against the global meter (a proxy until a provider is set), so
recording costs next to nothing when metrics are off. :func:`meter_provider` installs an SDK
provider when ``BATON_METRICS_EXPORTER`` asks for one; :func:`temporal_runtime` gives the
Temporal client a runtime that exposes the SDK/Core metrics (task latencies, slots, polls) on
``BATON_METRICS_PROMETHEUS`` or forwards them into the same OpenTelemetry pipeline.

Labels: ``baton.team``, ``baton.tenant``, ``gen_ai.agent.name``, ``gen_ai.request.model`` (or
``gen_ai.tool.name``), never ids, so cardinality stays bounded by configuration.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from opentelemetry import metrics

from baton.telemetry.semconv import SCHEMA_URL

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from temporalio.runtime import MetricBuffer, Runtime

    from baton.settings import BatonSettings

__all__ = [
    "COST",
    "OPERATION_DURATION",
    "TENANT_BUDGET_ALERTS",
    "TENANT_BUDGET_REFUSALS",
    "TENANT_BUDGET_USED",
    "TOKEN_USAGE",
    "TOOL_DURATION",
    "meter_provider",
    "temporal_runtime",
]

log = logging.getLogger("baton.metrics")
_meter = metrics.get_meter("baton", schema_url=SCHEMA_URL)

# Bucket advice from the conventions: tokens grow by 4x, durations are seconds.
TOKEN_USAGE = _meter.create_histogram(
    "gen_ai.client.token.usage", unit="{token}", description="Tokens used per model call",
    explicit_bucket_boundaries_advisory=[4.0 ** i for i in range(14)])
OPERATION_DURATION = _meter.create_histogram(
    "gen_ai.client.operation.duration", unit="s", description="Model call duration",
    explicit_bucket_boundaries_advisory=[
        0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92])
COST = _meter.create_counter(
    "baton.cost_usd", unit="USD", description="Model cost by the profile's price table")
TOOL_DURATION = _meter.create_histogram(
    "baton.tool.duration", unit="s", description="Tool activity duration (one attempt)")
# Tenant budgets (labels baton.tenant, baton.period: day|month, baton.unit: tokens|usd): the
# share of a period's limit spent or held by calls in flight, as of the latest grant.
TENANT_BUDGET_USED = _meter.create_gauge(
    "baton.tenant_budget.used", unit="1",
    description="Share of a tenant's period limit spent or held by calls in flight")
TENANT_BUDGET_ALERTS = _meter.create_counter(
    "baton.tenant_budget.alerts", unit="{alert}",
    description="A tenant's period passed its alert_at share of a limit")
TENANT_BUDGET_REFUSALS = _meter.create_counter(
    "baton.tenant_budget.refusals", unit="{call}",
    description="Model calls refused because the tenant's budget had no room")

_installed: MeterProvider | None = None


def meter_provider(settings: BatonSettings) -> MeterProvider | None:
    """Install the process's meter provider for ``BATON_METRICS_EXPORTER`` (once; None: off)."""
    global _installed  # noqa: PLW0603  (set once per process, like OpenTelemetry's own)
    if settings.metrics_exporter == "none":
        return None
    if _installed is not None:
        return _installed
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricExporter,
        PeriodicExportingMetricReader,
    )

    from baton.telemetry.tracing import otlp_headers, otlp_url

    exporter: MetricExporter
    if settings.metrics_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        if not settings.otlp_endpoint:
            raise ValueError("BATON_METRICS_EXPORTER=otlp needs BATON_OTLP_ENDPOINT")
        exporter = OTLPMetricExporter(endpoint=otlp_url(settings.otlp_endpoint, "metrics"),
                                      headers=otlp_headers(settings.otlp_headers))
    else:
        exporter = ConsoleMetricExporter()
    provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(exporter)])
    metrics.set_meter_provider(provider)
    _installed = provider
    return provider


def temporal_runtime(settings: BatonSettings) -> tuple[Runtime | None, MetricBuffer | None]:
    """A Temporal runtime exposing the SDK's worker metrics, and the buffer to forward (if any).

    ``BATON_METRICS_PROMETHEUS=127.0.0.1:9464`` serves them at ``/metrics`` (Temporal Core's own
    exporter, no extra dependency). Otherwise, with an OpenTelemetry metrics exporter configured,
    they are buffered and forwarded into the OpenTelemetry provider by ``MetricsExporter`` (see
    ``worker.run_worker``). Neither: the default runtime, no metrics.
    """
    from temporalio.runtime import MetricBuffer, PrometheusConfig, Runtime, TelemetryConfig

    if settings.metrics_prometheus:
        config = TelemetryConfig(metrics=PrometheusConfig(bind_address=settings.metrics_prometheus))
        return Runtime(telemetry=config), None
    if settings.metrics_exporter != "none":
        buffer = MetricBuffer(10_000)
        return Runtime(telemetry=TelemetryConfig(metrics=buffer)), buffer
    return None, None
