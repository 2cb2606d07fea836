"""Approval expiry and escalation on Temporal's time-skipping test server: hours pass in
milliseconds, through the same durable timers a production run uses."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from guarded_tools import executed
from helpers import support_team
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import run_result
from baton.loader import parse_team
from baton.runs import PageRequest, RunInput, RunLogPage, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import Approver, BatonSettings
from baton.specs import ApprovalPolicy
from baton.visibility import ALL_SEARCH_ATTRIBUTES
from baton.worker import worker_resources

TEST_SERVER = str(Path(sys.executable).parent / "temporal-test-server")
AGENT = "support_agent"
REFUND = {"name": "issue_refund",
          "arguments": {"order_id": "A1001", "amount": 10.0, "reason": "arrived broken"}}
HOUR = 3600.0


@pytest.fixture(scope="module")
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=TEST_SERVER)
    # The test server starts without Baton's search attributes; register them like `baton up`.
    await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace="default",
        search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
                           for key in ALL_SEARCH_ATTRIBUTES}))
    yield env
    await env.shutdown()


@pytest.fixture
def settings(settings: BatonSettings) -> BatonSettings:
    """This deployment's approvers: alice, and manager (whom approvals escalate to)."""
    return settings.model_copy(update={"approvers": {"alice": Approver(), "manager": Approver()}})


@pytest.fixture
async def skipping_worker(skipping: WorkflowEnvironment, settings: BatonSettings,
                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    monkeypatch.setenv("BATON_SUPPORT_DB", str(tmp_path / "support.sqlite"))
    async with worker_resources(skipping.client, settings) as worker, worker:
        yield


async def start(env: WorkflowEnvironment, settings: BatonSettings, scripted: ScriptedServer,
                policy: ApprovalPolicy, steps: list[dict[str, Any]], *,
                wall_clock_s: float = 10 * 24 * HOUR, count_human_wait: bool = False,
                ) -> WorkflowHandle[Any, RunResult]:
    team = support_team(approvals={"issue_refund": policy}, max_steps=4)
    budget = team.budget.model_copy(update={"max_wall_clock_s": wall_clock_s,
                                            "count_human_wait": count_human_wait})
    team = team.model_copy(update={"budget": budget})
    run_id = f"expiry-{uuid.uuid4().hex[:10]}"
    scripted.set_script(run_id, {AGENT: steps})
    return await env.client.start_workflow(
        "AgentWorkflow", RunInput(team=team, input="refund A1001"), id=run_id,
        task_queue=settings.task_queue, result_type=RunResult)


async def approvals_log(handle: WorkflowHandle[Any, Any]) -> list[tuple[str, str | None]]:
    page = await handle.query("run_log", PageRequest(limit=1000), result_type=RunLogPage)
    return [(e.action, e.by) for e in page.events if e.kind == "approval"]


async def pending(handle: WorkflowHandle[Any, Any]) -> list[PendingApproval]:
    return await handle.query("pending_approvals", result_type=list[PendingApproval])


@pytest.mark.usefixtures("skipping_worker")
async def test_expiry_rejects(skipping: WorkflowEnvironment, settings: BatonSettings,
                              scripted: ScriptedServer) -> None:
    policy = ApprovalPolicy(mode="always", expires_in_s=4 * HOUR, on_expiry="reject")
    handle = await start(skipping, settings, scripted, policy, [
        {"tool_calls": [REFUND]},
        {"content": "Nobody approved.", "expect": {"last_message_contains": "expired"}},
    ])
    result = await run_result(handle)  # the time-skipping server jumps the 4 hours
    assert result.status is RunStatus.COMPLETED
    assert await approvals_log(handle) == [("requested", None), ("expired", "baton")]
    scripted.assert_script_consumed(handle.id)


@pytest.mark.usefixtures("skipping_worker")
async def test_expiry_approves_only_a_write_tool_whose_code_opts_in(
        skipping: WorkflowEnvironment, settings: BatonSettings, scripted: ScriptedServer,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_TRANSFERS", str(tmp_path / "transfers.jsonl"))
    # top_up's own code approves it when nobody answers within the hour.
    team = parse_team({"name": "wallet", "agents": [{
        "name": "teller", "description": "Tops up accounts.", "instructions": "Top up.",
        "tools": ["top_up"], "max_steps": 3}], "budget": {"max_wall_clock_s": 10 * 24 * HOUR}})
    run_id = f"expiry-{uuid.uuid4().hex[:10]}"
    scripted.set_script(run_id, {"teller": [
        {"tool_calls": [{"name": "top_up", "arguments": {"account": "DE001"}}]},
        {"content": "Topped up."}]})
    handle = await skipping.client.start_workflow(
        "AgentWorkflow", RunInput(team=team, input="top up DE001"), id=run_id,
        task_queue=settings.task_queue, result_type=RunResult)
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED
    assert await approvals_log(handle) == [("requested", None), ("expired", "baton")]
    page = await handle.query("run_log", PageRequest(limit=1000), result_type=RunLogPage)
    assert [e.status for e in page.events if e.kind == "tool_call"] == ["ok"]
    assert [t["account"] for t in executed()] == ["DE001"]
    # The example refund tool did not opt in: a team asking to approve it on expiry is refused.
    policy = ApprovalPolicy(mode="always", expires_in_s=HOUR, on_expiry="approve")
    refused = await run_result(await start(skipping, settings, scripted, policy,
                                           [{"tool_calls": [REFUND]}]))
    assert refused.status is RunStatus.FAILED and refused.error_type == "not_served"
    assert "approve on expiry" in (refused.reason or "")


@pytest.mark.usefixtures("skipping_worker")
async def test_expiry_escalates_then_the_new_group_decides(
        skipping: WorkflowEnvironment, settings: BatonSettings, scripted: ScriptedServer) -> None:
    policy = ApprovalPolicy(mode="always", approvers=("alice",), expires_in_s=HOUR,
                            on_expiry="escalate", escalate_to=("manager",),
                            escalation_expires_in_s=24 * HOUR)
    handle = await start(skipping, settings, scripted, policy,
                         [{"tool_calls": [REFUND]}, {"content": "Refunded."}])
    for _ in range(100):
        if await pending(handle):
            break
        await skipping.sleep(0.1)
    [before] = await pending(handle)
    assert before.allowed_deciders == ["alice"]
    assert not before.escalated
    await skipping.sleep(HOUR + 60)
    [after] = await pending(handle)
    assert after.escalated
    assert after.allowed_deciders == ["manager"]
    late = await handle.execute_update("decide", ApprovalDecision(
        approval_id=after.approval_id, decision="approve", by="alice"))
    assert late["accepted"] is False and "'alice' may not decide" in late["reason"]
    await handle.execute_update("decide", ApprovalDecision(
        approval_id=after.approval_id, decision="approve", by="manager"))
    assert (await run_result(handle)).status is RunStatus.COMPLETED
    assert await approvals_log(handle) == [
        ("requested", None), ("escalated", "baton"), ("refused", "alice"),
        ("approved", "manager")]


@pytest.mark.usefixtures("skipping_worker")
async def test_waiting_for_a_person_does_not_burn_the_wall_clock_budget(
        skipping: WorkflowEnvironment, settings: BatonSettings, scripted: ScriptedServer) -> None:
    # The support example's shape: a 10-minute wall clock, an approval that waits a day.
    policy = ApprovalPolicy(mode="always", expires_in_s=24 * HOUR, on_expiry="reject")
    handle = await start(skipping, settings, scripted, policy,
                         [{"tool_calls": [REFUND]}, {"content": "Refunded."}],
                         wall_clock_s=600)
    for _ in range(100):
        if await pending(handle):
            break
        await skipping.sleep(0.1)
    [waiting] = await pending(handle)
    await skipping.sleep(20 * HOUR)  # far past the 600 s wall clock, inside the approval's day
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    await handle.execute_update("decide", ApprovalDecision(
        approval_id=waiting.approval_id, decision="approve", by="alice"))
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert await approvals_log(handle) == [("requested", None), ("approved", "alice")]


@pytest.mark.usefixtures("skipping_worker")
async def test_a_team_that_counts_human_wait_ends_a_waiting_run_and_closes_its_approval(
        skipping: WorkflowEnvironment, settings: BatonSettings, scripted: ScriptedServer) -> None:
    policy = ApprovalPolicy(mode="always")  # no expiry: only the run's budget bounds the wait
    handle = await start(skipping, settings, scripted, policy, [{"tool_calls": [REFUND]}],
                         wall_clock_s=2 * HOUR, count_human_wait=True)
    result = await run_result(handle)
    assert result.status is RunStatus.BUDGET_EXHAUSTED
    assert "wall-clock" in (result.reason or "")
    assert await approvals_log(handle) == [("requested", None), ("closed", "baton")]
    scripted.assert_script_consumed(handle.id)
