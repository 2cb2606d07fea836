"""Logging set-up: structlog JSON lines for machines, pretty lines in a terminal, one pipeline.

Everything ends up here: structlog loggers, stdlib loggers (httpx, uvicorn) and Temporal's
``workflow.logger`` / ``activity.logger`` (stdlib adapters; the workflow one already drops lines
while a workflow replays). Their run context (workflow id, run id, team, agent, step, attempt) is
bound in structlog's contextvars by :mod:`baton.telemetry.interceptor`; the trace and span ids are
read from the current OpenTelemetry span when the line is written. Secrets are redacted last.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import IO, Any, Literal, TextIO, cast

import structlog
import temporalio.activity
import temporalio.workflow
from opentelemetry import trace

__all__ = ["configure_logging", "redact_secrets", "register_secret"]

# Key names whose values are secrets. Anchored at the end so usage counts such as
# ``input_tokens`` are not mistaken for a ``token``.
_SECRET_KEY = re.compile(
    r"(^|[_\-.])(api[_\-]?key|authorization|auth|token|secret|password|passwd|credentials?|"
    r"cookie)$", re.IGNORECASE)
_SECRET_ENV = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD)$")
_REDACTED = "***"
_secrets: set[str] = set()  # literal secret values, replaced wherever they appear in a line


def register_secret(value: str | None) -> None:
    """Redact ``value`` from every later log line (too short a value would redact noise)."""
    if value and len(value) >= 8:
        _secrets.add(value)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _secrets:
            if secret in value:
                value = value.replace(secret, _REDACTED)
        return value
    if isinstance(value, dict):
        return {k: _REDACTED if _secret_key(k) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: values of secret-named keys and any registered secret value."""
    for key, value in list(event.items()):
        if key in {"_record", "_from_structlog"}:
            continue
        event[key] = _REDACTED if _secret_key(key) else _redact_value(value)
    return event


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The current span's trace and span id: lines and spans of one run join up in a backend."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def _temporal_extras(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Fields of Temporal's logger adapters (``extra={"temporal_workflow": {...}}``) as keys."""
    record = event.get("_record")
    for extra in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, extra, None)
        if isinstance(details, dict):
            for key, value in details.items():
                event.setdefault(key, value)
    return event


class _Sink:
    """Where lines go; an indirection so loggers cached on first use follow a reconfiguration."""

    stream: IO[str] = sys.stderr

    def write(self, text: str) -> int:
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


_sink = _Sink()


def configure_logging(
    fmt: Literal["auto", "json", "console"] = "auto", level: str = "info", *,
    secret_envs: Iterable[str] = (), stream: IO[str] | None = None,
) -> None:
    """JSON lines for machines, pretty lines in a terminal; stdlib logging routed through too.

    ``secret_envs`` names environment variables whose values must never appear in a line (the
    ``api_key_env`` of the worker's profiles); variables named like ``*_API_KEY``, ``*_TOKEN``,
    ``*_SECRET``, ``*_PASSWORD`` are redacted too.
    """
    _sink.stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if _sink.stream.isatty() else "json"
    for name, value in os.environ.items():
        if name in set(secret_envs) or _SECRET_ENV.search(name):
            register_secret(value)
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redact_secrets, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _sink)),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(_sink)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=[
            *shared, _temporal_extras, structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(), redact_secrets]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # The adapters would append their context dict to the message text; it is in keys already.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
