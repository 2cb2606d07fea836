"""Telemetry: structlog logging, OpenTelemetry traces (GenAI conventions) and metrics.

* :mod:`~baton.telemetry.logs`: :func:`configure_logging` and the redaction of secrets;
* :mod:`~baton.telemetry.tracing`: the replay-safe tracer provider and per-worker :class:`Tracing`;
* :mod:`~baton.telemetry.interceptor`: the worker interceptor (log context, workflow spans);
* :mod:`~baton.telemetry.spans`: the ``chat`` and ``execute_tool`` spans the activities open;
* :mod:`~baton.telemetry.metrics`: instruments, meter provider, Temporal's runtime metrics;
* :mod:`~baton.telemetry.semconv`: the pinned attribute names.
"""

from baton.telemetry.interceptor import LogContextInterceptor, TelemetryInterceptor
from baton.telemetry.logs import configure_logging, register_secret
from baton.telemetry.tracing import Tracing, client_interceptor

__all__ = [
    "LogContextInterceptor",
    "TelemetryInterceptor",
    "Tracing",
    "client_interceptor",
    "configure_logging",
    "register_secret",
]
