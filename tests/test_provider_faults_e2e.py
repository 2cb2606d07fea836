"""Provider faults end to end: whole ``AgentWorkflow`` runs on a real dev server and an
in-process worker, with the scripted model server failing on purpose through per-run fault queues
(provider shapes from ``test_provider_matrix.SHAPES``). Temporal retries each model call (the
``chat`` activity's retry policy; the activity asks for the provider's ``Retry-After`` and keeps
a record of every attempt); these tests check that a run rides faults out, honours
``Retry-After`` within the run's wall clock, records every attempt, fails typed when retrying is
pointless, and fails over to a fallback model profile when it should.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

import crash_tools  # noqa: F401  (registers the test tools this module's teams use)
import pytest
from procs import run_log
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from test_provider_matrix import SHAPES, live

from baton.client import run_result
from baton.client.api import BatonClient
from baton.loader import parse_team
from baton.runs import ModelAttemptEvent, ModelCallEvent, RunInput, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import ModelProfile, TeamSpec

AGENT = "assistant"


# The profiles this file's worker serves: a short provider timeout (a hang is noticed in 1 s), and
# a primary that fails over to a backup.
PROFILES = {
    "default": ModelProfile(model="baton-scripted", timeout_s=1.0),
    "primary": ModelProfile(model="primary-model", timeout_s=1.0, max_attempts=2,
                            fallback="backup"),
    "backup": ModelProfile(model="backup-model", timeout_s=1.0),
    "strict": ModelProfile(model="strict-model", timeout_s=1.0, fallback="backup",
                           failover_on_quota=False),
    "patient": ModelProfile(model="patient-model", timeout_s=30.0, fallback="backup"),
}


@pytest.fixture
def settings(settings: BatonSettings) -> BatonSettings:
    return settings.model_copy(update={"profiles": PROFILES})


def team(*, agent_model: str = "default", max_steps: int = 4,
         tools: tuple[str, ...] = ("take_note",), **budget: float) -> TeamSpec:
    return parse_team({
        "name": "faulty",
        "agents": [{
            "name": AGENT, "description": "Takes notes.", "instructions": "Take notes.",
            "tools": list(tools), "model": agent_model, "max_steps": max_steps,
        }],
        "budget": budget,
    })


def shape(name: str, **extra: Any) -> dict[str, Any]:
    """A provider shape of the matrix as a fault: status, body and headers as the vendor sends."""
    found = SHAPES[name]
    return {"fault": str(found.status), "body": found.body, "headers": live(found.headers), **extra}


def of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


NOTE_THEN_ANSWER: list[dict[str, Any]] = [
    {"tool_calls": [{"name": "take_note", "arguments": {"text": "remember"}}]},
    {"content": "Noted."},
]


async def run(client: Client, settings: BatonSettings, scripted: ScriptedServer, spec: TeamSpec,
              script: list[dict[str, Any]], *, faults: list[dict[str, Any]] | None = None,
              ) -> tuple[RunResult, WorkflowHandle[Any, RunResult], list[float]]:
    """Run to the end; also returns when (seconds after the start) each model call was logged
    by the scripted server, from polling its call log every 10 ms."""
    run_id = f"faults-{uuid.uuid4().hex[:10]}"
    scripted.set_script(run_id, {AGENT: script})
    if faults is not None:
        scripted.set_faults(run_id, faults)
    started = time.monotonic()
    handle = await client.start_workflow("AgentWorkflow", RunInput(team=spec, input="remember"),
                                         id=run_id, task_queue=settings.task_queue,
                                         result_type=RunResult)
    waiting = asyncio.ensure_future(run_result(handle))
    stamps: list[float] = []
    while not waiting.done():
        seen = len(scripted.calls(run_id))
        stamps += [time.monotonic() - started] * (seen - len(stamps))
        await asyncio.wait([waiting], timeout=0.01)
    stamps.append(time.monotonic() - started)  # the end of the run
    return waiting.result(), handle, stamps


async def chat_attempts(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    """The ActivityTaskStarted event of every chat activity (it carries the final attempt number
    and the failure that preceded it)."""
    history = await handle.fetch_history()
    scheduled = {e.event_id for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")
                 and e.activity_task_scheduled_event_attributes.activity_type.name == "chat"}
    return [e for e in history.events if e.HasField("activity_task_started_event_attributes")
            and e.activity_task_started_event_attributes.scheduled_event_id in scheduled]


async def test_burst_of_429_is_ridden_out_honouring_retry_after(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # 1 s, not less: the Temporal server does not retry sooner than 1 s whatever
    # next_retry_delay says (measured: Retry-After 0.1 s and 0.4 s both gave 1 s gaps).
    delay = 1.0
    result, handle, stamps = await run(client, settings, scripted, team(), NOTE_THEN_ANSWER,
                                       faults=[{"fault": "429", "retry_after": delay}] * 3)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "Noted."
    calls = scripted.calls(handle.id)
    assert [c["fault"] for c in calls] == ["429", "429", "429", None, None]
    # Temporal retried the first call: its history shows the attempt count and last failure.
    first, second = await chat_attempts(handle)
    started = first.activity_task_started_event_attributes
    assert started.attempt == 4 and second.activity_task_started_event_attributes.attempt == 1
    assert "429" in started.last_failure.message
    info = started.last_failure.application_failure_info
    assert info.type == "ProviderRetryableError" and not info.non_retryable
    assert info.next_retry_delay.ToTimedelta().total_seconds() == delay
    events = await run_log(handle)
    failed = of(events, ModelAttemptEvent)
    assert [(e.attempt, e.status, e.http_status, e.retry_in_s) for e in failed] == [
        (n, "failed", 429, delay) for n in (1, 2, 3)]
    assert all(e.error_type == "ProviderRetryableError" and "429" in e.error for e in failed)
    first_call = of(events, ModelCallEvent)[0]
    assert first_call.attempt == 4 and first_call.started_at == failed[0].started_at
    # Honoured: each retry waited Retry-After (the policy alone would wait 1 s, 2 s, then 4 s;
    # the upper bound leaves room for a loaded machine but not for the policy's 4 s).
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps[:4])]
    assert all(gap >= delay - 0.05 for gap in gaps) and max(gaps) < delay + 1.5, gaps
    assert len(of(events, ModelCallEvent)) == 2
    scripted.assert_script_consumed(handle.id)


async def test_server_errors_are_retried_with_backoff(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    result, handle, stamps = await run(client, settings, scripted, team(), NOTE_THEN_ANSWER,
                                       faults=[{"fault": "500"}, {"fault": "503"}])
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [c["status"] for c in scripted.calls(handle.id)] == [500, 503, 200, 200]
    failed = of(await run_log(handle), ModelAttemptEvent)
    assert [(e.http_status, e.retry_in_s) for e in failed] == [(500, 1.0), (503, 2.0)]
    # No Retry-After: the retry policy's backoff, 1 s then 2 s.
    assert stamps[1] - stamps[0] >= 0.95 and stamps[2] - stamps[1] >= 1.95, stamps
    scripted.assert_script_consumed(handle.id)


async def test_hanging_provider_times_out_and_is_retried(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # timeout_s=1: the provider call gives up after 1 s instead of waiting out the 60 s hang.
    result, handle, stamps = await run(client, settings, scripted, team(), NOTE_THEN_ANSWER,
                                       faults=[{"fault": "hang", "seconds": 60}])
    assert result.status is RunStatus.COMPLETED, result.reason
    assert 1.0 <= stamps[0] < 3.0 and stamps[-1] < 8.0, stamps
    calls = scripted.calls(handle.id)
    assert calls[0]["fault"] == "hang" and calls[0].get("disconnected") is True
    [timed_out] = of(await run_log(handle), ModelAttemptEvent)
    assert (timed_out.status, timed_out.retry_in_s) == ("timed_out", 1.0)
    assert "timed out" in timed_out.error and timed_out.duration_ms >= 1000
    scripted.assert_script_consumed(handle.id)


async def test_401_fails_the_run_typed_without_retrying(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    result, handle, _ = await run(client, settings, scripted, team(), NOTE_THEN_ANSWER,
                                  faults=[{"fault": "401"}])
    assert result.status is RunStatus.FAILED
    assert result.error_type == "ProviderAuthError"
    assert result.reason and "model call failed" in result.reason and "401" in result.reason
    assert len(scripted.calls(handle.id)) == 1  # non-retryable: asked once
    events = await run_log(handle)
    assert events[-1].kind == "finished" and events[-1].status is RunStatus.FAILED


async def test_model_that_keeps_sending_invalid_tool_arguments_hits_max_steps(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    broken = {"raw_arguments": "{not json", "name": "take_note"}
    result, handle, _ = await run(client, settings, scripted, team(max_steps=3), [broken] * 3)
    assert result.status is RunStatus.MAX_STEPS
    assert "max_steps=3" in (result.reason or "")
    calls = [e for e in await run_log(handle) if e.kind == "tool_call"]
    assert len(calls) == 3
    for call in calls:
        assert call.status == "error" and call.error_type == "invalid_arguments"
        assert "not a JSON object" in call.content and "{not json" in call.content
    scripted.assert_script_consumed(handle.id)


async def test_fallback_profile_takes_over_when_primary_attempts_are_used_up(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # Fault queues target an agent, not a model: the primary's two attempts take the two 500s
    # (Retry-After keeps it fast), every later call is the backup's.
    result, handle, _ = await run(
        client, settings, scripted, team(agent_model="primary"), NOTE_THEN_ANSWER,
        faults=[{"fault": "500", "retry_after": 0.05}] * 2)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "Noted."
    assert [c["model"] for c in scripted.calls(handle.id)] == [
        "primary-model", "primary-model", "backup-model", "backup-model"]
    events = await run_log(handle)
    [failover] = [e for e in events if e.kind == "failover"]
    assert (failover.from_profile, failover.to_profile) == ("primary", "backup")
    # The error type once, then the provider's message.
    assert failover.reason.startswith("ProviderRetryableError: openai answered HTTP 500")
    assert failover.reason.count("ProviderRetryableError") == 1
    model_calls = [e for e in events if e.kind == "model_call"]
    assert [(e.profile, e.model) for e in model_calls] == [
        ("backup", "backup-model"), ("backup", "backup-model")]
    scripted.assert_script_consumed(handle.id)


# --- what is not worth the same request again --------------------------------------------------


async def test_out_of_quota_is_not_retried_and_fails_over_once(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    quota = shape("openai_insufficient_quota")
    result, handle, _ = await run(client, settings, scripted, team(agent_model="primary"),
                                  NOTE_THEN_ANSWER, faults=[quota])
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [c["model"] for c in scripted.calls(handle.id)] == [
        "primary-model", "backup-model", "backup-model"]  # asked once, then the backup
    events = await run_log(handle)
    [attempt] = of(events, ModelAttemptEvent)
    assert (attempt.error_type, attempt.retry_in_s, attempt.request_id) == (
        "ProviderQuotaError", None, "req_q1")
    assert [e.kind for e in events if e.kind == "failover"] == ["failover"]

    # A profile that may not fail over on quota ends typed, after one call.
    result, handle, _ = await run(client, settings, scripted, team(agent_model="strict"),
                                  NOTE_THEN_ANSWER, faults=[quota])
    assert (result.status, result.error_type) == (RunStatus.FAILED, "ProviderQuotaError")
    assert "exceeded your current quota" in (result.reason or "")
    assert len(scripted.calls(handle.id)) == 1


async def test_x_should_retry_overrides_the_status(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    told_not_to = shape("openai_500_should_retry_false")
    result, handle, _ = await run(client, settings, scripted, team(agent_model="primary"),
                                  NOTE_THEN_ANSWER, faults=[told_not_to])
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [c["model"] for c in scripted.calls(handle.id)][:2] == ["primary-model", "backup-model"]

    told_to = shape("openai_400_should_retry_true")
    result, handle, _ = await run(client, settings, scripted, team(), NOTE_THEN_ANSWER,
                                  faults=[told_to])
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [c["status"] for c in scripted.calls(handle.id)] == [400, 200, 200]


async def test_retry_after_past_the_wall_clock_budget_is_not_waited(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    a_day = shape("openai_retry_after_a_day")
    result, handle, stamps = await run(client, settings, scripted,
                                       team(max_wall_clock_s=600), [], faults=[a_day])
    assert (result.status, result.error_type) == (
        RunStatus.BUDGET_EXHAUSTED, "retry_past_deadline")
    assert "86400 s" in (result.reason or "") and stamps[-1] < 30, stamps
    # With a fallback, the run goes on there at once.
    result, handle, _ = await run(client, settings, scripted,
                                  team(agent_model="primary", max_wall_clock_s=600),
                                  NOTE_THEN_ANSWER, faults=[a_day])
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [c["model"] for c in scripted.calls(handle.id)] == ["primary-model", "backup-model",
                                                             "backup-model"]


async def test_rate_limit_reset_header_sets_the_wait(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    reset = {"fault": "429", "body": SHAPES["openai_rate_limit"].body,
             "headers": {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s",
                         "x-request-id": "req_rl"}}
    result, handle, _ = await run(client, settings, scripted, team(), NOTE_THEN_ANSWER,
                                  faults=[reset])
    assert result.status is RunStatus.COMPLETED, result.reason
    [attempt] = of(await run_log(handle), ModelAttemptEvent)
    assert (attempt.retry_in_s, attempt.request_id) == (1.0, "req_rl")


async def test_a_hung_call_never_outlasts_the_wall_clock_budget(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # The provider hangs for a minute and the profile would wait 30 s for it; the run has 3 s.
    # Temporal ends the call at the run's deadline (its schedule-to-close): nothing is left to
    # fail over with.
    result, handle, _ = await run(client, settings, scripted,
                                  team(agent_model="patient", max_wall_clock_s=3), [],
                                  faults=[{"fault": "hang", "seconds": 60}])
    assert result.status is RunStatus.BUDGET_EXHAUSTED, result.reason
    assert "wall-clock budget ran out during the call" in (result.reason or "")
    [lost] = of(await run_log(handle), ModelAttemptEvent)
    assert (lost.status, lost.attempt, lost.retry_in_s) == ("timed_out", 1, None)
    assert lost.error == "the attempt timed out (schedule_to_close)"
    assert lost.duration_ms > 0  # until the deadline its record named, not its first heartbeat
    # Read back from the run's history alone: the record came with the timeout.
    view = await BatonClient(client, settings).show(handle.id)
    assert view.source == "history"
    [read] = [e for e in view.events if isinstance(e, ModelAttemptEvent)]
    assert read.model_dump(exclude={"seq", "at"}) == lost.model_dump(exclude={"seq", "at"})
