"""Every long-running pattern continues as new before Temporal's limits, carrying its state.

Each team here sets ``history.continue_as_new_events`` to its minimum (100) and runs long
enough to pass it several times; the run must end exactly as an uninterrupted one would (the
same answer, the same member records, budgets carried), with its continuations listed and its
whole run log readable across them. Plus: a fan-out that would start too many children is
refused before it starts any, and cancelling any pattern ends it ``cancelled`` with its members.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pattern_run_helpers import REFUND, agent, refunder, start
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from baton.client import run_result
from baton.client.api import BatonClient
from baton.loader import parse_team
from baton.runs import ChildEvent, ContinuedEvent, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec

SHORT = {"continue_as_new_events": 100}


def say(stance: str) -> dict[str, Any]:
    return {"content": f"POSITION: {stance}\nBecause of reasons."}


def delegate(task: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": "delegate_to_worker", "arguments": {"task": task}}]}


def transfer(to: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": f"transfer_to_{to}", "arguments": {"reason": "yours"}}]}


TEAMS: dict[str, tuple[dict[str, Any], dict[str, list[dict[str, Any]]], str]] = {
    "supervisor": ({
        "name": "longdesk", "pattern": "supervisor", "history": SHORT,
        "agents": [agent("router", "routes", max_steps=30), agent("worker", "does one sub-task")],
        "supervisor": {"router": "router", "workers": ["worker"], "max_rounds": 30}},
        {"router": [*(delegate(f"sub-task {i}") for i in range(24)), {"content": "All 24 done."}],
         "worker": [{"content": f"report {i}"} for i in range(24)]}, "All 24 done."),
    "debate": ({
        "name": "longpanel", "pattern": "debate", "history": SHORT,
        "agents": [agent("a", "argues"), agent("b", "argues"), agent("judge", "decides")],
        "debate": {"debaters": ["a", "b"], "judge": "judge", "max_rounds": 20}},
        {"a": [say(f"stance a{i}") for i in range(20)],
         "b": [say(f"stance b{i}") for i in range(20)],
         "judge": [{"content": "Verdict: a."}]}, "Verdict: a."),
    "handoff": ({
        "name": "pingpong", "pattern": "handoff", "history": SHORT,
        "agents": [agent("left", "takes odd turns"), agent("right", "takes even turns")],
        "handoff": {"agents": ["left", "right"], "max_handoffs": 40, "history": "last_message"}},
        {"left": [transfer("right") for _ in range(15)] + [{"content": "Settled on the left."}],
         "right": [transfer("left") for _ in range(15)]}, "Settled on the left."),
    "blackboard": ({
        "name": "longboard", "pattern": "blackboard", "history": SHORT,
        "agents": [agent("writer", "fills the board")],
        "blackboard": {"keys": {f"k{i}": {"type": "string"} for i in range(25)}, "goal": "k24",
                       "rules": [{"agent": "writer", "needs": [f"k{i - 1}"] if i else [],
                                  "fills": [f"k{i}"]} for i in range(25)],
                       "max_turns": 30}},
        {"writer": [{"content": f'{{"k{i}": "v{i}"}}'} for i in range(25)]}, "v24"),
}


@pytest.mark.parametrize("pattern", list(TEAMS))
async def test_a_long_run_continues_as_new_and_ends_as_if_it_had_not(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        pattern: str) -> None:
    document, script, answer = TEAMS[pattern]
    team: TeamSpec = parse_team(document)
    handle = await start(client, settings, scripted, team, script, "go on for a while")
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == answer
    scripted.assert_script_consumed(handle.id)
    status = await handle.query("status")
    assert len(status["previous_runs"]) >= 2, status  # it continued as new, more than once
    # The whole log, read across the continuations: one start, continuations, every member.
    log = await BatonClient(client, settings).run_log(handle.id)
    assert [e.seq for e in log] == list(range(len(log)))
    assert log[0].kind == "started" and log[-1].kind == "finished"
    assert len([e for e in log if isinstance(e, ContinuedEvent)]) == len(status["previous_runs"])
    started = [e.workflow_id for e in log if isinstance(e, ChildEvent) and e.action == "started"]
    assert len(started) == len(set(started))  # member ids stay unique across continuations
    assert len(result.children) == len(started)


async def test_a_fanout_that_would_start_too_many_children_is_refused(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = parse_team({"name": "wide", "pattern": "fanout",
                       "agents": [agent("reader", "reads one line")],
                       "fanout": {"branches": ["reader"], "split": "lines", "merge": "concat",
                                  "max_branches": 5}})
    handle = await start(client, settings, scripted, team, {},
                         "\n".join(f"line {i}" for i in range(12)))
    result = await run_result(handle)
    assert result.status is RunStatus.FAILED and result.error_type == "too_many_branches"
    assert "12 jobs" in (result.reason or "") and "max_branches=5" in (result.reason or "")
    assert result.children == []


def _waiting_team(pattern: str) -> TeamSpec:
    refund = refunder()
    sections: dict[str, dict[str, Any]] = {
        "supervisor": {"supervisor": {"router": "router", "workers": ["refunder"]}},
        "pipeline": {"pipeline": {"stages": ["refunder"]}},
        "fanout": {"fanout": {"branches": ["refunder"], "merge": "concat"}},
        "debate": {"debate": {"debaters": ["refunder", "router"], "judge": "router"}},
        "handoff": {"handoff": {"agents": ["refunder", "router"]}},
        "blackboard": {"blackboard": {"keys": {"done": {"type": "string"}}, "goal": "done",
                                      "rules": [{"agent": "refunder", "fills": ["done"]}]}},
    }
    return parse_team({"name": f"cancel-{pattern}", "pattern": pattern,
                       "agents": [agent("router", "routes and judges"), refund],
                       **sections[pattern]})


@pytest.mark.parametrize("pattern", ["supervisor", "pipeline", "fanout", "debate", "handoff",
                                     "blackboard"])
async def test_cancelling_any_pattern_ends_it_and_its_members_cancelled(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        pattern: str) -> None:
    # The refunder waits for a person; the router either delegated to it (supervisor) or is
    # still thinking (a slow model call) when the run is cancelled.
    router = ([{"tool_calls": [{"name": "delegate_to_refunder",
                                "arguments": {"task": "Refund 10.0 on A1001"}}]}]
              if pattern == "supervisor" else [{"content": "POSITION: wait", "latency_s": 60}])
    script = {"router": router, "refunder": [{"tool_calls": [REFUND]}]}
    handle = await start(client, settings, scripted, _waiting_team(pattern), script, "refund")
    for _ in range(300):  # the refunder waits for a person, seen from the team's run
        if await handle.query("pending_approvals"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("no approval became pending")
    result = await BatonClient(client, settings).cancel(handle.id)
    assert result.status is RunStatus.CANCELLED, result
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    members = [w async for w in client.list_workflows(f"WorkflowId STARTS_WITH '{handle.id}.'")]
    assert members and all(w.status == WorkflowExecutionStatus.CANCELED for w in members), [
        (w.id, w.status) for w in members]
    query = f"WorkflowId = '{handle.id}' AND BatonStatus = 'cancelled'"
    for _ in range(100):
        if [w async for w in client.list_workflows(query)]:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("BatonStatus was not set to cancelled")
    [waiting_member] = [w for w in members if ".refunder." in w.id]
    log = await client.get_workflow_handle(waiting_member.id).query("run_log", {"limit": 1000})
    closed = [e for e in log["events"] if e["kind"] == "approval" and e["action"] == "closed"]
    assert closed and "cancelled" in closed[0]["reason"]
