"""Trace export: one replay-safe tracer provider per process, exporters chosen by configuration.

Temporal's ``OpenTelemetryPlugin`` insists that the *global* tracer provider is a
``ReplaySafeTracerProvider`` (its span ids come from the workflow's deterministic random, so a
replayed workflow task re-creates the very spans it created the first time, and spans are not
ended while replaying). OpenTelemetry lets a process set its global provider once, so a provider
cannot be injected per worker. Instead :func:`tracer_provider` installs one provider whose span
processors can be attached and detached: a worker (or a test) brings its own processors in a
:class:`Tracing` and they receive spans for as long as the worker runs.

Whether a worker traces at all is decided per worker: :class:`Tracing` travels to the worker's
interceptors, which only then create Baton spans; activities find it in :data:`ACTIVE`.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import temporalio.client
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from temporalio.contrib.opentelemetry import (
    OpenTelemetryInterceptor,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)

from baton.telemetry.semconv import SCHEMA_URL

if TYPE_CHECKING:
    from baton.settings import BatonSettings

__all__ = [
    "ACTIVE",
    "Tracing",
    "client_interceptor",
    "otlp_headers",
    "otlp_url",
    "tracer",
    "tracer_provider",
]

# The worker's tracing configuration while one of its activities runs; None: no Baton spans.
ACTIVE: ContextVar[Tracing | None] = ContextVar("baton_tracing", default=None)
_lock = threading.Lock()
_provider: ReplaySafeTracerProvider | None = None


class _Fanout(SpanProcessor):
    """Span processors that can come and go while the provider lives (one per running worker)."""

    def __init__(self) -> None:
        self.processors: tuple[SpanProcessor, ...] = ()  # replaced, never mutated: lock-free reads

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        for processor in self.processors:
            processor.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for processor in self.processors:
            processor.on_end(span)

    def shutdown(self) -> None:
        for processor in self.processors:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self.processors)


_fanout = _Fanout()


def tracer_provider() -> ReplaySafeTracerProvider:
    """The process's replay-safe provider, installed as the OpenTelemetry global on first use."""
    global _provider  # noqa: PLW0603  (set once per process, like OpenTelemetry's own)
    with _lock:
        if _provider is not None:
            return _provider
        current = trace.get_tracer_provider()
        if isinstance(current, ReplaySafeTracerProvider):
            provider = current  # someone (an embedding application) installed one: share it
        elif isinstance(current, trace.ProxyTracerProvider):
            from opentelemetry.sdk.resources import Resource

            service = os.environ.get("OTEL_SERVICE_NAME", "baton-worker")
            provider = create_tracer_provider(resource=Resource.create({"service.name": service}))
            trace.set_tracer_provider(provider)
        else:
            raise RuntimeError(
                "the OpenTelemetry global tracer provider is already set and is not replay-safe; "
                "create it with temporalio.contrib.opentelemetry.create_tracer_provider()")
        provider.add_span_processor(_fanout)
        _provider = provider
        return provider


def tracer(name: str) -> trace.Tracer:
    """A tracer of the replay-safe provider (the global one may not be installed yet)."""
    return tracer_provider().get_tracer(name, schema_url=SCHEMA_URL)


@dataclass(frozen=True)
class Tracing:
    """What one worker does with traces: where spans go and whether content is recorded."""

    processors: Sequence[SpanProcessor] = ()
    content: bool = False  # prompts, completions, tool arguments and results (opt-in)
    temporal_spans: bool = True  # Temporal's own StartWorkflow/RunActivity/... spans too
    _attached: list[SpanProcessor] = field(default_factory=list, compare=False, repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.processors)

    @classmethod
    def from_settings(cls, settings: BatonSettings) -> Tracing:
        return cls(processors=_processors(settings), content=settings.trace_content,
                   temporal_spans=settings.trace_temporal_spans)

    @contextmanager
    def exporting(self) -> Iterator[Tracing]:
        """Attach the processors for the block; flush and detach them at its end."""
        if not self.enabled:
            yield self
            return
        tracer_provider()
        with _lock:
            _fanout.processors = (*_fanout.processors, *self.processors)
        try:
            yield self
        finally:
            with _lock:
                _fanout.processors = tuple(
                    p for p in _fanout.processors if all(p is not q for q in self.processors))
            for processor in self.processors:
                processor.force_flush()
                processor.shutdown()


def otlp_url(endpoint: str, signal: str) -> str:
    """``BATON_OTLP_ENDPOINT`` is a base URL, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` is:
    ``http://jaeger:4318`` → ``http://jaeger:4318/v1/traces``; a full signal URL is kept."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(f"/v1/{signal}") else f"{endpoint}/v1/{signal}"


def otlp_headers(raw: str | None) -> dict[str, str]:
    """``k=v,k2=v2`` with URL-encoded values, the ``OTEL_EXPORTER_OTLP_HEADERS`` format
    (``Authorization=Basic%20...``; a literal space after the first ``=`` is accepted too)."""
    headers: dict[str, str] = {}
    for item in (raw or "").split(","):
        if "=" not in item:
            continue
        key, value = item.split("=", 1)
        headers[key.strip()] = urllib.parse.unquote(value.strip())
    return headers


def _processors(settings: BatonSettings) -> list[SpanProcessor]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    if settings.trace_exporter == "console":
        return [BatchSpanProcessor(ConsoleSpanExporter())]
    if settings.trace_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        if not settings.otlp_endpoint:
            raise ValueError("BATON_TRACE_EXPORTER=otlp needs BATON_OTLP_ENDPOINT")
        exporter = OTLPSpanExporter(endpoint=otlp_url(settings.otlp_endpoint, "traces"),
                                    headers=otlp_headers(settings.otlp_headers))
        return [BatchSpanProcessor(exporter)]
    return []


class _ClientOnly(temporalio.client.Interceptor):
    """Temporal's tracing interceptor for a *client* only. Given to ``Client.connect`` the full
    interceptor would also be picked up by every worker built on that client, and run twice with
    the worker's own plugin."""

    def __init__(self, temporal_spans: bool) -> None:
        self._inner = OpenTelemetryInterceptor(temporal_spans)

    def intercept_client(
        self, next: temporalio.client.OutboundInterceptor
    ) -> temporalio.client.OutboundInterceptor:
        return self._inner.intercept_client(next)


def client_interceptor(temporal_spans: bool = True) -> temporalio.client.Interceptor:
    """For ``Client.connect(interceptors=[...])``: the run's trace then starts at the client
    (``StartWorkflow:AgentWorkflow``), so a CLI or service call and the run share one trace."""
    return _ClientOnly(temporal_spans)
