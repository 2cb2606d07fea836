"""What to do after a failed model-call attempt: wait and ask again, fail over, compact the
conversation, or stop with a typed status. Pure and deterministic, so the agent loop's retries
read as one table and are tested without a server.

The workflow retries model calls itself (one ``chat`` activity attempt at a time, durable timers
in between) instead of leaving it to the activity's retry policy, because only the workflow can
record every attempt in the run log, weigh a server's ``Retry-After`` against the run's remaining
wall-clock budget and tell an outage (wait, then fail over) from a refusal to serve (stop).

=============================  =================================================================
failure                        decision
=============================  =================================================================
retryable (429, 5xx, timeout)  wait ``Retry-After`` (at most 60 s, as the vendors' SDKs do) or
                               the backoff (1 s doubling to 30 s), up to ``max_attempts``; then
                               fail over, else ``failed``. A wait the run's remaining wall clock
                               cannot afford: fail over now, else ``budget_exhausted``.
``ProviderUnavailableError``   (``x-should-retry: false``) fail over, else ``failed``
``ProviderQuotaError``         fail over once if ``failover_on_quota``, else ``failed``
``ProviderContextError``       compact the conversation and ask once more, else
                               ``context_exceeded``
anything else (401, 400, ...)  ``failed``: a configuration error should be loud
=============================  =================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

from baton.calls import RETRY_AFTER_CAP_S
from baton.runs import RunStatus
from baton.specs import ServedProfile

__all__ = ["RETRY_AFTER_CAP_S", "Decision", "Failure", "attempt_failure", "backoff_s", "decide"]

_INITIAL_S, _COEFFICIENT, _MAX_S = 1.0, 2.0, 30.0


@dataclass(frozen=True)
class Failure:
    """One failed attempt as the workflow sees it (from the activity's ``ApplicationError``)."""

    error_type: str
    message: str
    retryable: bool
    timed_out: bool = False
    retry_after: float | None = None  # what the server asked for, uncapped
    http_status: int | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class Decision:
    action: Literal["retry", "failover", "compact", "stop"]
    delay_s: float = 0.0
    status: RunStatus = RunStatus.FAILED
    reason: str = ""
    error_type: str | None = None


def attempt_failure(exc: ActivityError) -> Failure:
    cause = exc.cause
    if isinstance(cause, TimeoutError):  # start-to-close or heartbeat: the attempt was lost
        kind = cause.type.name.lower() if cause.type is not None else "timeout"
        return Failure("timeout", f"the attempt timed out ({kind})", retryable=True,
                       timed_out=True)
    if isinstance(cause, ApplicationError):
        details: dict[str, Any] = cause.details[0] if cause.details and isinstance(
            cause.details[0], dict) else {}
        retry_after = details.get("retry_after")
        return Failure(
            cause.type or "ApplicationError", cause.message, retryable=not cause.non_retryable,
            timed_out=details.get("type") == "timeout",  # the provider call's own timeout
            retry_after=float(retry_after) if isinstance(retry_after, int | float) else None,
            http_status=details.get("status"), request_id=details.get("request_id"))
    return Failure(type(cause).__name__ if cause else "ActivityError",
                   str(cause or exc), retryable=True)


def backoff_s(attempt: int) -> float:
    """The wait after failed attempt ``attempt`` (1-based) when the server named none."""
    return min(_INITIAL_S * _COEFFICIENT ** (attempt - 1), _MAX_S)


def _failover_or(profile: ServedProfile, status: RunStatus, reason: str,
                 error_type: str | None) -> Decision:
    if profile.fallback is not None:
        return Decision("failover", reason=reason)
    return Decision("stop", status=status, reason=reason, error_type=error_type)


def _refused(failure: Failure, profile: ServedProfile, *, compacted: bool,
             quota_failed_over: bool) -> Decision:
    """A failure not worth the same request again."""
    said = f"{failure.error_type}: {failure.message}"
    if failure.error_type == "ProviderContextError":
        return Decision("compact", reason=said) if not compacted else Decision(
            "stop", status=RunStatus.CONTEXT_EXCEEDED, error_type="context_exceeded",
            reason=f"the conversation does not fit the model's context window even compacted: "
                   f"{failure.message}")
    if failure.error_type == "ProviderQuotaError" and (
            not profile.failover_on_quota or quota_failed_over):
        return Decision("stop", reason=said, error_type=failure.error_type)
    if failure.error_type in ("ProviderQuotaError", "ProviderUnavailableError"):
        return _failover_or(profile, RunStatus.FAILED, said, failure.error_type)
    return Decision("stop", reason=said, error_type=failure.error_type)


def decide(failure: Failure, *, attempt: int, profile: ServedProfile,
           remaining_s: float | None, compacted: bool, quota_failed_over: bool) -> Decision:
    """The next move after failed attempt ``attempt`` on ``profile`` (see the module table)."""
    if not failure.retryable:
        return _refused(failure, profile, compacted=compacted,
                        quota_failed_over=quota_failed_over)
    said = f"{failure.error_type}: {failure.message}"
    if attempt >= profile.max_attempts:
        return _failover_or(profile, RunStatus.FAILED, f"{said} (after {attempt} attempts)",
                            failure.error_type)
    wanted = failure.retry_after if failure.retry_after else None  # "0" means: no wish
    delay = backoff_s(attempt) if wanted is None else min(wanted, RETRY_AFTER_CAP_S)
    wait = max(delay, wanted or 0.0)  # a server's wish beyond the cap still counts here
    if remaining_s is not None and wait >= remaining_s:
        return _failover_or(
            profile, RunStatus.BUDGET_EXHAUSTED,
            f"{said}; waiting {wait:.0f} s to ask again would pass the run's wall-clock budget "
            f"({max(remaining_s, 0.0):.0f} s left)", "retry_past_deadline")
    return Decision("retry", delay_s=delay, reason=said)
