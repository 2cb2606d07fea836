"""The one place that turns an HTTP exchange with a model provider into a Baton error.

Both adapters (OpenAI-compatible and Anthropic) send through :func:`post_json`, so a 429 from
OpenAI, from vLLM and from Anthropic is classified the same way. There is no retry loop here on
purpose (docs/architecture.md#one-model-code-path): the classification travels with the
``ApplicationError`` (:func:`to_application_error`), Temporal retries what is retryable (after the
wait :mod:`baton.activities.llm.attempts` asks for) and the workflow decides what a final failure
means for the run: fail over, compact or stop. The rules, in the order the vendors' own SDKs
apply them:

1. out of credit (OpenAI ``insufficient_quota``, Anthropic ``billing_error`` or a "credit
   balance is too low" 400, any 402) is ``ProviderQuotaError``, never retried;
2. ``x-should-retry: true`` retries any status, ``x-should-retry: false`` retries none;
3. 408/409/429/5xx are retryable, 401/403 are ``ProviderAuthError``, a conversation too long
   for the model is ``ProviderContextError`` and any other 4xx ``ProviderRequestError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from baton.activities.llm.ratelimits import parse_retry_after, request_id
from baton.calls import RETRY_AFTER_CAP_S
from baton.errors import (
    BatonError,
    ProviderAuthError,
    ProviderContextError,
    ProviderError,
    ProviderQuotaError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderRetryableError,
    ProviderUnavailableError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "ErrorBody",
    "classify_status",
    "classify_transport",
    "decode_json",
    "error_body",
    "parse_retry_after",
    "post_json",
    "provider_message",
    "to_application_error",
]

# 408 timeout, 409 conflict (OpenAI uses it for transient lock contention), 429 rate limit.
# Every 5xx is retryable too (including Anthropic's 529 "overloaded").
RETRYABLE_STATUSES = frozenset({408, 409, 429})
_MAX_MESSAGE = 500  # provider error text kept in the exception; bodies can be whole HTML pages
_QUOTA = frozenset({"insufficient_quota", "billing_error"})
_QUOTA_TEXT = re.compile(r"credit balance is too low", re.I)
_CONTEXT = frozenset({"context_length_exceeded", "exceed_context_size_error", "request_too_large"})
_CONTEXT_TEXT = re.compile(
    r"maximum context length|context window|context length|prompt is too long|"
    r"exceeds the available context size", re.I)


@dataclass(frozen=True)
class ErrorBody:
    """What an error body says, in OpenAI's (``{"error": {...}}``), Anthropic's
    (``{"type": "error", "error": {...}, "request_id": ...}``) or vLLM's flat shape."""

    message: str
    code: str | None = None
    kind: str | None = None  # the body's ``type``
    param: str | None = None
    request_id: str | None = None


def _text(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict | list) else str(value)


def error_body(body: bytes) -> ErrorBody:
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return ErrorBody(text[:_MAX_MESSAGE] or "(empty body)")
    if not isinstance(data, dict):
        return ErrorBody(text[:_MAX_MESSAGE])
    error = data.get("error")
    fields: Mapping[str, Any] = error if isinstance(error, dict) else data
    message = fields.get("message") if isinstance(fields.get("message"), str) else (
        error if isinstance(error, str) else text)
    return ErrorBody(
        str(message)[:_MAX_MESSAGE], code=_text(fields.get("code")), kind=_text(fields.get("type")),
        param=_text(fields.get("param")), request_id=_text(data.get("request_id")))


def provider_message(body: bytes) -> str:
    """The human-readable part of an error body, else the (truncated) raw text."""
    return error_body(body).message


def classify_status(
    status: int, *, provider: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> ProviderError:
    """The exception for a non-2xx answer."""
    headers = headers or {}
    said = error_body(body)
    message = f"{provider} answered HTTP {status}: {said.message}"
    fields: dict[str, Any] = {
        "provider": provider, "status": status, "code": said.code, "kind": said.kind,
        "param": said.param, "request_id": said.request_id or request_id(headers)}
    if status == 402 or {said.code, said.kind} & _QUOTA or (
            status == 400 and _QUOTA_TEXT.search(said.message)):
        return ProviderQuotaError(message, **fields)
    should_retry = {k.lower(): v for k, v in headers.items()}.get("x-should-retry", "").lower()
    retryable = status in RETRYABLE_STATUSES or status >= 500
    if should_retry == "true" or (retryable and should_retry != "false"):
        return ProviderRetryableError(message, retry_after=parse_retry_after(headers), **fields)
    if retryable:
        return ProviderUnavailableError(message, **fields)
    if status in (401, 403):
        return ProviderAuthError(message, **fields)
    if status in (400, 413) and (said.code in _CONTEXT or said.kind in _CONTEXT
                                 or _CONTEXT_TEXT.search(said.message)):
        return ProviderContextError(message, **fields)
    return ProviderRequestError(message, **fields)


def classify_transport(exc: Exception, *, provider: str, url: str) -> ProviderError:
    """The exception for a request that got no usable answer at all."""
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        # A base_url like "localhost:8000/v1" will never work, however often it is retried.
        return ProviderRequestError(f"{provider}: invalid URL {url!r}: {exc}", provider=provider)
    timed_out = isinstance(exc, httpx.TimeoutException)
    detail = str(exc) or type(exc).__name__
    return ProviderRetryableError(
        f"{provider}: request to {url} {'timed out' if timed_out else 'failed'}: {detail}",
        provider=provider, kind="timeout" if timed_out else "transport")


def decode_json(body: bytes, *, provider: str, status: int = 200) -> dict[str, Any]:
    """A 2xx body as a JSON object, or ProviderResponseError (never retried: the same request
    would most likely get the same broken answer, and a retry could double the bill)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        snippet = body[:200].decode("utf-8", errors="replace")
        raise ProviderResponseError(
            f"{provider} answered HTTP {status} with a body that is not JSON ({exc}): {snippet!r}",
            provider=provider, status=status,
        ) from exc
    if not isinstance(data, dict):
        raise ProviderResponseError(
            f"{provider} answered HTTP {status} with JSON that is not an object: "
            f"{type(data).__name__}",
            provider=provider, status=status,
        )
    return data


async def post_json(
    http: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    headers: Mapping[str, str],
    timeout_s: float,
    provider: str,
) -> tuple[dict[str, Any], str | None]:
    """POST ``payload`` and return the decoded JSON object with the provider's request id, or
    raise a classified ProviderError."""
    try:
        response = await http.post(
            url, json=payload, headers=dict(headers), timeout=httpx.Timeout(timeout_s)
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise classify_transport(exc, provider=provider, url=url) from exc
    if not response.is_success:
        raise classify_status(
            response.status_code, provider=provider, body=response.content,
            headers=response.headers,
        )
    call_id = request_id(response.headers)
    try:
        return decode_json(response.content, provider=provider,
                           status=response.status_code), call_id
    except ProviderResponseError as exc:
        exc.request_id = call_id
        raise


def to_application_error(exc: BatonError) -> ApplicationError:
    """The Temporal form of a Baton error: ``type`` is the class name, ``non_retryable`` follows
    the class, and the details carry what the workflow plans with and a person reads: the
    provider, HTTP status, request id, the provider's error code/type/param and the delay the
    server asked for (also as ``next_retry_delay``, capped: the wait Temporal honours).
    """
    details: dict[str, Any] = {}
    delay: timedelta | None = None
    if isinstance(exc, ProviderError):
        details = {"provider": exc.provider, "status": exc.status, "request_id": exc.request_id,
                   "code": exc.code, "type": exc.kind, "param": exc.param}
    if isinstance(exc, ProviderRetryableError) and exc.retry_after is not None:
        delay = timedelta(seconds=min(exc.retry_after, RETRY_AFTER_CAP_S))
        details["retry_after"] = exc.retry_after
    return ApplicationError(
        str(exc),
        details,
        type=type(exc).__name__,
        non_retryable=exc.non_retryable,
        next_retry_delay=delay,
    )
