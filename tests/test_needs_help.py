"""Needs help on real Temporal: a member agent that reaches its ``max_steps`` inside a team
returns a structured report, and the team's ``on_needs_help`` decides: the router re-routes,
the member is retried once with a larger slice, a person is asked through the approval gate,
or the run ends; the same for a pipeline's stages."""

from __future__ import annotations

import asyncio
from typing import Any

from pattern_run_helpers import agent, child_input, record_and_replay, run, start
from rich.console import Console
from temporalio.client import Client, WorkflowHandle

from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.client import BatonClient, run_result
from baton.client.cli._render_debug import run_tree
from baton.client.cli._summary import summary
from baton.loader import parse_team
from baton.messages import UserMessage
from baton.runs import RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec

TASK = "My A1001 headphones crackle; refund?"
LOOKUP = {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A1001"}}]}


def desk(**supervisor: Any) -> TeamSpec:
    return parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [agent("router", "routes support requests"),
                   agent("billing", "refunds", tools=["lookup_order"], max_steps=1),
                   agent("tech", "devices")],
        "supervisor": {"router": "router", "workers": ["billing", "tech"], **supervisor},
    })


def delegate(worker: str, task: str, **step: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": f"delegate_to_{worker}", "arguments": {"task": task}}],
            **step}


async def test_a_worker_out_of_steps_reports_what_it_tried_and_the_router_reroutes(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, desk(), {
        "router": [delegate("billing", "Is A1001 refundable?"),
                   delegate("tech", "Diagnose the crackle", expect={
                       "last_message_contains": "needs help after 1 step(s)"}),
                   {"content": "Reset the pairing; billing will follow up."}],
        "billing": [LOOKUP],
        "tech": [{"content": "Reset the pairing."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    billing, tech = result.children
    assert billing.status is RunStatus.MAX_STEPS and tech.status is RunStatus.COMPLETED
    report = billing.needs_help
    assert report is not None and report.status == "max_steps" and report.steps == 1
    assert report.tried[0].startswith('lookup_order({"order_id": "A1001"}) → ok: ')
    assert "reached max_steps=1" in report.missing and report.tokens > 0
    scripted.assert_script_consumed(run_id)
    # baton show and baton summary tell it too, from the closed run's history.
    view = await BatonClient(client, settings).show(run_id)
    console = Console(record=True, width=240)
    for part in run_tree(view):
        console.print(part)
    assert "needs help after 1 step(s)" in console.export_text()
    assert "billing asked for help: it was still missing more steps (reached max_steps=1" in "\n".join(
        summary(view))


async def test_retry_larger_runs_the_worker_again_with_more_steps(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, desk(on_needs_help="retry_larger",
                                                                retry_budget_factor=3), {
        "router": [delegate("billing", "Is A1001 refundable?"),
                   {"content": "A1001 is refundable.", "expect": {
                       "last_message_contains": "billing needed help and was run again with 3x"}}],
        "billing": [LOOKUP, LOOKUP, {"content": "A1001 is refundable."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    first, again = result.children
    assert (first.status, again.status) == (RunStatus.MAX_STEPS, RunStatus.COMPLETED)
    retried = await child_input(client, again.workflow_id)
    assert retried.team.agents[0].max_steps == 3
    earlier = [m.content for m in retried.context if isinstance(m, UserMessage)]
    assert earlier and earlier[-1].startswith("An earlier attempt at this sub-task stopped: ")
    scripted.assert_script_consumed(run_id)


async def pending(handle: WorkflowHandle[Any, Any]) -> PendingApproval:
    for _ in range(300):
        waiting = await handle.query("pending_approvals", result_type=list[PendingApproval])
        if waiting:
            return waiting[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never asked a person")


async def test_ask_person_retries_with_the_persons_hint(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    handle = await start(client, settings, scripted, desk(on_needs_help="ask_person"), {
        "router": [delegate("billing", "Is A1001 refundable?"),
                   {"content": "Refundable.", "expect": {
                       "last_message_contains": "alice had billing run again"}}],
        "billing": [LOOKUP, {"content": "A1001 is refundable.", "expect": {
            "last_message_contains": "Hint for this attempt: answer from the order record"}}],
    }, TASK)
    question = await pending(handle)
    assert question.tool == "needs_help" and question.args["member"] == "billing"
    assert question.args["status"] == "max_steps"
    receipt = await handle.execute_update("decide", ApprovalDecision(
        approval_id=question.approval_id, decision="edit", by="alice", reason="ok",
        args={"hint": "answer from the order record"}), result_type=DecisionReceipt)
    assert receipt.accepted, receipt.reason
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [c.status for c in result.children] == [RunStatus.MAX_STEPS, RunStatus.COMPLETED]
    retried = await child_input(client, result.children[1].workflow_id)
    assert retried.team.agents[0].max_steps == 2  # the default retry_budget_factor
    scripted.assert_script_consumed(handle.id)
    await record_and_replay(client, handle.id, "supervisor_needs_help")  # deterministic


async def test_a_person_who_declines_sends_the_report_to_the_router(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    handle = await start(client, settings, scripted, desk(on_needs_help="ask_person"), {
        "router": [delegate("billing", "Is A1001 refundable?"),
                   {"content": "We will call you.", "expect": {
                       "last_message_contains": "alice chose not to run billing again: "
                                                "call the customer instead"}}],
        "billing": [LOOKUP],
    }, TASK)
    question = await pending(handle)
    await handle.execute_update("decide", ApprovalDecision(
        approval_id=question.approval_id, decision="reject", by="alice",
        reason="call the customer instead"))
    result: RunResult = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [c.status for c in result.children] == [RunStatus.MAX_STEPS]
    scripted.assert_script_consumed(handle.id)


async def test_fail_ends_the_run_with_the_workers_status(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, desk(on_needs_help="fail"), {
        "router": [delegate("billing", "Is A1001 refundable?")], "billing": [LOOKUP],
    }, TASK)
    assert result.status is RunStatus.MAX_STEPS
    assert "on_needs_help is fail" in (result.reason or "")
    assert result.children[0].needs_help is not None
    scripted.assert_script_consumed(run_id)


def line(**pipeline: Any) -> TeamSpec:
    return parse_team({
        "name": "line", "pattern": "pipeline",
        "agents": [agent("researcher", "researches", tools=["lookup_order"], max_steps=1),
                   agent("writer", "writes")],
        "pipeline": {"stages": ["researcher", "writer"], **pipeline},
    })


async def test_a_pipeline_stage_that_needs_help_is_retried_larger(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, line(on_needs_help="retry_larger"), {
        "researcher": [LOOKUP, LOOKUP, {"content": "A1001: delivered, refundable."}],
        "writer": [{"content": "Note: A1001 is refundable."}],
    }, "Write a note on A1001")
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [c.member for c in result.children] == ["researcher", "researcher", "writer"]
    assert result.details["help"] == {
        "researcher": "researcher needed help and was run again with 2x its steps and budget "
                      "share"}
    scripted.assert_script_consumed(run_id)


async def test_a_pipeline_asks_a_person_about_a_stage_and_passes_the_report_up(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    handle = await start(client, settings, scripted, line(on_needs_help="ask_person",
                                                          stage_retries=0), {
        "researcher": [LOOKUP],
    }, "Write a note on A1001")
    question = await pending(handle)
    assert question.tool == "needs_help" and question.agent == "pipeline"
    await handle.execute_update("decide", ApprovalDecision(
        approval_id=question.approval_id, decision="reject", by="alice"))
    result = await run_result(handle)
    # Declined: the stage's end is the pipeline's, and so is its report (for a parent team).
    assert result.status is RunStatus.MAX_STEPS
    assert result.needs_help is not None and result.needs_help.status == "max_steps"
    assert result.details["help"]["researcher"] == "alice chose not to run researcher again"


async def test_a_sub_teams_router_out_of_steps_reports_to_the_level_above(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    support = {"name": "support", "description": "the support desk", "pattern": "supervisor",
               "agents": [agent("desk_lead", "routes support work", max_steps=1),
                          agent("billing", "refunds")],
               "supervisor": {"router": "desk_lead", "workers": ["billing"]}}
    team = parse_team({"name": "org", "pattern": "hierarchical",
                       "agents": [agent("duty", "routes to teams")], "teams": {"support": support},
                       "hierarchical": {"router": "duty", "workers": ["support"]}})
    run_id, result = await run(client, settings, scripted, team, {
        "duty": [delegate("support", "Refund A1001?"),
                 {"content": "Support is on it.", "expect": {
                     "last_message_contains": "Tried: delegate_to_billing("}}],
        "desk_lead": [delegate("billing", "Refund A1001?")],
        "billing": [{"content": "Refund queued."}],
    }, "Refund A1001?")
    assert result.status is RunStatus.COMPLETED, result.reason
    [support_run] = result.children
    assert support_run.status is RunStatus.MAX_STEPS
    assert support_run.needs_help is not None
    assert "billing reports (completed): Refund queued." in support_run.needs_help.tried[0]
    scripted.assert_script_consumed(run_id)


async def test_a_stage_out_of_budget_reports_it_needs_more_budget(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = parse_team({
        "name": "line", "pattern": "pipeline",
        "agents": [agent("researcher", "researches", tools=["lookup_order"], max_steps=6),
                   agent("writer", "writes")],
        "pipeline": {"stages": ["researcher", "writer"]}, "budget": {"max_tokens": 600}})
    _, result = await run(client, settings, scripted, team, {"researcher": [LOOKUP] * 6},
                          "Write a note on A1001")
    assert result.status is RunStatus.BUDGET_EXHAUSTED
    report = result.needs_help  # the stage's, passed up by the pipeline
    assert report is not None and report.status == "budget_exhausted"
    assert report.missing.startswith("more budget (the next model call needs about")
    assert report.tried and all(t.startswith("lookup_order(") for t in report.tried)
    assert report.tokens == result.children[0].usage.total_tokens <= 600
