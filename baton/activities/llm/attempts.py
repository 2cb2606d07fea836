"""Every attempt of one ``chat`` activity, recorded by the attempts themselves, and how long
Temporal waits before the next one.

Temporal retries a model call: the activity's retry policy (1 s doubling to 30 s, the profile's
``max_attempts``) and, when the run has a wall-clock budget, a schedule-to-close timeout at the
run's deadline (``baton.workflows._activities.chat``). Temporal keeps only the last failure, so
the attempts keep the record themselves: each reads the records of the earlier attempts from its
heartbeat details (Temporal hands the last details of one attempt to the next), adds its own and
heartbeats them while the provider works; when it fails it completes its record (status, error,
HTTP status, request id, duration, the wait it asks for) and heartbeats it right before raising
(the worker flushes that last heartbeat with the failure). An answer carries the records of the
attempts before it (``ChatResponse.attempts``), a final failure carries them in its details and
a final timeout in its last heartbeat details: the run log shows every attempt, and so does a
history read later.

The wait is decided here, where the provider's headers are (:func:`retry_plan`): what the server
asked for (``Retry-After``, ``retry-after-ms``, the rate-limit reset headers), honoured for at
most 60 s as the vendors' SDKs do, else the policy's backoff; given to Temporal as
``next_retry_delay``. A wait that would pass the deadline (a server's wish counts in full, even
beyond the cap) is not asked for: the attempt raises a non-retryable
``ProviderRetryPastDeadlineError`` at once, so the run fails over or ends ``budget_exhausted``
now instead of Temporal timing the call out later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from baton.calls import (
    PAST_DEADLINE,
    RETRY_AFTER_CAP_S,
    ChatAttempt,
    ChatResponse,
    read_attempts,
)

__all__ = ["PAST_DEADLINE", "AttemptLog", "RetryPlan", "backoff_s", "retry_plan"]

LOST = "no outcome before its timeout: a hung call or a lost worker"


def backoff_s(policy: RetryPolicy | None, attempt: int) -> float:
    """Temporal's wait after failed attempt ``attempt`` (1-based) when the failure names none."""
    policy = policy or RetryPolicy()
    initial = policy.initial_interval.total_seconds()
    ceiling = policy.maximum_interval.total_seconds() if policy.maximum_interval else (
        initial * 100)  # the server's default
    return min(initial * policy.backoff_coefficient ** (attempt - 1), ceiling)


@dataclass(frozen=True)
class RetryPlan:
    """After a failed attempt: the wait before the next one (None: there is none), and why a
    wait that was due is not taken (it would pass the deadline)."""

    retry_in_s: float | None
    past_deadline: str | None = None


def retry_plan(*, retryable: bool, retry_after: float | None, attempt: int,
               policy: RetryPolicy | None, remaining_s: float | None) -> RetryPlan:
    """What follows failed attempt ``attempt``: ``retry_after`` is what the server asked for
    (uncapped; 0 or None: nothing), ``remaining_s`` the time left before the call's deadline."""
    last = policy is not None and 0 < policy.maximum_attempts <= attempt
    if not retryable or last:
        return RetryPlan(None)
    wanted = retry_after or None
    delay = backoff_s(policy, attempt) if wanted is None else min(wanted, RETRY_AFTER_CAP_S)
    wait = max(delay, wanted or 0.0)  # a server's wish beyond the cap still counts here
    if remaining_s is not None and wait >= remaining_s:
        return RetryPlan(None, past_deadline=(
            f"waiting {wait:.0f} s to ask again would pass the run's wall-clock budget "
            f"({max(remaining_s, 0.0):.0f} s left)"))
    return RetryPlan(delay)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


class AttemptLog:
    """This attempt's record and the earlier attempts' (create it inside the activity). The
    record is first heartbeated when the call has lasted a moment (see ``_heartbeating``)."""

    def __init__(self) -> None:
        info = self._info = activity.info()
        self._clock = time.monotonic()
        earlier = read_attempts(info.heartbeat_details[0] if info.heartbeat_details else None)
        self.earlier = tuple(self._settled(r) for r in earlier if r.attempt < info.attempt)
        limits = [info.started_time + info.start_to_close_timeout
                  if info.start_to_close_timeout else None,
                  info.scheduled_time + info.schedule_to_close_timeout
                  if info.schedule_to_close_timeout else None]
        self.mine = ChatAttempt(attempt=info.attempt, started_at=info.started_time,
                                times_out_at=min((t for t in limits if t), default=None))

    def _settled(self, record: ChatAttempt) -> ChatAttempt:
        """An earlier attempt that recorded no outcome timed out; Temporal scheduled the next
        one the policy's backoff after that, which dates its end."""
        if record.status is not None:
            return record
        wait = backoff_s(self._info.retry_policy, record.attempt)
        return record.lost(LOST, retry_in_s=wait, ended_at=(
            self._info.current_attempt_scheduled_time - timedelta(seconds=wait)))

    def _elapsed_ms(self) -> float:
        return _ms(time.monotonic() - self._clock)

    def _all(self) -> list[dict[str, Any]]:
        return [r.model_dump(mode="json") for r in (*self.earlier, self.mine)]

    def beat(self) -> None:
        """Heartbeat the records, this attempt's with its duration so far."""
        self.mine = self.mine.model_copy(update={"duration_ms": self._elapsed_ms()})
        activity.heartbeat(self._all())

    def answered(self, response: ChatResponse) -> ChatResponse:
        return response.model_copy(update={
            "attempt": self._info.attempt, "started_at": self._info.started_time,
            "duration_ms": self._elapsed_ms(), "attempts": self.earlier})

    def failed(self, error: ApplicationError, *, retry_after: float | None) -> ApplicationError:
        """Complete this attempt's record from ``error`` (a classified failure) and heartbeat
        it; the error to raise: ``error`` with every record in its details, or a non-retryable
        ``ProviderRetryPastDeadlineError`` when the wait would pass the deadline."""
        info = self._info
        said: dict[str, Any] = dict(error.details[0]) if error.details and isinstance(
            error.details[0], dict) else {}
        plan = retry_plan(retryable=not error.non_retryable, retry_after=retry_after,
                          attempt=info.attempt, policy=info.retry_policy,
                          remaining_s=_remaining_s(info))
        status = said.get("status")
        self.mine = self.mine.model_copy(update={
            "status": "timed_out" if said.get("type") == "timeout" else "failed",
            "error_type": error.type or "ApplicationError", "error": error.message,
            "http_status": status if isinstance(status, int) else None,
            "request_id": said.get("request_id"), "duration_ms": self._elapsed_ms(),
            "retry_in_s": plan.retry_in_s})
        activity.heartbeat(self._all())
        details = {**said, "attempts": self._all()}
        if plan.past_deadline is not None:
            return ApplicationError(f"{error.type}: {error.message}; {plan.past_deadline}",
                                    details, type=PAST_DEADLINE, non_retryable=True)
        return ApplicationError(error.message, details, type=error.type,
                                non_retryable=error.non_retryable,
                                next_retry_delay=error.next_retry_delay)


def _remaining_s(info: activity.Info) -> float | None:
    """Seconds until the call's schedule-to-close deadline (the run's wall clock), if any."""
    if info.schedule_to_close_timeout is None:
        return None
    deadline = info.scheduled_time + info.schedule_to_close_timeout
    return (deadline - datetime.now(UTC)).total_seconds()
