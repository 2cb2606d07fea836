"""Live event streams on a real dev server: ``BatonClient.events`` and ``event_tree``.

Every event once, in order, as the run logs it; across continue-as-new; resumed from an offset
after a disconnect; drained from a run that already closed; members' events nested; watchers at
the same offset sharing one update; the bound on waiting polls; and a watched run's history
(with its ``events`` updates) replaying on today's code.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from console_helpers import delegated_refund, refund_desk
from pattern_run_helpers import record_and_replay, start
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage

from baton.approvals import ApprovalDecision
from baton.client import run_result
from baton.client.api import BatonClient
from baton.loader import parse_team
from baton.runs import (
    ApprovalEvent,
    ChildEvent,
    FinishedEvent,
    ModelCallEvent,
    ModelStartedEvent,
    RunEvent,
    RunInput,
    RunResult,
    RunStatus,
)
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec
from baton.streaming import EVENTS, EVENTS_BUSY, EventsPage, EventsRequest
from baton.workflows._events import MAX_WAITING

ECHO = {"tool_calls": [{"name": "echo", "arguments": {"text": "hi"}}]}


def echo_team(steps: int, **history: int) -> TeamSpec:
    return parse_team({
        "name": "echoer", "history": history,
        "agents": [{"name": "echoer", "description": "echoes", "instructions": "echo",
                    "tools": ["echo"], "max_steps": steps + 1}]})


async def start_echo(client: Client, settings: BatonSettings, scripted: ScriptedServer,
                     steps: int, **history: int) -> str:
    run_id = f"echoer-{uuid.uuid4().hex[:10]}"
    scripted.set_script(run_id, {"echoer": [ECHO] * steps + [{"content": "done"}]})
    await client.start_workflow("AgentWorkflow", RunInput(team=echo_team(steps, **history),
                                                          input="echo"),
                                id=run_id, task_queue=settings.task_queue, result_type=RunResult)
    return run_id


async def collect(events: Any, *, stop_after: int | None = None) -> list[RunEvent]:
    out: list[RunEvent] = []
    async for event in events:
        out.append(event)
        if stop_after is not None and len(out) == stop_after:
            break
    return out


async def test_every_event_arrives_once_in_order_and_the_stream_ends_with_the_run(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    baton = BatonClient(client, settings)
    run_id = await start_echo(client, settings, scripted, 3)
    seen = await collect(baton.events(run_id))
    assert [e.seq for e in seen] == list(range(len(seen)))
    assert [e.kind for e in seen] == ["started", *["model_started", "model_call",
                                                   "tool_call"] * 3,
                                      "model_started", "model_call", "finished"]
    started = [e for e in seen if isinstance(e, ModelStartedEvent)]
    answered = [e for e in seen if isinstance(e, ModelCallEvent)]
    assert [e.step for e in started] == [e.step for e in answered] == [1, 2, 3, 4]
    assert all(e.usage.total_tokens > 0 for e in answered)
    assert seen == await baton.run_log(run_id)  # what the run logged, nothing else


async def test_a_stream_follows_continue_as_new_and_resumes_from_an_offset(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    baton = BatonClient(client, settings)
    run_id = await start_echo(client, settings, scripted, 16, continue_as_new_events=100)
    first = await collect(baton.events(run_id), stop_after=10)  # then the client goes away
    rest = await collect(baton.events(run_id, offset=first[-1].seq + 1))
    seen = first + rest
    assert [e.seq for e in seen] == list(range(len(seen)))
    assert [e.kind for e in seen].count("continued") >= 1
    assert isinstance(seen[-1], FinishedEvent) and seen[-1].status is RunStatus.COMPLETED
    status = await baton.status(run_id)
    assert len(status.previous_runs) >= 1
    assert seen == await baton.run_log(run_id)
    # A closed run: the rest is drained from its last continuation (and the earlier ones).
    tail = await collect(baton.events(run_id, offset=5))
    assert tail == seen[5:]


async def test_members_events_are_nested_under_the_run(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    baton = BatonClient(client, settings)
    handle = await start(client, settings, scripted, refund_desk(), delegated_refund(),
                         "Refund A1001")
    seen = []
    async for item in baton.event_tree(handle.id):
        seen.append(item)
        event = item.event
        if isinstance(event, ApprovalEvent) and event.action == "requested":
            await baton.decide(ApprovalDecision(approval_id=event.approval_id,
                                                decision="approve", by="alice"),
                               workflow_id=handle.id)
    assert (await run_result(handle)).status is RunStatus.COMPLETED
    [member] = {i.workflow_id for i in seen if i.depth == 1}
    started = next(i.event for i in seen if isinstance(i.event, ChildEvent))
    assert started.workflow_id == member
    mine = [i.event.kind for i in seen if i.workflow_id == member]
    assert mine[0] == "started" and mine[-1] == "finished" and "approval" in mine
    assert all(i.member == "refunder" for i in seen if i.depth == 1)
    assert [i.event for i in seen if i.depth == 0] == await baton.run_log(handle.id)


async def test_watchers_at_one_offset_share_one_update_and_the_history_replays(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    baton = BatonClient(client, settings)
    run_id = await start_echo(client, settings, scripted, 4)
    streams = await asyncio.gather(*(collect(baton.events(run_id)) for _ in range(3)))
    assert streams[0] == streams[1] == streams[2]
    history = await client.get_workflow_handle(run_id).fetch_history()
    ids = [e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
           for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    assert ids and len(ids) == len(set(ids))  # one update per offset, however many watchers
    await record_and_replay(client, run_id, "agent_watched_by_events")


async def test_polls_past_the_bound_are_refused_and_the_query_still_answers(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    team = parse_team({"name": "waiter", "agents": [{
        "name": "waiter", "description": "waits", "instructions": "refund",
        "tools": ["issue_refund"], "approvals": {"issue_refund": {"mode": "always"}}}]})
    run_id = f"waiter-{uuid.uuid4().hex[:10]}"
    scripted.set_script(run_id, {"waiter": [{"tool_calls": [{"name": "issue_refund", "arguments": {
        "order_id": "A1001", "amount": 1.0, "reason": "broken"}}]}, {"content": "ok"}]})
    handle = await client.start_workflow("AgentWorkflow", RunInput(team=team, input="refund"),
                                         id=run_id, task_queue=settings.task_queue)
    baton = BatonClient(client, settings)
    [pending] = await _pending(baton, run_id)
    page: EventsPage = await handle.query(EVENTS, EventsRequest(), result_type=EventsPage)
    end = page.next_offset
    assert page.events[-1].kind == "approval" and not page.closing
    # Distinct update ids at the end of the log (no sharing): the bound holds.
    waiting = [await handle.start_update(EVENTS, EventsRequest(offset=end), id=f"w{i}",
                                         wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                                         result_type=EventsPage)
               for i in range(MAX_WAITING)]
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(EVENTS, EventsRequest(offset=end), id="one-too-many",
                                    result_type=EventsPage)
    assert getattr(refused.value.cause, "type", None) == EVENTS_BUSY
    await baton.decide(ApprovalDecision(approval_id=pending.approval_id, decision="approve",
                                        by="alice"), workflow_id=run_id)
    answered = await asyncio.gather(*(w.result() for w in waiting))
    assert all(a.end > end for a in answered) and all(not a.events for a in answered)
    assert (await run_result(handle)).status is RunStatus.COMPLETED


async def _pending(baton: BatonClient, run_id: str) -> list[Any]:
    for _ in range(400):
        found = await baton.pending_approvals(run_id)
        if found:
            return found
        await asyncio.sleep(0.025)
    raise AssertionError("no approval requested")
