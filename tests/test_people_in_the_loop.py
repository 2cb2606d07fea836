"""A person needed anywhere in a team is visible at the team's run, and decides there.

The approval waits in a member (a child workflow two levels down: fan-out → pipeline stage
would do too; here a supervisor's worker and a supervisor inside a pipeline). The run id a person
has — the team's — reports ``awaiting_approval`` in its status query, its ``BatonStatus`` search
attribute and its current details; lists the approval with the member's workflow id; and routes
a ``decide`` sent to it (update, or signal from the ``temporal`` CLI) to the member.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import TEMPORAL_BIN
from pattern_run_helpers import REFUND, agent, outbox, refunder
from pattern_run_helpers import start as pattern_start
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import run_result
from baton.loader import parse_team
from baton.runs import RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec


def desk() -> TeamSpec:
    return parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [agent("router", "routes requests"), refunder()],
        "supervisor": {"router": "router", "workers": ["refunder"]},
    })


def delegated_refund() -> dict[str, list[dict[str, Any]]]:
    return {"router": [{"tool_calls": [{"name": "delegate_to_refunder",
                                        "arguments": {"task": "Refund 10.0 on A1001"}}]},
                       {"content": "Refunded."}],
            "refunder": [{"tool_calls": [REFUND]}, {"content": "Refund queued."}]}


async def waiting_at_the_top(client: Client, handle: WorkflowHandle[Any, Any]
                             ) -> PendingApproval:
    for _ in range(300):
        pending = await handle.query("pending_approvals", result_type=list[PendingApproval])
        if pending:
            return pending[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the team's run never listed its member's approval")


async def test_the_teams_run_shows_a_members_approval_everywhere(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    handle = await pattern_start(client, settings, scripted, desk(), delegated_refund(),
                                 "Refund A1001")
    approval = await waiting_at_the_top(client, handle)
    assert approval.workflow_id.startswith(f"{handle.id}.refunder.")  # the member holding it
    assert approval.agent == "refunder" and approval.tool == "issue_refund"
    assert (await handle.query("status"))["status"] == "awaiting_approval"
    query = f"BatonStatus = 'awaiting_approval' AND WorkflowId = '{handle.id}'"
    for _ in range(100):
        found = [w.id async for w in client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [handle.id]
    # The Temporal UI's "current details" (the workflow metadata query the UI runs).
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "awaiting approval: refunder → issue_refund(order_id=A1001" in (
        metadata.current_details)
    assert f"baton approve {handle.id} {approval.approval_id}" in metadata.current_details
    await handle.execute_update("decide", ApprovalDecision(
        approval_id=approval.approval_id, decision="approve", by="alice"))
    assert (await run_result(handle)).status is RunStatus.COMPLETED
    assert (await handle.query("status"))["status"] == "completed"


async def test_a_decision_sent_to_the_teams_run_reaches_the_member(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    handle = await pattern_start(client, settings, scripted, desk(), delegated_refund(),
                                 "Refund A1001")
    approval = await waiting_at_the_top(client, handle)
    # An update to the team's run answers with the member's verdict: here a refusal...
    refused = await handle.execute_update("decide", ApprovalDecision(
        approval_id=approval.approval_id, decision="edit", by="alice",
        args={"amount": "lots"}))
    assert refused["accepted"] is False and "schema" in refused["reason"]
    # ...and a partial edit, merged over the original arguments, accepted by the member.
    receipt = await handle.execute_update("decide", ApprovalDecision(
        approval_id=approval.approval_id, decision="edit", by="alice", args={"amount": 4.0}))
    assert receipt["accepted"] is True and receipt["by"] == "alice"
    result: RunResult = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert outbox(tmp_path) == [("A1001", 4.0)]


async def test_a_signal_to_the_teams_run_from_the_temporal_cli_decides(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    pipeline = parse_team({
        "name": "chain", "pattern": "pipeline",
        "agents": [agent("intake", "reads the request and returns what to refund")],
        "teams": {"payout": desk().model_dump(mode="json", exclude_defaults=True)},
        "pipeline": {"stages": ["intake", "payout"]},
    })
    script = {"intake": [{"content": "Refund 10.0 on A1001"}], **delegated_refund()}
    handle = await pattern_start(client, settings, scripted, pipeline, script, "Refund A1001")
    approval = await waiting_at_the_top(client, handle)  # two levels down: stage → worker
    assert (await handle.query("status"))["status"] == "awaiting_approval"
    decision = {"approval_id": approval.approval_id, "decision": "approve", "by": "alice"}
    await asyncio.to_thread(subprocess.run, [
        TEMPORAL_BIN, "workflow", "signal", "--address", client.service_client.config.target_host,
        "--workflow-id", handle.id, "--name", "decide", "--input", json.dumps(decision)],
        check=True, capture_output=True, timeout=30)
    result: RunResult = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert outbox(tmp_path) == [("A1001", 10.0)]


async def test_temporal_sees_what_baton_sees(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # A run that ran out of steps closes Failed in Temporal, with the typed result in its
    # failure; one that completed closes Completed; a cancelled one closes Canceled.
    team = parse_team({"name": "solo", "agents": [
        agent("looper", "looks things up", tools=["lookup_order"], max_steps=1)]})
    handles = {}
    for name, script in (("max_steps", [{"tool_calls": [{"name": "lookup_order", "arguments": {
            "order_id": "A1001"}}]}]), ("completed", [{"content": "Done."}])):
        handles[name] = await pattern_start(client, settings, scripted, team,
                                            {"looper": script}, "look up A1001")
    ended = {name: await run_result(handle) for name, handle in handles.items()}
    assert ended["max_steps"].status is RunStatus.MAX_STEPS
    assert ended["completed"].status is RunStatus.COMPLETED
    status = {name: (await handle.describe()).status for name, handle in handles.items()}
    assert status == {"max_steps": WorkflowExecutionStatus.FAILED,
                      "completed": WorkflowExecutionStatus.COMPLETED}
    with pytest.raises(WorkflowFailureError) as caught:
        await handles["max_steps"].result()
    assert isinstance(caught.value.cause, ApplicationError)
    assert caught.value.cause.type == "BatonRunNotCompleted"
    assert "max_steps" in caught.value.cause.message

    waiting = await pattern_start(client, settings, scripted, desk(), delegated_refund(),
                                  "Refund A1001")
    await waiting_at_the_top(client, waiting)
    await waiting.cancel()
    cancelled = await run_result_or_cancelled(waiting)
    assert cancelled == WorkflowExecutionStatus.CANCELED
    # The member that held the approval was cancelled with it, its approval closed.
    [member] = [p async for p in client.list_workflows(f"WorkflowId STARTS_WITH '{waiting.id}.'")]
    assert member.status == WorkflowExecutionStatus.CANCELED


async def run_result_or_cancelled(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus:
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    for _ in range(100):
        status = (await handle.describe()).status
        if status != WorkflowExecutionStatus.RUNNING:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("the run did not close")
