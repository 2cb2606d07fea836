"""What the agent loop does after a failed model-call attempt (``baton.workflows._retry``): pure
decisions, no server. The full runs are in ``test_provider_faults_e2e.py``."""

from __future__ import annotations

import pytest

from baton.runs import RunStatus
from baton.specs import ServedProfile
from baton.workflows._retry import RETRY_AFTER_CAP_S, Decision, Failure, backoff_s, decide

PLAIN = ServedProfile(max_attempts=4)
WITH_FALLBACK = ServedProfile(max_attempts=4, fallback="backup")
RATE_LIMITED = Failure("ProviderRetryableError", "openai answered HTTP 429: slow down",
                       retryable=True, retry_after=2.0)


def _decide(failure: Failure, profile: ServedProfile = PLAIN, *, attempt: int = 1,
            remaining_s: float | None = 600.0, compacted: bool = False,
            quota_failed_over: bool = False) -> Decision:
    return decide(failure, attempt=attempt, profile=profile, remaining_s=remaining_s,
                  compacted=compacted, quota_failed_over=quota_failed_over)


def test_retryable_waits_what_the_server_asked_then_fails_over() -> None:
    assert (_decide(RATE_LIMITED).action, _decide(RATE_LIMITED).delay_s) == ("retry", 2.0)
    no_wish = Failure("timeout", "the attempt timed out", retryable=True, timed_out=True)
    assert [_decide(no_wish, attempt=n).delay_s for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert backoff_s(10) == 30.0
    last = _decide(RATE_LIMITED, attempt=4)
    assert (last.action, last.status, last.error_type) == (
        "stop", RunStatus.FAILED, "ProviderRetryableError")
    assert "after 4 attempts" in last.reason
    assert _decide(RATE_LIMITED, WITH_FALLBACK, attempt=4).action == "failover"


def test_a_long_retry_after_is_capped_and_never_outlasts_the_budget() -> None:
    day = Failure("ProviderRetryableError", "429", retryable=True, retry_after=86_400.0)
    assert _decide(day, remaining_s=None).delay_s == RETRY_AFTER_CAP_S  # no wall clock: capped
    stop = _decide(day)  # 600 s left: waiting a day is pointless, and so is waiting 60 s
    assert (stop.action, stop.status, stop.error_type) == (
        "stop", RunStatus.BUDGET_EXHAUSTED, "retry_past_deadline")
    assert "86400 s" in stop.reason and "600 s left" in stop.reason
    assert _decide(day, WITH_FALLBACK).action == "failover"
    assert _decide(RATE_LIMITED, remaining_s=1.5).action == "stop"  # even a short wait


def test_quota_fails_over_once_where_the_profile_allows_it() -> None:
    quota = Failure("ProviderQuotaError", "429: insufficient_quota", retryable=False)
    assert _decide(quota, WITH_FALLBACK).action == "failover"
    assert _decide(quota, WITH_FALLBACK, quota_failed_over=True).action == "stop"
    strict = WITH_FALLBACK.model_copy(update={"failover_on_quota": False})
    stop = _decide(quota, strict)
    assert (stop.action, stop.error_type) == ("stop", "ProviderQuotaError")
    assert _decide(quota).action == "stop"


@pytest.mark.parametrize("error_type", ["ProviderAuthError", "ProviderRequestError",
                                        "ProviderResponseError", "ConversationMismatchError"])
def test_refusals_to_serve_stop_loudly_even_with_a_fallback(error_type: str) -> None:
    decision = _decide(Failure(error_type, "no", retryable=False), WITH_FALLBACK)
    assert (decision.action, decision.status, decision.error_type) == (
        "stop", RunStatus.FAILED, error_type)
    assert decision.reason == f"{error_type}: no"  # the type once, then the message


def test_should_retry_false_is_an_outage() -> None:
    told = Failure("ProviderUnavailableError", "529 overloaded", retryable=False)
    assert _decide(told, WITH_FALLBACK).action == "failover"
    assert _decide(told).action == "stop"


def test_context_exceeded_compacts_once() -> None:
    too_long = Failure("ProviderContextError", "context_length_exceeded", retryable=False)
    assert _decide(too_long).action == "compact"
    again = _decide(too_long, compacted=True)
    assert (again.action, again.status, again.error_type) == (
        "stop", RunStatus.CONTEXT_EXCEEDED, "context_exceeded")
