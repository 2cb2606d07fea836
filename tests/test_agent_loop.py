"""The single-agent loop on a real Temporal dev server with the scripted model in script mode."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from helpers import new_run_id, run_agent, run_approving, support_team
from temporalio.client import Client

from baton.runs import PageRequest, RunLogPage, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings

AGENT = "support_agent"


async def _events(client: Client, run_id: str) -> list[Any]:
    page = await client.get_workflow_handle(run_id).query(
        "run_log", PageRequest(), result_type=RunLogPage)
    return page.events


def _outbox_rows(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "support.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


async def test_tool_call_then_answer(client: Client, settings: BatonSettings,
                                     scripted: ScriptedServer, worker: object) -> None:
    team = support_team()
    run_id = new_run_id(team)
    result = await run_agent(client, settings, team, "Where is order A1001?", run_id=run_id,
                             scripted=scripted, script={AGENT: [
        {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A1001"}}]},
        {"content": "Order A1001 has been delivered."},
    ]})
    assert result.status is RunStatus.COMPLETED
    assert result.output == "Order A1001 has been delivered."
    assert result.steps == 2
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    scripted.assert_script_consumed(run_id)
    kinds = [e.kind for e in await _events(client, run_id)]
    assert kinds == ["started", "model_started", "model_call", "tool_call", "model_started",
                     "model_call", "finished"]
    tool_event = (await _events(client, run_id))[3]
    assert tool_event.status == "ok" and tool_event.result["order_id"] == "A1001"
    assert len(tool_event.idempotency_key) == 64


async def test_max_steps_gives_typed_status_with_partial_output(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = support_team(max_steps=2)
    call = {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A1002"}}]}
    call2 = {"tool_calls": [{"name": "search_help_center", "arguments": {"query": "refund"}}]}
    run_id = new_run_id(team)
    result = await run_agent(client, settings, team, "Investigate A1002", run_id=run_id,
                             scripted=scripted, script={AGENT: [call, call2]})
    assert result.status is RunStatus.MAX_STEPS
    assert "max_steps=2" in (result.reason or "")
    assert result.output is not None and "A1002" in result.output
    scripted.assert_script_consumed(run_id)


async def test_ungranted_tool_is_refused_and_never_executed(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    team = support_team(tools=("lookup_order",))
    run_id = new_run_id(team)
    result = await run_agent(client, settings, team, "Refund A1001", run_id=run_id,
                             scripted=scripted, script={AGENT: [
        {"tool_calls": [{"name": "issue_refund",
                         "arguments": {"order_id": "A1001", "amount": 5, "reason": "x"}}]},
        {"content": "I cannot issue refunds."},
    ]})
    assert result.status is RunStatus.COMPLETED
    events = await _events(client, run_id)
    refused = [e for e in events if e.kind == "tool_refused"]
    assert len(refused) == 1 and "not available" in refused[0].reason
    assert not [e for e in events if e.kind == "tool_call"]
    messages = await client.get_workflow_handle(run_id).query(
        "messages", PageRequest(), result_type=__import__("baton.runs").runs.MessagesPage)
    tool_msgs = [m for m in messages.messages if m.kind == "tool"]
    assert tool_msgs[0].is_error and "lookup_order" in tool_msgs[0].content
    db = tmp_path / "support.sqlite"
    assert not db.exists() or _outbox_rows(tmp_path) == 0


async def test_invalid_arguments_go_back_to_the_model_which_recovers(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = support_team()
    run_id = new_run_id(team)
    result = await run_agent(client, settings, team, "Look up A1003", run_id=run_id,
                             scripted=scripted, script={AGENT: [
        {"tool_calls": [{"name": "lookup_order", "arguments": {"order": 1003}}]},
        {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A1003"}}]},
        {"content": "Found it."},
    ]})
    assert result.status is RunStatus.COMPLETED
    calls = [e for e in await _events(client, run_id) if e.kind == "tool_call"]
    assert [c.status for c in calls] == ["error", "ok"]
    assert calls[0].error_type == "invalid_arguments" and "order_id" in calls[0].content
    scripted.assert_script_consumed(run_id)


SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string"}, "refunded": {"type": "boolean"}},
    "required": ["order_id", "refunded"],
    "additionalProperties": False,
}


async def test_structured_output_fix_loop_succeeds_within_bound(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = support_team(output_schema=SCHEMA, max_output_fix_attempts=2)
    run_id = new_run_id(team)
    result = await run_agent(client, settings, team, "Summarise A1001", run_id=run_id,
                             scripted=scripted, script={AGENT: [
        {"content": "Sure! The order is fine."},
        {"json": {"order_id": "A1001"}},
        {"json": {"order_id": "A1001", "refunded": False}},
    ]})
    assert result.status is RunStatus.COMPLETED
    assert result.structured == {"order_id": "A1001", "refunded": False}
    invalid = [e for e in await _events(client, run_id) if e.kind == "output_invalid"]
    assert [e.attempt for e in invalid] == [1, 2]
    assert "not valid JSON" in invalid[0].error and "refunded" in invalid[1].error


async def test_structured_output_fails_cleanly_past_the_bound(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = support_team(output_schema=SCHEMA, max_output_fix_attempts=1)
    run_id = new_run_id(team)
    result = await run_agent(client, settings, team, "Summarise A1001", run_id=run_id,
                             scripted=scripted, script={AGENT: [
        {"content": "not json"}, {"json": {"order_id": 7}},
    ]})
    assert result.status is RunStatus.OUTPUT_INVALID
    assert result.error_type == "output_invalid"
    assert "after 1 fix attempts" in (result.reason or "")
    assert result.output == '{"order_id": 7}' or "order_id" in (result.output or "")
    scripted.assert_script_consumed(run_id)


async def test_token_budget_ends_the_run_with_typed_status(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # Room for the first call (about 600 tokens of prompt), not for the second: the second call
    # is never made, the run ends typed, and the first call's tool result survives.
    base = support_team()
    team = base.model_copy(update={"budget": base.budget.model_copy(update={"max_tokens": 1200})})
    run_id = new_run_id(team)
    result = await run_agent(client, settings, team, "Look up A1001", run_id=run_id,
                             scripted=scripted, script={AGENT: [
        {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A1001"}}]},
    ]})
    assert result.status is RunStatus.BUDGET_EXHAUSTED, result
    assert "more than the budget has left" in (result.reason or "")
    assert result.usage.total_tokens <= 1200  # bounded before the call, not noticed after
    assert result.output is not None and "A1001" in result.output  # partial results survive
    assert len(scripted.calls(run_id)) == 1
    scripted.assert_script_consumed(run_id)


async def test_provider_auth_failure_is_a_typed_failed_run(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = support_team()
    run_id = new_run_id(team)
    result = await run_agent(client, settings, team, "hello", run_id=run_id,
                             scripted=scripted, script={AGENT: [{"fault": "401"}]})
    assert result.status is RunStatus.FAILED
    assert result.error_type == "ProviderAuthError"
    assert "model call failed" in (result.reason or "")


async def test_heuristic_model_runs_the_demo_task_end_to_end(
        client: Client, settings: BatonSettings, worker: object, tmp_path: Path) -> None:
    team = support_team()
    result, approvals = await run_approving(
        client, settings, team, "Order A1001 arrived broken. Please look it up and refund it.")
    assert result.status is RunStatus.COMPLETED, result.reason
    assert "A1001" in (result.output or "")
    assert approvals == 1  # the example's policy gates every refund
    assert _outbox_rows(tmp_path) == 1
