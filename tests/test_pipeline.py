"""Pipeline pattern on real Temporal: stages feed each other, a failing stage is retried and
then ends the run with a typed status, resume skips finished stages, a pipeline as a
supervisor's worker, approvals and the exactly-once refund inside a stage, replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pattern_run_helpers import (
    REFUND,
    agent,
    approve_in_child,
    assert_parent,
    outbox,
    record_and_replay,
    refunder,
    run,
    start,
)
from temporalio.client import Client

from baton.client import run_result
from baton.loader import parse_team
from baton.runs import AgentStatus, RunInput, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec
from baton.workflows.pipeline import resume_input

TASK = "Write a note about the A1001 refund policy"
SUMMARY = {"type": "object", "additionalProperties": False, "required": ["title", "body"],
           "properties": {"title": {"type": "string"}, "body": {"type": "string"}}}
FAULT = {"fault": "401"}  # non-retryable provider error: the stage's child run ends FAILED


def line(**pipeline: Any) -> TeamSpec:
    return parse_team({
        "name": "line", "pattern": "pipeline",
        "agents": [agent("researcher"), agent("writer"),
                   agent("editor", output_schema=SUMMARY)],
        "pipeline": {"stages": ["researcher", "writer", "editor"], **pipeline},
    })


async def test_each_stage_feeds_the_next_and_the_tree_is_visible(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, line(), {
        "researcher": [{"content": "Refunds within 30 days."}],
        "writer": [{"content": "Draft: 30-day refunds.", "expect": {
            "last_message_contains": f"Task: {TASK}\n\nInput from researcher: Refunds within"}}],
        "editor": [{"json": {"title": "Refunds", "body": "30 days."},
                    "expect": {"last_message_contains": "Input from writer: Draft"}}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.structured == {"title": "Refunds", "body": "30 days."}
    assert result.details["completed_stages"] == ["researcher", "writer", "editor"]
    assert result.details["outputs"]["editor"] == '{"title": "Refunds", "body": "30 days."}'
    assert [c.member for c in result.children] == ["researcher", "writer", "editor"]
    assert result.usage.total_tokens == sum(c.usage.total_tokens for c in result.children) > 0
    scripted.assert_script_consumed(run_id)
    for child in result.children:
        await assert_parent(client, child.workflow_id, run_id, "AgentWorkflow")
    status = await client.get_workflow_handle(run_id).query("status", result_type=AgentStatus)
    assert (status.agent, status.step, status.max_steps) == ("pipeline", 3, 3)
    assert status.status is RunStatus.COMPLETED
    await record_and_replay(client, run_id, "pipeline")


async def test_a_failed_stage_is_retried_with_a_fresh_child(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, line(stage_retries=1), {
        "researcher": [{"content": "facts"}], "writer": [FAULT, {"content": "draft"}],
        "editor": [{"json": {"title": "t", "body": "b"}}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [(c.member, c.status) for c in result.children][1:3] == [
        ("writer", RunStatus.FAILED), ("writer", RunStatus.COMPLETED)]
    assert result.children[1].workflow_id != result.children[2].workflow_id
    assert result.details["attempts"] == {"researcher": 1, "writer": 2, "editor": 1}
    scripted.assert_script_consumed(run_id)


async def test_failing_past_retries_ends_typed_and_resume_skips_finished_stages(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = line(stage_retries=1)
    run_id, failed = await run(client, settings, scripted, team, {
        "researcher": [{"content": "Refunds within 30 days."}], "writer": [FAULT, FAULT]}, TASK)
    assert failed.status is RunStatus.FAILED
    assert failed.error_type == "stage_failed"
    assert "'writer'" in (failed.reason or "")
    assert f"baton resume {failed.run_id}" in (failed.reason or "")
    assert failed.details["failed_stage"] == "writer"
    assert failed.details["completed_stages"] == ["researcher"]
    assert failed.details["outputs"] == {"researcher": "Refunds within 30 days."}
    assert failed.output == "Refunds within 30 days."  # the best partial answer
    assert [c.member for c in failed.children] == ["researcher", "writer", "writer"]
    scripted.assert_script_consumed(run_id)

    # A new run resumes at the failed stage; the researcher is neither re-run nor called.
    again = resume_input(RunInput(team=team, input=TASK), failed)
    assert again.resume["from_stage"] == "writer"
    resumed_id, resumed = await run(client, settings, scripted, team, {
        "writer": [{"content": "Draft.", "expect": {
            "last_message_contains": "Input from researcher: Refunds within 30 days."}}],
        "editor": [{"json": {"title": "t", "body": "b"}}],
    }, TASK, resume=again.resume)
    assert resumed.status is RunStatus.COMPLETED, resumed.reason
    assert [c.member for c in resumed.children] == ["writer", "editor"]
    assert {c["agent"] for c in scripted.calls(resumed_id)} == {"writer", "editor"}
    assert resumed.details["completed_stages"] == ["researcher", "writer", "editor"]
    scripted.assert_script_consumed(resumed_id)


async def test_an_unusable_resume_payload_ends_typed(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    _, result = await run(client, settings, scripted, line(), {}, TASK,
                          resume={"from_stage": 2, "outputs": {}})
    assert result.status is RunStatus.FAILED
    assert result.error_type == "invalid_resume"
    assert "writer" in (result.reason or "") and not result.children


async def test_a_pipeline_as_a_supervisor_worker(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [agent("router", "routes requests")],
        "teams": {"drafting": {
            "name": "drafting", "description": "outlines then drafts documents",
            "pattern": "pipeline", "agents": [agent("outliner"), agent("drafter")],
            "pipeline": {"stages": ["outliner", "drafter"]}}},
        "supervisor": {"router": "router", "workers": ["drafting"]},
    })
    run_id, result = await run(client, settings, scripted, team, {
        "router": [{"tool_calls": [{"name": "delegate_to_drafting",
                                    "arguments": {"task": "Draft a refund note"}}]},
                   {"content": "Here is the note.",
                    "expect": {"last_message_contains": "drafting reports (completed): Note"}}],
        "outliner": [{"content": "1. policy 2. steps"}],
        "drafter": [{"content": "Note: refunds take 30 days."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    [child] = result.children
    assert (child.member, child.kind) == ("drafting", "team")
    await assert_parent(client, child.workflow_id, run_id, "PipelineWorkflow")
    pipeline = client.get_workflow_handle(child.workflow_id, result_type=RunResult)
    stages = (await run_result(pipeline)).children
    assert [s.member for s in stages] == ["outliner", "drafter"]
    for stage in stages:  # the grandchildren hang under the pipeline, not the supervisor
        await assert_parent(client, stage.workflow_id, child.workflow_id, "AgentWorkflow")
    scripted.assert_script_consumed(run_id)


async def test_approval_and_exactly_once_refund_inside_a_stage(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    team = parse_team({
        "name": "refunds", "pattern": "pipeline",
        "agents": [agent("triage"), refunder()],
        "pipeline": {"stages": ["triage", "refunder"]},
    })
    handle = await start(client, settings, scripted, team, {
        "triage": [{"content": "A1001 qualifies for 10.0"}],
        "refunder": [{"tool_calls": [REFUND]}, {"content": "Refunded."}],
    }, "Refund A1001")
    waiting = await approve_in_child(client, handle.id)
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert waiting == result.children[1].workflow_id
    assert outbox(tmp_path) == [("A1001", 10.0)]
    scripted.assert_script_consumed(handle.id)
