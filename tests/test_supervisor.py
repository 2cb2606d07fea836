"""Supervisor pattern on real Temporal: routing, reports, the routing-loop and round bounds,
a failing worker, a team as a worker, and the child-workflow tree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import new_run_id
from pattern_run_helpers import (
    REFUND,
    agent,
    approve_in_child,
    outbox,
    record_and_replay,
    refunder,
)
from pattern_run_helpers import start as pattern_start
from temporalio.client import Client

from baton.client import run_result
from baton.loader import parse_team
from baton.runs import RunInput, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec


def desk(**supervisor: Any) -> TeamSpec:
    return parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [
            {"name": "router", "description": "routes support requests",
             "instructions": "Delegate to the right specialist, then answer."},
            {"name": "billing", "description": "refunds, invoices and payments",
             "instructions": "Handle billing.", "tools": ["lookup_order"]},
            {"name": "tech", "description": "devices, setup and troubleshooting",
             "instructions": "Handle technical questions."},
        ],
        "supervisor": {"router": "router", "workers": ["billing", "tech"], **supervisor},
    })


def delegate(worker: str, task: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": f"delegate_to_{worker}", "arguments": {"task": task}}]}


async def start(client: Client, settings: BatonSettings, scripted: ScriptedServer, team: TeamSpec,
                script: dict[str, list[dict[str, Any]]]) -> tuple[str, RunResult]:
    run_id = new_run_id(team)
    scripted.set_script(run_id, script)
    handle = await client.start_workflow(
        "SupervisorWorkflow", RunInput(team=team, input="My A1001 headphones crackle; refund?"),
        id=run_id, task_queue=settings.task_queue, result_type=RunResult)
    return run_id, await run_result(handle)


async def test_router_delegates_and_composes_the_answer(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await start(client, settings, scripted, desk(), {
        "router": [delegate("tech", "Diagnose crackling headphones"),
                   delegate("billing", "Is order A1001 refundable?"),
                   {"content": "Try a reset; if it persists you get a refund.",
                    "expect": {"last_message_contains": "billing reports"}}],
        "tech": [{"content": "Reset the pairing."}],
        "billing": [{"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A1001"}}]},
                    {"content": "A1001 is refundable."}],
    })
    assert result.status is RunStatus.COMPLETED
    assert result.output == "Try a reset; if it persists you get a refund."
    assert [c.member for c in result.children] == ["tech", "billing"]
    assert [c.status for c in result.children] == [RunStatus.COMPLETED] * 2
    assert result.usage.total_tokens > sum(c.usage.total_tokens for c in result.children)
    scripted.assert_script_consumed(run_id)
    # The child-workflow tree is visible through the Temporal API.
    for child in result.children:
        description = await client.get_workflow_handle(child.workflow_id).describe()
        assert description.parent_id == run_id
        assert description.workflow_type == "AgentWorkflow"


async def test_routing_loop_is_refused_then_ends_the_run(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    same = delegate("tech", "Diagnose crackling headphones")
    run_id, result = await start(client, settings, scripted, desk(max_repeats=0),
                                 {"router": [same, same, same], "tech": [{"content": "Reset."}]})
    assert result.status is RunStatus.ROUTING_LOOP
    assert len(result.children) == 1
    scripted.assert_script_consumed(run_id)


async def test_round_bound_ends_with_max_rounds(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await start(client, settings, scripted, desk(max_rounds=2), {
        "router": [delegate("tech", "one"), delegate("billing", "two"), delegate("tech", "three")],
        "tech": [{"content": "1"}], "billing": [{"content": "2"}],
    })
    assert result.status is RunStatus.MAX_ROUNDS
    assert "max_rounds=2" in (result.reason or "")
    assert len(result.children) == 2
    scripted.assert_script_consumed(run_id)


async def test_a_failing_worker_is_reported_to_the_router(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await start(client, settings, scripted, desk(), {
        "router": [delegate("tech", "Diagnose"),
                   {"content": "Tech is unavailable; we will call you.",
                    "expect": {"last_message_contains": "failed"}}],
        "tech": [{"fault": "401"}],
    })
    assert result.status is RunStatus.COMPLETED
    assert result.children[0].status is RunStatus.FAILED
    scripted.assert_script_consumed(run_id)


async def test_approval_and_exactly_once_refund_inside_a_worker(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    team = parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [agent("router", "routes requests"), refunder()],
        "supervisor": {"router": "router", "workers": ["refunder"]},
    })
    handle = await pattern_start(client, settings, scripted, team, {
        "router": [delegate("refunder", "Refund 10.0 on A1001"), {"content": "Refunded."}],
        "refunder": [{"tool_calls": [REFUND]}, {"content": "Refund queued."}],
    }, "Refund A1001")
    waiting = await approve_in_child(client, handle.id)
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert waiting == result.children[0].workflow_id
    assert outbox(tmp_path) == [("A1001", 10.0)]
    scripted.assert_script_consumed(handle.id)


async def test_supervisor_history_replays(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await start(client, settings, scripted, desk(), {
        "router": [delegate("tech", "Diagnose crackling headphones"), {"content": "Reset it."}],
        "tech": [{"content": "Reset the pairing."}],
    })
    assert result.status is RunStatus.COMPLETED
    await record_and_replay(client, run_id, "supervisor")
