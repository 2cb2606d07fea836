"""Blackboard pattern on real Temporal: rule and model scheduling, typed writes (undeclared keys
and wrong types refused), the turn bound, no applicable rule, a failing agent, a team as a
member, the child-workflow tree, replay, and an approval inside a member."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pattern_run_helpers import (
    REFUND,
    agent,
    approve_in_child,
    assert_parent,
    child_input,
    outbox,
    record_and_replay,
    run,
    start,
)
from temporalio.client import Client

from baton.client import run_result
from baton.loader import parse_team
from baton.runs import PageRequest, RunLogPage, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec

TASK = "Order A1001 arrived broken. Decide what to offer the customer."
KEYS = {"facts": {"type": "object", "description": "what we know about the order"},
        "draft": {"type": "string"}, "score": {"type": "number"},
        "answer": {"type": "string", "description": "the reply to the customer"}}
RULES = [{"agent": "researcher", "fills": ["facts"]},
         {"agent": "writer", "needs": ["facts"], "fills": ["draft", "score"]},
         {"agent": "editor", "needs": ["draft", "score"], "fills": ["answer"]}]
FACTS = {"order": "A1001", "damaged": True}


def board(agents: list[dict[str, Any]] | None = None, teams: dict[str, Any] | None = None,
          **section: Any) -> TeamSpec:
    return parse_team({
        "name": "board", "pattern": "blackboard",
        "agents": agents or [agent("researcher"), agent("writer"), agent("editor"),
                             agent("planner", "decides who acts next")],
        "teams": teams or {},
        "blackboard": {"keys": KEYS, "goal": "answer", "rules": RULES, **section},
    })


def write(value: dict[str, Any], expect: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"json": value}
    return {**step, "expect": {"last_message_contains": expect}} if expect else step


HAPPY = {
    "researcher": [write({"facts": FACTS})],
    "writer": [write({"draft": "Offer a refund.", "score": 0.8},
                     expect='"facts": {"damaged": true, "order": "A1001"}')],
    "editor": [write({"answer": "We will refund A1001."})],
}


async def test_rules_fill_the_board_until_the_goal(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, board(), HAPPY, TASK)
    assert result.status is RunStatus.COMPLETED
    assert result.output == "We will refund A1001."
    assert result.details["board"] == {"facts": FACTS, "draft": "Offer a refund.", "score": 0.8,
                                       "answer": "We will refund A1001."}
    assert result.details["writes"] == [
        {"agent": "researcher", "key": "facts", "turn": 1},
        {"agent": "writer", "key": "draft", "turn": 2},
        {"agent": "writer", "key": "score", "turn": 2},
        {"agent": "editor", "key": "answer", "turn": 3}]
    assert result.details["refused"] == []
    # Each acting agent got an output schema of exactly the keys it may fill.
    writer = result.children[1]
    schema = (await child_input(client, writer.workflow_id)).team.agent("writer").output_schema
    assert schema is not None
    assert schema["additionalProperties"] is False
    assert schema["properties"] == {"draft": {"type": "string"}, "score": {"type": "number"}}
    for child in result.children:
        await assert_parent(client, child.workflow_id, run_id, "AgentWorkflow")
    scripted.assert_script_consumed(run_id)


async def test_undeclared_keys_and_wrong_types_are_refused(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    agents = [agent("researcher"), agent("writer", max_output_fix_attempts=0), agent("editor")]
    run_id, result = await run(client, settings, scripted, board(agents=agents), {
        # The agent loop refuses the undeclared key by schema and asks for a fix.
        "researcher": [write({"facts": FACTS, "bogus": 1}),
                       write({"facts": FACTS}, expect="does not match the required JSON schema")],
        # No fix attempts left: the invalid answer reaches the workflow, which writes the valid
        # key and refuses the rest, key by key; the writer's rule then runs again for the score.
        "writer": [write({"draft": "Refund.", "notes": "x", "score": "high"}),
                   write({"score": 0.5})],
        "editor": [write({"answer": "Refund."})],
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    refused = [(r["agent"], r["key"], r["turn"]) for r in result.details["refused"]]
    assert refused == [("writer", "notes", 2), ("writer", "score", 2)]
    assert "undeclared key" in result.details["refused"][0]["reason"]
    assert "not a number" in result.details["refused"][1]["reason"]
    assert [(w["agent"], w["key"]) for w in result.details["writes"]] == [
        ("researcher", "facts"), ("writer", "draft"), ("writer", "score"), ("editor", "answer")]
    assert [c.status for c in result.children if c.member == "writer"] == [
        RunStatus.OUTPUT_INVALID, RunStatus.COMPLETED]
    page = await client.get_workflow_handle(result.children[0].workflow_id).query(
        "run_log", PageRequest(limit=100), result_type=RunLogPage)
    assert [e.kind for e in page.events].count("output_invalid") == 1
    scripted.assert_script_consumed(run_id)


async def test_max_turns_ends_with_max_rounds_and_the_partial_board(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, board(max_turns=2),
                               {k: v for k, v in HAPPY.items() if k != "editor"}, TASK)
    assert result.status is RunStatus.MAX_ROUNDS
    assert "max_turns=2" in (result.reason or "")
    assert set(result.details["board"]) == {"facts", "draft", "score"}
    assert result.structured == result.details["board"]
    scripted.assert_script_consumed(run_id)


async def test_no_applicable_rule_is_a_typed_end(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    rules = [RULES[0], RULES[2]]  # nobody fills draft or score
    run_id, result = await run(client, settings, scripted, board(rules=rules),
                               {"researcher": [write({"facts": FACTS})]}, TASK)
    assert result.status is RunStatus.STALLED
    assert result.error_type == "no_applicable_rule"
    assert result.details["board"] == {"facts": FACTS}
    scripted.assert_script_consumed(run_id)


async def test_a_failing_agent_ends_the_run_with_the_partial_board(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, board(),
                               {"researcher": [write({"facts": FACTS})], "writer": [{"fault": "401"}]}, TASK)
    assert result.status is RunStatus.FAILED
    assert (result.reason or "").startswith("writer ended failed:")
    assert result.details["board"] == {"facts": FACTS}
    assert result.output == '{"facts": {"damaged": true, "order": "A1001"}}'
    scripted.assert_script_consumed(run_id)


async def test_the_model_scheduler_picks_who_acts(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = board(scheduler="model", scheduler_agent="planner", rules=[])
    run_id, result = await run(client, settings, scripted, team, {
        "planner": [write({"next": "researcher"}), write({"next": "editor"}, expect='"order"')],
        "researcher": [write({"facts": FACTS})],
        "editor": [write({"draft": "Refund.", "answer": "Refund."})],  # any key under 'model'
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    assert result.output == "Refund."
    assert [c.member for c in result.children] == ["planner", "researcher", "planner", "editor"]
    scripted.assert_script_consumed(run_id)


async def test_a_scheduler_giving_up_early_is_a_typed_end(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = board(scheduler="model", scheduler_agent="planner", rules=[])
    run_id, result = await run(client, settings, scripted, team,
                               {"planner": [write({"next": "done"})]}, TASK)
    assert result.status is RunStatus.STALLED
    assert result.error_type == "scheduler_gave_up"
    scripted.assert_script_consumed(run_id)


async def test_a_team_can_be_a_member(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    lab = {"name": "lab", "description": "researchers", "agents": [agent("analyst")]}
    rules = [{"agent": "lab", "fills": ["facts"]}, *RULES[1:]]
    run_id, result = await run(client, settings, scripted, board(rules=rules, teams={"lab": lab}),
                               {"analyst": [{"content": json.dumps({"facts": FACTS})}],
                                **{k: v for k, v in HAPPY.items() if k != "researcher"}}, TASK)
    assert result.status is RunStatus.COMPLETED
    assert result.children[0].kind == "team"
    await assert_parent(client, result.children[0].workflow_id, run_id, "AgentWorkflow")
    assert result.details["writes"][0] == {"agent": "lab", "key": "facts", "turn": 1}
    scripted.assert_script_consumed(run_id)


async def test_recorded_blackboard_history_replays(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, board(), HAPPY, TASK)
    assert result.status is RunStatus.COMPLETED
    await record_and_replay(client, run_id, "blackboard")


async def test_approval_gate_and_ledger_inside_a_member(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    agents = [agent("researcher", tools=["issue_refund"],
                    approvals={"issue_refund": {"mode": "always"}}),
              agent("writer"), agent("editor")]
    handle = await start(client, settings, scripted, board(agents=agents), {
        **HAPPY, "researcher": [{"tool_calls": [REFUND]},
                                write({"facts": {"refunded": 10.0}}, expect="refund_id")],
        "writer": [write({"draft": "Refunded.", "score": 1})]}, TASK)
    child_id = await approve_in_child(client, handle.id)
    assert child_id == f"{handle.id}.researcher.1"
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED
    assert outbox(tmp_path) == [("A1001", 10.0)]
    scripted.assert_script_consumed(handle.id)
