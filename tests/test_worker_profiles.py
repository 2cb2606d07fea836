"""The workflow plans with the model profile as the worker serves it.

A team names a profile; the worker's configuration says what it is. Everything the workflow
decides — the chat activity's start-to-close timeout and retry attempts, the price of each call,
the fallback, the model named in the run log — comes from the worker's profile, resolved once at
the run's start and recorded in its history, never from the run's input.
"""

from __future__ import annotations

import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from baton.client import run_result
from baton.client.api import BatonClient
from baton.loader import parse_team
from baton.runs import FailoverEvent, ModelAttemptEvent, ModelCallEvent, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import ModelProfile
from baton.worker import worker_resources

SERVED = ModelProfile(model="served-model", timeout_s=7.0, max_attempts=2,
                      price_input_per_mtok=2.0, price_output_per_mtok=10.0, fallback="spare")
SPARE = ModelProfile(model="spare-model", timeout_s=3.0)


async def test_timeouts_attempts_prices_and_fallback_come_from_the_worker(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    settings = settings.model_copy(update={"profiles": {"default": SERVED, "spare": SPARE}})
    team = parse_team({"name": "planned", "agents": [{
        "name": "clerk", "description": "Answers.", "instructions": "Answer briefly.",
        "max_steps": 3}]})
    first, second = (f"planned-{uuid.uuid4().hex[:8]}" for _ in range(2))
    scripted.set_script(first, {"clerk": [{"content": "Done."}]})
    # The second run's primary fails twice (its max_attempts): the worker's fallback takes over.
    scripted.set_script(second, {"clerk": [{"content": "Done by the spare."}]})
    scripted.set_faults(second, [{"fault": "500", "retry_after": 0.05}] * 2)
    async with worker_resources(client, settings) as worker, worker:
        baton = BatonClient(client, settings)
        await baton.start(team, "hello", run_id=first)
        result = await baton.result(first)
        await baton.start(team, "hello", run_id=second)
        failed_over = await baton.result(second)
        log = await baton.run_log(second)  # a query: answered by the worker

    assert result.status is RunStatus.COMPLETED, result.reason
    [call] = [c for c in scripted.calls(first) if c.get("model")]
    assert call["model"] == "served-model"
    usage = result.usage
    assert usage.total_tokens > 0
    assert result.cost_usd == round(
        (usage.input_tokens * 2.0 + usage.output_tokens * 10.0) / 1_000_000, 6)
    history = await client.get_workflow_handle(first).fetch_history()
    [scheduled] = [e.activity_task_scheduled_event_attributes for e in history.events
                   if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                   and e.activity_task_scheduled_event_attributes.activity_type.name == "chat"]
    assert scheduled.start_to_close_timeout.ToTimedelta().total_seconds() == 7.0 + 5
    # Temporal retries the call up to the served profile's max_attempts.
    assert scheduled.retry_policy.maximum_attempts == 2
    assert failed_over.status is RunStatus.COMPLETED, failed_over.reason
    assert failed_over.output == "Done by the spare."
    assert [c["model"] for c in scripted.calls(second)] == [
        "served-model", "served-model", "spare-model"]
    attempts = [(e.profile, e.attempt) for e in log if isinstance(e, ModelAttemptEvent)]
    assert attempts == [("default", 1), ("default", 2)]  # the served profile's max_attempts
    [failover] = [e for e in log if isinstance(e, FailoverEvent)]
    assert (failover.from_profile, failover.to_profile) == ("default", "spare")
    [answered] = [e for e in log if isinstance(e, ModelCallEvent)]
    assert (answered.profile, answered.model) == ("spare", "spare-model")


async def test_a_profile_in_the_run_input_does_not_change_what_the_worker_serves(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    settings = settings.model_copy(update={"profiles": {"default": SERVED, "spare": SPARE}})
    team = parse_team({"name": "planned", "agents": [{
        "name": "clerk", "description": "Answers.", "instructions": "Answer briefly.",
        "max_steps": 3}]})
    run_id = f"forged-{uuid.uuid4().hex[:8]}"
    scripted.set_script(run_id, {"clerk": [{"content": "Done."}]})
    async with worker_resources(client, settings) as worker, worker:
        handle = await client.start_workflow(
            "AgentWorkflow", {
                "team": team.model_dump(mode="json"), "input": "hello",
                # A hand-made input carrying its own catalog: free calls and a long timeout.
                "catalog": {"profiles": {"default": {"model": "forged", "timeout_s": 3600,
                                                     "price_input_per_mtok": 0}}, "tools": {}}},
            id=run_id, task_queue=settings.task_queue)
        await run_result(handle)
        events = [e for e in await BatonClient(client, settings).run_log(run_id)
                  if isinstance(e, ModelCallEvent)]
    [call] = scripted.calls(run_id)
    assert call["model"] == "served-model"
    assert events[0].model == "served-model" and events[0].cost_usd > 0
