"""The one place that turns an HTTP exchange with a model provider into a Baton error.

Both adapters (OpenAI-compatible and Anthropic) send through :func:`post_json`, so a 429 from
OpenAI, from vLLM and from Anthropic is classified the same way. There is no retry loop here on
purpose (docs/architecture.md#one-model-code-path): Temporal owns retries, and
:func:`to_application_error` hands it
the classification (``non_retryable``) and the server's wish (``next_retry_delay`` from
``Retry-After``).
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from baton.errors import (
    BatonError,
    ProviderAuthError,
    ProviderError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderRetryableError,
)

__all__ = [
    "RETRYABLE_STATUSES",
    "classify_status",
    "classify_transport",
    "decode_json",
    "parse_retry_after",
    "post_json",
    "provider_message",
    "to_application_error",
]

# 408 timeout, 409 conflict (OpenAI uses it for transient lock contention), 429 rate limit.
# Every 5xx is retryable too (including Anthropic's 529 "overloaded").
RETRYABLE_STATUSES = frozenset({408, 409, 429})
_MAX_MESSAGE = 500  # provider error text kept in the exception; bodies can be whole HTML pages


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait, or None when it did not say (or said nonsense).

    ``retry-after-ms`` (OpenAI, Anthropic) is preferred because it is more precise; ``Retry-After``
    may be delta-seconds or an HTTP-date (RFC 9110 §10.2.3). A date in the past means "now".
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive parse means the zone was missing
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def provider_message(body: bytes) -> str:
    """The human-readable part of an error body: ``error.message`` in both OpenAI's and
    Anthropic's shape, else the (truncated) raw text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:_MAX_MESSAGE] or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:_MAX_MESSAGE]
        if isinstance(error, str):
            return error[:_MAX_MESSAGE]
        if isinstance(data.get("message"), str):
            return str(data["message"])[:_MAX_MESSAGE]
    return text[:_MAX_MESSAGE]


def classify_status(
    status: int, *, provider: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> ProviderError:
    """The exception for a non-2xx answer."""
    message = f"{provider} answered HTTP {status}: {provider_message(body)}"
    if status in RETRYABLE_STATUSES or status >= 500:
        return ProviderRetryableError(
            message, provider=provider, status=status,
            retry_after=parse_retry_after(headers or {}),
        )
    if status in (401, 403):
        return ProviderAuthError(message, provider=provider, status=status)
    return ProviderRequestError(message, provider=provider, status=status)


def classify_transport(exc: Exception, *, provider: str, url: str) -> ProviderError:
    """The exception for a request that got no usable answer at all."""
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        # A base_url like "localhost:8000/v1" will never work, however often it is retried.
        return ProviderRequestError(f"{provider}: invalid URL {url!r}: {exc}", provider=provider)
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    detail = str(exc) or type(exc).__name__
    return ProviderRetryableError(
        f"{provider}: request to {url} {kind}: {detail}", provider=provider
    )


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
) -> dict[str, Any]:
    """POST ``payload`` and return the decoded JSON object, or raise a classified ProviderError."""
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
    return decode_json(response.content, provider=provider, status=response.status_code)


def to_application_error(exc: BatonError) -> ApplicationError:
    """The Temporal form of a Baton error: ``type`` is the class name, ``non_retryable`` follows
    the class, and a server-requested delay becomes ``next_retry_delay`` (which overrides the
    retry policy's backoff for that one retry)."""
    details: dict[str, Any] = {}
    delay: timedelta | None = None
    if isinstance(exc, ProviderError):
        details = {"provider": exc.provider, "status": exc.status}
    if isinstance(exc, ProviderRetryableError) and exc.retry_after is not None:
        delay = timedelta(seconds=exc.retry_after)
        details["retry_after"] = exc.retry_after
    return ApplicationError(
        str(exc),
        details,
        type=type(exc).__name__,
        non_retryable=exc.non_retryable,
        next_retry_delay=delay,
    )
