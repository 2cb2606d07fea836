"""What the agent loop does once a model call has failed for good: fail over, compact the
conversation, or stop with a typed status. Pure and deterministic, so the table is tested without
a server.

Retrying is not decided here: Temporal retries the ``chat`` activity (its retry policy, the wait
the provider asked for, never past the run's wall-clock deadline; see
:mod:`baton.activities.llm.attempts`). What reaches the workflow is the call's final failure
with the records of all its attempts, and what is left to decide is about the run:

==================================  ===========================================================
the call failed                     decision
==================================  ===========================================================
retryable (429, 5xx, timeouts),     fail over, else ``failed`` ("after N attempts")
``max_attempts`` used up
the next wait would pass the        fail over now, else ``budget_exhausted``
run's wall clock                    (``retry_past_deadline``)
the run's wall clock ran out        ``budget_exhausted``
during an attempt
``ProviderUnavailableError``        (``x-should-retry: false``) fail over, else ``failed``
``ProviderQuotaError``              fail over once if ``failover_on_quota``, else ``failed``
``ProviderContextError``            compact the conversation and ask once more, else
                                    ``context_exceeded``
anything else (401, 400, ...)       ``failed``: a configuration error should be loud
==================================  ===========================================================
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    RetryState,
    TimeoutError,
    TimeoutType,
)

from baton.calls import PAST_DEADLINE, ChatAttempt, read_attempts
from baton.runs import RunStatus
from baton.specs import ServedProfile
from baton.workflow_records import CallFailure as Failure
from baton.workflow_records import FailureDecision as Decision

__all__ = ["Decision", "Failure", "call_failure", "decide", "one_attempt", "raised", "timed_out"]


def timed_out(kind: str, heartbeat: Any) -> Failure:
    """The last attempt was lost (``kind``: which timeout fired); its record, and the earlier
    ones, are in its last heartbeat's details, its own without an outcome. A start-to-close or
    schedule-to-close timeout ended it when its record said it would."""
    heartbeat_lost = kind == TimeoutType.HEARTBEAT.name.lower()
    return Failure("timeout", f"the attempt timed out ({kind})", retryable=True,
                   attempts=tuple(r.lost(kind, ended_at=None if heartbeat_lost else
                                         r.times_out_at) for r in read_attempts(heartbeat)),
                   deadline="call" if kind == TimeoutType.SCHEDULE_TO_CLOSE.name.lower() else None)


def raised(error_type: str, message: str, details: Any, *, non_retryable: bool,
           retry_state: RetryState | None) -> Failure:
    """The last attempt raised; the records are in its failure's first detail."""
    # Temporal's own schedule-to-close check: the next attempt would start past it.
    refused = retry_state is RetryState.TIMEOUT and error_type != PAST_DEADLINE
    records = read_attempts(details.get("attempts") if isinstance(details, dict) else None)
    return Failure(
        error_type, message + ("; the next attempt would start past the run's wall-clock budget"
                               if refused else ""),
        retryable=not non_retryable, attempts=tuple(records),
        deadline="retry" if error_type == PAST_DEADLINE or refused else None)


def one_attempt(failure: Failure, *, started: datetime, now: datetime) -> Failure:
    """``failure`` with one record from ``started`` to ``now`` when it carries none (a
    worker of an older release, a failure outside the activity)."""
    if failure.attempts:
        return failure
    return replace(failure, attempts=(ChatAttempt(
        attempt=1, started_at=started, error_type=failure.error_type, error=failure.message,
        status="timed_out" if failure.error_type == "timeout" else "failed",
        duration_ms=round((now - started).total_seconds() * 1000, 1)),))


def call_failure(exc: ActivityError, *, started: datetime, now: datetime) -> Failure:
    """The final failure of a ``chat`` activity scheduled at ``started``, with its attempts."""
    cause = exc.cause
    if isinstance(cause, TimeoutError):
        kind = cause.type.name.lower() if cause.type is not None else "timeout"
        failure = timed_out(kind, cause.last_heartbeat_details[0]
                            if cause.last_heartbeat_details else None)
    elif isinstance(cause, ApplicationError):
        failure = raised(cause.type or "ApplicationError", cause.message,
                         cause.details[0] if cause.details else None,
                         non_retryable=cause.non_retryable, retry_state=exc.retry_state)
    else:
        failure = Failure(type(cause).__name__ if cause else "ActivityError",
                          str(cause or exc), retryable=True)
    return one_attempt(failure, started=started, now=now)


def _failover_or(profile: ServedProfile, status: RunStatus, reason: str,
                 error_type: str | None) -> Decision:
    if profile.fallback is not None:
        return Decision("failover", reason=reason)
    return Decision("stop", status=status, reason=reason, error_type=error_type)


def _refused(failure: Failure, said: str, profile: ServedProfile, *, compacted: bool,
             quota_failed_over: bool) -> Decision:
    """A failure not worth the same request again."""
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


def decide(failure: Failure, *, profile: ServedProfile, compacted: bool,
           quota_failed_over: bool) -> Decision:
    """The run's next move after ``failure`` on ``profile`` (see the module table)."""
    # The type once, then the message (a past-deadline message already leads with the type
    # of the failure that wanted the wait).
    said = failure.message if failure.error_type == PAST_DEADLINE else (
        f"{failure.error_type}: {failure.message}")
    if failure.deadline == "call":
        return Decision("stop", status=RunStatus.BUDGET_EXHAUSTED, reason=(
            f"{said}: the run's wall-clock budget ran out during the call"))
    if failure.deadline == "retry":
        return _failover_or(profile, RunStatus.BUDGET_EXHAUSTED, said, "retry_past_deadline")
    if not failure.retryable:
        return _refused(failure, said, profile, compacted=compacted,
                        quota_failed_over=quota_failed_over)
    attempts = failure.attempts[-1].attempt if failure.attempts else profile.max_attempts
    return _failover_or(profile, RunStatus.FAILED, f"{said} (after {attempts} attempts)",
                        failure.error_type)
