"""What a provider's response headers say: when to try again, and which call it was.

The delay a server asks for comes, best first, from ``retry-after-ms`` (OpenAI, Anthropic),
``Retry-After`` (delta-seconds or an HTTP-date, RFC 9110 §10.2.3) and the rate-limit reset
headers: ``x-ratelimit-reset-{requests,tokens}`` on OpenAI (Go-style durations such as ``6m0s``
or ``20ms``) and ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset`` on
Anthropic (RFC 3339 times). The delay is returned as asked: capping it, and weighing it against
the run's wall-clock deadline, is :mod:`baton.activities.llm.attempts`'s decision.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["parse_go_duration", "parse_reset", "parse_retry_after", "request_id"]

_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_RESET = re.compile(r"^(?:x-ratelimit-reset-(?P<openai>.+)|anthropic-ratelimit-(?P<anthropic>.+)"
                    r"-reset)$")


def parse_go_duration(text: str) -> float | None:
    """Seconds of a Go ``time.Duration`` string (``1h2m3.5s``, ``20ms``, ``0s``), else None."""
    text, total, position = text.strip(), 0.0, 0
    for part in _GO_PART.finditer(text):
        if part.start() != position:
            return None
        total += float(part.group(1)) * _GO_UNITS[part.group(2)]
        position = part.end()
    return total if text and position == len(text) else None


def _seconds_until(value: str, now: datetime) -> float | None:
    """A reset value as seconds from ``now``: a Go duration, plain seconds or an RFC 3339 time."""
    duration = parse_go_duration(value)
    if duration is not None:
        return duration
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_reset(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds until the exhausted rate limit resets: the latest reset among limits whose
    ``remaining`` is 0; when none says so, the earliest reset of any limit."""
    now = now or datetime.now(UTC)
    lowered = {k.lower(): v for k, v in headers.items()}
    exhausted: list[float] = []
    every: list[float] = []
    for key, value in lowered.items():
        found = _RESET.match(key)
        seconds = _seconds_until(value, now) if found else None
        if found is None or seconds is None:
            continue
        every.append(seconds)
        remaining = (lowered.get(f"x-ratelimit-remaining-{found['openai']}") if found["openai"]
                     else lowered.get(f"anthropic-ratelimit-{found['anthropic']}-remaining"))
        if remaining is not None and remaining.strip() == "0":
            exhausted.append(seconds)
    if exhausted:
        return max(exhausted)
    return min(every) if every else None


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait, or None when it did not say (or said nonsense)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            # RFC 9110 dates are GMT; a naive parse means the zone was missing.
            when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
            return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    return parse_reset(headers, now=now)


def request_id(headers: Mapping[str, str], body: Any = None) -> str | None:
    """The provider's id of a call: ``x-request-id`` (OpenAI and most compatible servers),
    ``request-id`` (Anthropic), else Anthropic's error body ``request_id``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    found = lowered.get("x-request-id") or lowered.get("request-id")
    if not found and isinstance(body, dict) and isinstance(body.get("request_id"), str):
        found = body["request_id"]
    return found or None
