"""Client-side spans: a CLI (or any client process) that traces starts the run's trace itself.

With ``BATON_TRACE_EXPORTER`` set to ``console`` or ``otlp`` the process attaches its exporters
to Baton's replay-safe tracer provider (:mod:`baton.telemetry.tracing`) once, and every client
it connects gets :func:`baton.telemetry.client_interceptor`. Short-lived processes must call
:func:`flush` before they exit (``baton`` does, right before its ``os._exit``).
"""

from __future__ import annotations

import contextlib
import os
import threading

import temporalio.client

from baton.settings import BatonSettings
from baton.telemetry import Tracing, client_interceptor

__all__ = ["client_interceptors", "flush"]

_lock = threading.Lock()
_exporting: contextlib.ExitStack | None = None


def client_interceptors(settings: BatonSettings) -> list[temporalio.client.Interceptor]:
    """The interceptors for a client of this process; exporters attach on first use."""
    global _exporting  # noqa: PLW0603  (one set of exporters per process)
    if settings.trace_exporter == "none":
        return []
    with _lock:
        if _exporting is None:
            os.environ.setdefault("OTEL_SERVICE_NAME", "baton-client")
            stack = contextlib.ExitStack()
            stack.enter_context(Tracing.from_settings(settings).exporting())
            _exporting = stack
    return [client_interceptor(settings.trace_temporal_spans)]


def flush() -> None:
    """Flush and detach the exporters attached by :func:`client_interceptors`, if any."""
    global _exporting
    with _lock:
        stack, _exporting = _exporting, None
    if stack is not None:
        stack.close()
