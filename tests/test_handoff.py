"""Handoff pattern on real Temporal: transfers with each history mode, the ping-pong bound, a
failing target, a handoff team inside a supervisor, the child-workflow tree, replay, and an
approval after a transfer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pattern_run_helpers import (
    REFUND,
    agent,
    approve_in_child,
    assert_parent,
    outbox,
    record_and_replay,
    run,
    start,
)
from temporalio.client import Client

from baton.client import run_result
from baton.loader import parse_team
from baton.messages import AssistantMessage, ToolResultMessage, UserMessage
from baton.runs import MessagesPage, PageRequest, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec

TASK = "My order A1001 arrived broken, I want my money back."
AGENTS = [agent("triage", "first contact, finds the right desk"),
          agent("billing", "refunds, invoices and payments"),
          agent("tech", "devices and troubleshooting")]


def desk(agents: list[dict[str, Any]] | None = None, **handoff: Any) -> dict[str, Any]:
    return {"name": "desk", "description": "the support desk", "pattern": "handoff",
            "agents": agents or AGENTS,
            "handoff": {"agents": ["triage", "billing", "tech"], **handoff}}


def team(**handoff: Any) -> TeamSpec:
    return parse_team(desk(**handoff))


def transfer(to: str, reason: str, content: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"tool_calls": [{"name": f"transfer_to_{to}",
                                            "arguments": {"reason": reason}}]}
    return {**step, "content": content} if content else step


async def messages(client: Client, workflow_id: str) -> list[Any]:
    page = await client.get_workflow_handle(workflow_id).query(
        "messages", PageRequest(limit=1000), result_type=MessagesPage)
    return list(page.messages)


async def test_control_moves_to_the_target_with_the_full_conversation(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, team(), {
        "triage": [{**transfer("billing", "refund request"),
                    "expect": {"tools_include": ["transfer_to_billing", "transfer_to_tech"]}}],
        "billing": [{"content": "Refund of 10 EUR issued for A1001.",
                     "expect": {"last_message_contains": "[Transferred from triage: refund"}}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    assert result.output == "Refund of 10 EUR issued for A1001."
    assert result.details["handoffs"] == [
        {"from": "triage", "to": "billing", "reason": "refund request"}]
    assert result.details["final_agent"] == "billing"
    assert [(c.member, c.status) for c in result.children] == [
        ("triage", RunStatus.TRANSFERRED), ("billing", RunStatus.COMPLETED)]
    for child in result.children:
        await assert_parent(client, child.workflow_id, run_id, "AgentWorkflow")
    # full: billing sees triage's conversation, and the transfer call has its result.
    seen = await messages(client, result.children[1].workflow_id)
    assert [m.kind for m in seen] == ["system", "user", "assistant", "tool", "user", "assistant"]
    assert seen[1].content == TASK
    assert isinstance(seen[3], ToolResultMessage)
    assert seen[3].content == "Transferred to billing."
    assert seen[3].tool_call_id == seen[2].tool_calls[0].id
    scripted.assert_script_consumed(run_id)


@pytest.mark.parametrize("history", ["last_message", "summary", "none"])
async def test_history_modes_shape_what_the_target_sees(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        history: str) -> None:
    run_id, result = await run(client, settings, scripted, team(history=history), {
        "triage": [transfer("billing", "refund request", content="Billing will take over.")],
        "billing": [{"content": "Refunded."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    seen = await messages(client, result.children[1].workflow_id)
    context = seen[1:-2]  # between the system prompt and the new task (+ the answer)
    if history == "none":
        assert context == []
    elif history == "last_message":
        assert context == [AssistantMessage(content="Billing will take over.", agent="triage")]
    else:
        [summary] = context
        assert isinstance(summary, UserMessage)
        assert summary.source == "baton"
        assert "before triage transferred it" in summary.content
        assert f"orchestrator: {TASK}" in summary.content
        assert 'called transfer_to_billing({"reason": "refund request"})' in summary.content
    assert "[Transferred from triage: refund request]" in seen[-2].content
    scripted.assert_script_consumed(run_id)


async def test_ping_pong_ends_with_max_handoffs_and_partial_output(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, team(max_handoffs=2), {
        "triage": [transfer("billing", "money"), transfer("billing", "money again",
                                                          content="Back to billing, sorry.")],
        "billing": [transfer("triage", "not mine")],
    }, TASK)
    assert result.status is RunStatus.MAX_HANDOFFS
    assert "max_handoffs=2" in (result.reason or "")
    assert result.output == "Back to billing, sorry."
    assert [h["to"] for h in result.details["handoffs"]] == ["billing", "triage", "billing"]
    assert len(result.children) == 3
    scripted.assert_script_consumed(run_id)


async def test_a_failing_target_ends_the_run_with_its_status(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, team(routes={"triage": ["tech"]}), {
        "triage": [{**transfer("tech", "device issue"),
                    "expect": {"tools_include": ["transfer_to_tech"]}}],
        "tech": [{"fault": "401"}],
    }, TASK)
    assert result.status is RunStatus.FAILED
    assert (result.reason or "").startswith("tech ended failed:")
    assert result.details["handoffs"] == [
        {"from": "triage", "to": "tech", "reason": "device issue"}]
    assert result.children[-1].status is RunStatus.FAILED
    scripted.assert_script_consumed(run_id)


async def test_a_handoff_team_works_inside_a_supervisor(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    outer = parse_team({
        "name": "front", "pattern": "supervisor",
        "agents": [agent("boss", "routes customer mail")], "teams": {"desk": desk()},
        "supervisor": {"router": "boss", "workers": ["desk"]},
    })
    run_id, result = await run(client, settings, scripted, outer, {
        "boss": [{"tool_calls": [{"name": "delegate_to_desk", "arguments": {"task": TASK}}]},
                 {"content": "The desk refunded you.", "expect": {"last_message_contains":
                                                                   "desk reports (completed)"}}],
        "triage": [transfer("billing", "refund")],
        "billing": [{"content": "Refunded."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    [desk_record] = result.children
    assert desk_record.kind == "team"
    await assert_parent(client, desk_record.workflow_id, run_id, "HandoffWorkflow")
    await assert_parent(client, f"{desk_record.workflow_id}.billing.2",
                        desk_record.workflow_id, "AgentWorkflow")
    scripted.assert_script_consumed(run_id)


async def test_recorded_handoff_history_replays(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, team(), {
        "triage": [transfer("billing", "refund request")],
        "billing": [{"content": "Refunded."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    await record_and_replay(client, run_id, "handoff")


async def test_approval_gate_and_ledger_after_a_transfer(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    agents = [AGENTS[0], agent("billing", "refunds", tools=["issue_refund"],
                               approvals={"issue_refund": {"mode": "always"}}), AGENTS[2]]
    handle = await start(client, settings, scripted, parse_team(desk(agents=agents)), {
        "triage": [transfer("billing", "refund request")],
        "billing": [{"tool_calls": [REFUND]},
                    {"content": "Refunded.", "expect": {"last_message_contains": "refund_id"}}],
    }, TASK)
    child_id = await approve_in_child(client, handle.id)
    assert child_id == f"{handle.id}.billing.2"
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED
    assert outbox(tmp_path) == [("A1001", 10.0)]
    scripted.assert_script_consumed(handle.id)
