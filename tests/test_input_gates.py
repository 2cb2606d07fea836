"""Inputs held to a member's ``input_schema`` on real Temporal: a delegation, a transfer and a
pipeline stage's input that does not match goes back to the agent that produced it with the
problem named, a bounded number of times, then the run ends ``input_invalid``; lint compares a
stage's output schema with the next stage's input schema."""

from __future__ import annotations

import json
from typing import Any

from pattern_run_helpers import agent, child_events, record_and_replay, run
from temporalio.client import Client

from baton.client import BatonClient
from baton.client.cli._summary import summary
from baton.lint import lint_team
from baton.lint_schemas import schema_gaps
from baton.loader import parse_team
from baton.messages import UserMessage
from baton.runs import MessagesPage, PageRequest, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec

ORDER = {"type": "object", "additionalProperties": False, "required": ["order_id"],
         "properties": {"order_id": {"type": "string", "pattern": "^A[0-9]{4}$"}}}
NOT_JSON = "does not match its input_schema: not valid JSON"


async def task_of(client: Client, workflow_id: str) -> str:
    page = await client.get_workflow_handle(workflow_id).query(
        "messages", PageRequest(limit=100), result_type=MessagesPage)
    return [m.content for m in page.messages if isinstance(m, UserMessage)][-1]


def desk(**billing: Any) -> TeamSpec:
    return parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [agent("router", "routes requests"),
                   agent("billing", "refunds", input_schema=ORDER, **billing)],
        "supervisor": {"router": "router", "workers": ["billing"]},
    })


def delegate(task: Any, **step: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": "delegate_to_billing", "arguments": {"task": task}}], **step}


async def test_a_delegation_that_does_not_match_goes_back_to_the_router(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, desk(), {
        "router": [delegate("refund A1001", expect={"tools_include": ["delegate_to_billing"]}),
                   delegate({"order_id": "1001"}, expect={"last_message_contains": NOT_JSON}),
                   delegate({"order_id": "A1001"}, expect={
                       "last_message_contains": "at order_id: '1001' does not match"}),
                   {"content": "Refunded.", "expect": {
                       "last_message_contains": "billing reports (completed)"}}],
        "billing": [{"content": "Refund queued for A1001."}],
    }, "Refund A1001")
    assert result.status is RunStatus.COMPLETED, result.reason
    # The worker started once, on an input that matches: JSON text of the router's value.
    [child] = result.children
    assert json.loads(await task_of(client, child.workflow_id)) == {"order_id": "A1001"}
    scripted.assert_script_consumed(run_id)


async def test_a_router_that_cannot_fix_the_input_ends_input_invalid(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, desk(max_input_fix_attempts=1), {
        "router": [delegate("refund A1001"), delegate({"order": "A1001"})],
    }, "Refund A1001")
    assert result.status is RunStatus.INPUT_INVALID
    assert result.error_type == "input_invalid"
    assert "after 1 fix attempt(s)" in (result.reason or "")
    assert "('order' was unexpected)" in (result.reason or "")
    assert result.children == [] and await child_events(client, run_id) == []
    view = await BatonClient(client, settings).show(run_id)
    assert "It stopped because a member's input never had the format" in "\n".join(
        summary(view))


def handoff(**billing: Any) -> TeamSpec:
    return parse_team({
        "name": "desk", "pattern": "handoff",
        "agents": [agent("triage", "first contact"),
                   agent("billing", "refunds", input_schema=ORDER, **billing)],
        "handoff": {"agents": ["triage", "billing"]},
    })


def transfer(**arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": "transfer_to_billing",
                            "arguments": {"reason": "refund", **arguments}}]}


async def test_a_transfer_without_a_valid_input_goes_back_to_the_transferring_agent(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, handoff(), {
        "triage": [transfer(),
                   {**transfer(input={"order_id": "A1001"}), "expect": {
                       "last_message_contains": "The input for billing does not match"}}],
        "billing": [{"content": "Refund queued."}],
    }, "Refund A1001")
    assert result.status is RunStatus.COMPLETED, result.reason
    triage, billing = result.children
    assert triage.status is RunStatus.TRANSFERRED
    task = await task_of(client, billing.workflow_id)
    assert task.endswith('[Transferred from triage: refund]\nInput: {"order_id": "A1001"}')
    scripted.assert_script_consumed(run_id)


async def test_a_transfer_that_stays_invalid_ends_input_invalid(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    _, result = await run(client, settings, scripted, handoff(max_input_fix_attempts=0), {
        "triage": [transfer(input="A1001")],
    }, "Refund A1001")
    assert result.status is RunStatus.INPUT_INVALID
    assert [(c.member, c.status) for c in result.children] == [
        ("triage", RunStatus.INPUT_INVALID)]


def line(*, attempts: int = 2, first: dict[str, Any] | None = None) -> TeamSpec:
    return parse_team({
        "name": "line", "pattern": "pipeline",
        "agents": [agent("finder", "finds the order", **(first or {})),
                   agent("refunder", "refunds it", input_schema=ORDER,
                         max_input_fix_attempts=attempts)],
        "pipeline": {"stages": ["finder", "refunder"]},
    })


async def test_a_stage_input_that_does_not_match_reruns_the_previous_stage(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, line(), {
        "finder": [{"content": "It is A1001."},
                   {"json": {"order_id": "A1001"}, "expect": {
                       "last_message_contains": "Your previous output was: It is A1001."}}],
        "refunder": [{"content": "Refunded.", "expect": {
            "last_message_contains": 'Input from finder: {"order_id": "A1001"}'}}],
    }, "Refund the order from yesterday")
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [c.member for c in result.children] == ["finder", "finder", "refunder"]
    assert result.details["attempts"] == {"finder": 2, "refunder": 1}
    scripted.assert_script_consumed(run_id)
    await record_and_replay(client, run_id, "pipeline_input_fix")  # deterministic


async def test_a_stage_input_that_stays_invalid_ends_input_invalid(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    _, result = await run(client, settings, scripted, line(attempts=1), {
        "finder": [{"content": "It is A1001."}, {"content": "Still A1001."}],
    }, "Refund the order from yesterday")
    assert result.status is RunStatus.INPUT_INVALID
    assert result.details["failed_stage"] == "finder"  # baton resume re-runs the producer
    assert [c.member for c in result.children] == ["finder", "finder"]


async def test_a_first_stage_refuses_a_run_input_that_does_not_match(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = parse_team({"name": "line", "pattern": "pipeline",
                       "agents": [agent("refunder", "refunds it", input_schema=ORDER),
                                  agent("writer", "writes")],
                       "pipeline": {"stages": ["refunder", "writer"]}})
    _, result = await run(client, settings, scripted, team, {}, "Refund A1001")
    assert result.status is RunStatus.INPUT_INVALID
    assert "the run's input does not match refunder's input_schema" in (result.reason or "")
    assert result.children == []


# -- lint ---------------------------------------------------------------------------------------

def test_lint_warns_when_a_stage_output_cannot_satisfy_the_next_input() -> None:
    loose = {"type": "object", "properties": {"order_id": {"type": "integer"},
                                              "note": {"type": "string"}}}
    for output_schema, expected in (
            (None, "its output is free text"),
            (loose, "(root).order_id: the input requires it; the output may leave it out")):
        findings = lint_team(line(first={"output_schema": output_schema} if output_schema
                                  else {}))
        [found] = [f for f in findings if f.code == "stage-schema-mismatch"]
        assert found.level == "warning" and found.location == "pipeline.stages[1]"
        assert expected in found.message and found.fix
    fitting = {**ORDER, "properties": {"order_id": {"type": "string"}}}
    assert not [f for f in lint_team(line(first={"output_schema": fitting}))
                if f.code == "stage-schema-mismatch"]


def test_schema_gaps_compare_types_keys_enums_and_nesting() -> None:
    wanted = {"type": "object", "required": ["a", "b"], "additionalProperties": False,
              "properties": {"a": {"type": "integer"}, "b": {"enum": ["x", "y"]},
                             "c": {"type": "array", "items": {"type": "string"}}}}
    made = {"type": "object", "required": ["a"],
            "properties": {"a": {"type": "number"}, "b": {"enum": ["x", "z"]},
                           "c": {"type": "array", "items": {"type": "integer"}},
                           "d": {"type": "string"}}}
    assert schema_gaps(made, wanted) == [
        "(root).b: the input requires it; the output may leave it out",
        "(root).d: the output may have it; the input does not take it",
        "(root).a: the output may be number, which the input does not take",
        "(root).b: the output may be ['z'], which the input does not take",
        "(root).c[]: the output is integer; the input takes string",
    ]
    assert schema_gaps({"type": "integer"}, {"type": "number"}) == []
    assert schema_gaps({"anyOf": [{"type": "string"}]}, {"type": "object"}) == []  # unknown


def test_lint_warns_about_sees_and_input_schemas_nothing_applies() -> None:
    team = parse_team({"name": "t", "pattern": "supervisor",
                       "agents": [agent("router", "routes", sees="full"),
                                  agent("billing", "refunds", input_schema=ORDER,
                                        sees="summary")],
                       "supervisor": {"router": "router", "workers": ["billing"]}})
    found = {(f.code, f.location) for f in lint_team(team)}
    assert ("sees-ignored", "agents[0].sees") in found
    assert not {code for code, where in found if where.startswith("agents[1].")} & {
        "sees-ignored", "input-schema-ignored"}
