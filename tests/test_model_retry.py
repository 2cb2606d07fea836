"""What follows a failed model-call attempt, as pure decisions (no server): the wait a failing
attempt asks Temporal for (``baton.activities.llm.attempts.retry_plan``) and what the agent loop
makes of a call that failed for good (``baton.workflows._call_failure.decide``). The full runs are
in ``test_provider_faults_e2e.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from baton.activities.llm.attempts import RetryPlan, backoff_s, retry_plan
from baton.calls import PAST_DEADLINE, RETRY_AFTER_CAP_S, ChatAttempt
from baton.errors import ProviderRetryPastDeadlineError
from baton.runs import RunStatus
from baton.specs import ServedProfile
from baton.workflows._activities import _chat_retry
from baton.workflows._call_failure import Decision, Failure, decide

POLICY = _chat_retry(4)  # what the workflow schedules a call with
PLAIN = ServedProfile(max_attempts=4)
WITH_FALLBACK = ServedProfile(max_attempts=4, fallback="backup")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _plan(retry_after: float | None = 2.0, *, attempt: int = 1, retryable: bool = True,
          remaining_s: float | None = 600.0) -> RetryPlan:
    return retry_plan(retryable=retryable, retry_after=retry_after, attempt=attempt,
                      policy=POLICY, remaining_s=remaining_s)


def _decide(failure: Failure, profile: ServedProfile = PLAIN, *, compacted: bool = False,
            quota_failed_over: bool = False) -> Decision:
    return decide(failure, profile=profile, compacted=compacted,
                  quota_failed_over=quota_failed_over)


def test_the_past_deadline_type_is_the_errors_class() -> None:
    assert ProviderRetryPastDeadlineError.__name__ == PAST_DEADLINE


def test_retryable_waits_what_the_server_asked_else_the_policys_backoff() -> None:
    assert _plan(2.0) == RetryPlan(2.0)
    assert [_plan(None, attempt=n).retry_in_s for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert _plan(0.0).retry_in_s == 1.0  # "Retry-After: 0" is no wish: the backoff
    assert backoff_s(POLICY, 10) == 30.0 and backoff_s(None, 10) == 100.0  # server default
    assert _plan(2.0, attempt=4) == RetryPlan(None)  # the last attempt: none follows
    assert _plan(2.0, retryable=False) == RetryPlan(None)


def test_a_long_retry_after_is_capped_and_never_outlasts_the_budget() -> None:
    assert _plan(86_400.0, remaining_s=None).retry_in_s == RETRY_AFTER_CAP_S  # no wall clock
    stop = _plan(86_400.0)  # 600 s left: waiting a day is pointless, and so is waiting 60 s
    assert stop.retry_in_s is None and stop.past_deadline is not None
    assert "86400 s" in stop.past_deadline and "600 s left" in stop.past_deadline
    assert _plan(2.0, remaining_s=1.5).past_deadline is not None  # even a short wait
    assert _plan(None, attempt=3, remaining_s=3.0).past_deadline is not None  # a 4 s backoff


def _failed(error_type: str, message: str = "no", *, retryable: bool = False,
            attempts: int = 1, deadline: Literal["retry", "call"] | None = None) -> Failure:
    records = tuple(ChatAttempt(attempt=n, started_at=NOW + timedelta(seconds=n),
                                status="failed", error_type=error_type, error=message)
                    for n in range(1, attempts + 1))
    return Failure(error_type, message, retryable=retryable, attempts=records, deadline=deadline)


def test_attempts_used_up_fail_over_else_fail() -> None:
    used_up = _failed("ProviderRetryableError", "openai answered HTTP 429: slow down",
                      retryable=True, attempts=4)
    last = _decide(used_up)
    assert (last.action, last.status, last.error_type) == (
        "stop", RunStatus.FAILED, "ProviderRetryableError")
    assert last.reason == "ProviderRetryableError: openai answered HTTP 429: slow down " \
                          "(after 4 attempts)"
    assert _decide(used_up, WITH_FALLBACK).action == "failover"


def test_a_wait_past_the_deadline_fails_over_or_ends_budget_exhausted() -> None:
    said = "ProviderRetryableError: 429; waiting 86400 s to ask again would pass the run's " \
           "wall-clock budget (600 s left)"
    past = _failed(PAST_DEADLINE, said, deadline="retry")
    stop = _decide(past)
    assert (stop.action, stop.status, stop.error_type) == (
        "stop", RunStatus.BUDGET_EXHAUSTED, "retry_past_deadline")
    assert stop.reason == said  # the type of the failure that wanted the wait, once
    assert _decide(past, WITH_FALLBACK).action == "failover"
    # The wall clock ran out while an attempt ran: nothing left to fail over with.
    during = _decide(_failed("timeout", "the attempt timed out (schedule_to_close)",
                             retryable=True, deadline="call"), WITH_FALLBACK)
    assert (during.action, during.status) == ("stop", RunStatus.BUDGET_EXHAUSTED)


def test_quota_fails_over_once_where_the_profile_allows_it() -> None:
    quota = _failed("ProviderQuotaError", "429: insufficient_quota")
    assert _decide(quota, WITH_FALLBACK).action == "failover"
    assert _decide(quota, WITH_FALLBACK, quota_failed_over=True).action == "stop"
    strict = WITH_FALLBACK.model_copy(update={"failover_on_quota": False})
    stop = _decide(quota, strict)
    assert (stop.action, stop.error_type) == ("stop", "ProviderQuotaError")
    assert _decide(quota).action == "stop"


@pytest.mark.parametrize("error_type", ["ProviderAuthError", "ProviderRequestError",
                                        "ProviderResponseError", "ConversationMismatchError"])
def test_refusals_to_serve_stop_loudly_even_with_a_fallback(error_type: str) -> None:
    decision = _decide(_failed(error_type), WITH_FALLBACK)
    assert (decision.action, decision.status, decision.error_type) == (
        "stop", RunStatus.FAILED, error_type)
    assert decision.reason == f"{error_type}: no"  # the type once, then the message


def test_should_retry_false_is_an_outage() -> None:
    told = _failed("ProviderUnavailableError", "529 overloaded")
    assert _decide(told, WITH_FALLBACK).action == "failover"
    assert _decide(told).action == "stop"


def test_context_exceeded_compacts_once() -> None:
    too_long = _failed("ProviderContextError", "context_length_exceeded")
    assert _decide(too_long).action == "compact"
    again = _decide(too_long, compacted=True)
    assert (again.action, again.status, again.error_type) == (
        "stop", RunStatus.CONTEXT_EXCEEDED, "context_exceeded")


def test_a_lost_attempt_reads_as_timed_out() -> None:
    lost = ChatAttempt(attempt=2, started_at=NOW, duration_ms=2000.0)
    settled = lost.lost("heartbeat", ended_at=NOW + timedelta(seconds=10.5), retry_in_s=2.0)
    assert (settled.status, settled.error_type, settled.duration_ms, settled.retry_in_s) == (
        "timed_out", "timeout", 10_500.0, 2.0)
    assert settled.error == "the attempt timed out (heartbeat)"
    assert settled.lost("again") == settled  # an outcome is never rewritten
    assert lost.lost("heartbeat").duration_ms == 2000.0  # what its last heartbeat knew
