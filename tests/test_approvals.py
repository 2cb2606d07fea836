"""Approval gates on a real Temporal dev server: update, signal (also from the `temporal` CLI
binary), refusals answered and audited, parallel approvals, worker restart while waiting."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import TEMPORAL_BIN
from helpers import new_run_id, support_team
from temporalio.client import Client, WorkflowHandle

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import run_result
from baton.runs import PageRequest, RunInput, RunLogPage, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import Approver, BatonSettings
from baton.specs import ApprovalPolicy, TeamSpec
from baton.worker import worker_resources

AGENT = "support_agent"
REFUND = {"name": "issue_refund",
          "arguments": {"order_id": "A1001", "amount": 10.0, "reason": "arrived broken"}}


@pytest.fixture
def settings(settings: BatonSettings) -> BatonSettings:
    """This deployment's approvers: alice, and the finance group (bob)."""
    return settings.model_copy(update={"approvers": {"alice": Approver()},
                                       "approver_groups": {"finance": ["bob"]}})


def gated_team(**policy: Any) -> TeamSpec:
    fields = {"mode": "always", "approvers": ("alice", "finance"), **policy}
    return support_team(approvals={"issue_refund": ApprovalPolicy(**fields)})


async def start(client: Client, settings: BatonSettings, scripted: ScriptedServer,
                team: TeamSpec, steps: list[dict[str, Any]]) -> WorkflowHandle[Any, RunResult]:
    run_id = new_run_id(team)
    scripted.set_script(run_id, {AGENT: steps})
    return await client.start_workflow("AgentWorkflow", RunInput(team=team, input="refund A1001"),
                                       id=run_id, task_queue=settings.task_queue,
                                       result_type=RunResult)


async def wait_pending(handle: WorkflowHandle[Any, Any], count: int = 1) -> list[PendingApproval]:
    for _ in range(200):
        pending = await handle.query("pending_approvals", result_type=list[PendingApproval])
        if len(pending) >= count:
            return pending
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} approvals became pending")


async def events(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    page = await handle.query("run_log", PageRequest(limit=1000), result_type=RunLogPage)
    return page.events


def outbox(tmp_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "support.sqlite") as db:
        return db.execute("SELECT order_id, amount FROM outbox").fetchall()


async def decide(handle: WorkflowHandle[Any, Any], **fields: Any) -> Any:
    return await handle.execute_update("decide", ApprovalDecision(**fields))


async def test_approve_runs_the_tool_once_with_the_original_arguments(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    handle = await start(client, settings, scripted, gated_team(),
                         [{"tool_calls": [REFUND]}, {"content": "Refunded."}])
    [pending] = await wait_pending(handle)
    assert pending.tool == "issue_refund"
    assert pending.args == REFUND["arguments"]
    assert pending.allowed_deciders == ["alice", "bob"]  # groups expand to their members
    status = await handle.query("status")
    assert status["status"] == "awaiting_approval"
    receipt = await decide(handle, approval_id=pending.approval_id, decision="approve", by="bob",
                           reason="policy allows")
    assert receipt["by"] == "bob"
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED
    assert outbox(tmp_path) == [("A1001", 10.0)]
    actions = [e.action for e in await events(handle) if e.kind == "approval"]
    assert actions == ["requested", "approved"]
    scripted.assert_script_consumed(handle.id)


async def test_reject_returns_the_reason_to_the_model_and_the_tool_never_runs(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    handle = await start(client, settings, scripted, gated_team(), [
        {"tool_calls": [REFUND]},
        {"content": "I could not refund.", "expect": {"last_message_contains": "too generous"}},
    ])
    [pending] = await wait_pending(handle)
    await decide(handle, approval_id=pending.approval_id, decision="reject", by="alice",
                 reason="too generous")
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED
    assert not (tmp_path / "support.sqlite").exists() or outbox(tmp_path) == []
    assert not [e for e in await events(handle) if e.kind == "tool_call"]
    scripted.assert_script_consumed(handle.id)


async def test_edit_runs_with_edited_arguments_and_the_log_keeps_both(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    handle = await start(client, settings, scripted, gated_team(),
                         [{"tool_calls": [REFUND]}, {"content": "Partially refunded."}])
    [pending] = await wait_pending(handle)
    edited = {**REFUND["arguments"], "amount": 4.5}
    await decide(handle, approval_id=pending.approval_id, decision="edit", by="alice",
                 args=edited, reason="partial refund")
    await run_result(handle)
    assert outbox(tmp_path) == [("A1001", 4.5)]
    log = await events(handle)
    requested = next(e for e in log if e.kind == "approval" and e.action == "requested")
    edited_event = next(e for e in log if e.kind == "approval" and e.action == "edited")
    call = next(e for e in log if e.kind == "tool_call")
    assert requested.arguments["amount"] == 10.0
    assert edited_event.arguments["amount"] == 4.5
    assert call.arguments["amount"] == 4.5


async def test_each_invalid_decision_is_refused_and_recorded(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    handle = await start(client, settings, scripted, gated_team(),
                         [{"tool_calls": [REFUND]}, {"content": "Done."}])
    [pending] = await wait_pending(handle)
    ap = pending.approval_id
    cases = [
        ({"approval_id": "apr-nope", "decision": "approve", "by": "alice"}, "unknown approval id"),
        ({"approval_id": ap, "decision": "approve", "by": "mallory"}, "may not decide"),
        ({"approval_id": ap, "decision": "edit", "by": "alice"}, "needs args"),
        ({"approval_id": ap, "decision": "edit", "by": "alice",
          "args": {"order_id": "A1001", "amount": "lots", "reason": "x"}}, "schema"),
    ]
    for fields, expected in cases:
        receipt = await decide(handle, **fields)
        assert receipt["accepted"] is False and expected in receipt["reason"], (fields, receipt)
    await decide(handle, approval_id=ap, decision="approve", by="alice")
    late = await decide(handle, approval_id=ap, decision="reject", by="alice")
    assert late["accepted"] is False and "already approved by alice" in late["reason"]
    assert (await run_result(handle)).status is RunStatus.COMPLETED
    # Every refused attempt is in the run log: who, and why.
    refused = [(e.by, e.reason) for e in await events(handle)
               if e.kind == "approval" and e.action == "refused"]
    assert [by for by, _ in refused] == ["alice", "mallory", "alice", "alice", "alice"]
    assert [expected in (reason or "") for (_, reason), (_, expected) in
            zip(refused, [*cases, ({}, "already approved")], strict=True)] == [True] * 5


async def test_signal_from_the_temporal_cli_binary_decides(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    handle = await start(client, settings, scripted, gated_team(),
                         [{"tool_calls": [REFUND]}, {"content": "Refunded."}])
    [pending] = await wait_pending(handle)
    address = client.service_client.config.target_host

    def signal(payload: dict[str, Any]) -> None:
        subprocess.run(
            [TEMPORAL_BIN, "workflow", "signal", "--address", address, "--workflow-id",
             handle.id, "--name", "decide", "--input", json.dumps(payload)],
            check=True, capture_output=True, timeout=30)

    # A refused signal changes nothing and is recorded; then a valid one decides.
    await asyncio.to_thread(signal, {"approval_id": pending.approval_id, "decision": "approve",
                                     "by": "mallory", "reason": None, "args": None})
    await asyncio.to_thread(signal, {"approval_id": pending.approval_id, "decision": "approve",
                                     "by": "alice", "reason": "ok", "args": None})
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED
    actions = [(e.action, e.by) for e in await events(handle) if e.kind == "approval"]
    assert actions == [("requested", None), ("refused", "mallory"), ("approved", "alice")]
    assert outbox(tmp_path) == [("A1001", 10.0)]


async def test_parallel_approvals_wait_independently(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    second = {"name": "issue_refund",
              "arguments": {"order_id": "A1002", "amount": 3.0, "reason": "late"}}
    handle = await start(client, settings, scripted, gated_team(),
                         [{"tool_calls": [REFUND, second]}, {"content": "Both handled."}])
    pending = await wait_pending(handle, count=2)
    by_order = {p.args["order_id"]: p.approval_id for p in pending}
    await decide(handle, approval_id=by_order["A1002"], decision="approve", by="alice")
    await decide(handle, approval_id=by_order["A1001"], decision="reject", by="alice")
    assert (await run_result(handle)).status is RunStatus.COMPLETED
    assert outbox(tmp_path) == [("A1002", 3.0)]


async def test_condition_policy_only_gates_matching_calls(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    team = gated_team(mode="when", condition="amount > 50")
    handle = await start(client, settings, scripted, team,
                         [{"tool_calls": [REFUND]}, {"content": "Refunded."}])
    assert (await run_result(handle)).status is RunStatus.COMPLETED  # 10 <= 50: no person needed
    assert outbox(tmp_path) == [("A1001", 10.0)]
    assert not [e for e in await events(handle) if e.kind == "approval"]


async def test_search_attribute_finds_runs_awaiting_approval(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    handle = await start(client, settings, scripted, gated_team(),
                         [{"tool_calls": [REFUND]}, {"content": "Refunded."}])
    [pending] = await wait_pending(handle)
    query = f"BatonStatus = 'awaiting_approval' AND WorkflowId = '{handle.id}'"
    for _ in range(100):
        found = [w.id async for w in client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [handle.id]
    await decide(handle, approval_id=pending.approval_id, decision="approve", by="alice")
    await run_result(handle)


async def test_cancel_while_waiting_closes_the_approval(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    handle = await start(client, settings, scripted, gated_team(), [{"tool_calls": [REFUND]}])
    await wait_pending(handle)
    await handle.cancel()
    result = await run_result(handle)
    assert result.status is RunStatus.CANCELLED
    closed = [e for e in await events(handle) if e.kind == "approval" and e.action == "closed"]
    assert len(closed) == 1
    assert "cancelled" in (closed[0].reason or "")


async def test_a_new_worker_resumes_and_the_decision_applies(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_SUPPORT_DB", str(tmp_path / "support.sqlite"))
    async with worker_resources(client, settings) as first, first:
        handle = await start(client, settings, scripted, gated_team(),
                             [{"tool_calls": [REFUND]}, {"content": "Refunded."}])
        [pending] = await wait_pending(handle)
    # The first worker is gone; the decision is accepted by the server and a new worker (with
    # an empty workflow cache) replays up to the wait and applies it.
    async with worker_resources(client, settings) as second, second:
        await decide(handle, approval_id=pending.approval_id, decision="approve", by="alice")
        result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED
    assert outbox(tmp_path) == [("A1001", 10.0)]
    scripted.assert_script_consumed(handle.id)
