"""Debate pattern on real Temporal: rounds and consensus, the round bound, a failing debater, a
team as a debater, the child-workflow tree, replay, and an approval inside a debater."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pattern_run_helpers import (
    REFUND,
    approve_in_child,
    child_events,
    outbox,
    record_and_replay,
    run,
    start,
)
from temporalio.client import Client

from baton.client import run_result
from baton.loader import parse_team
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec
from baton.workflows.debate import consensus, stance_of

TASK = "Order A1001 arrived broken; what should we do?"
AGENTS = [
    {"name": "optimist", "description": "argues for the customer",
     "instructions": "Argue your position."},
    {"name": "skeptic", "description": "argues for the shop", "instructions": "Argue."},
    {"name": "realist", "description": "argues from policy", "instructions": "Argue."},
    {"name": "judge", "description": "decides", "instructions": "Decide."},
]


def panel(debaters: tuple[str, ...] = ("optimist", "skeptic"), agents: list[dict[str, Any]]
          | None = None, teams: dict[str, Any] | None = None, **debate: Any) -> TeamSpec:
    return parse_team({
        "name": "panel", "pattern": "debate",
        "agents": agents or AGENTS, "teams": teams or {},
        "debate": {"debaters": list(debaters), "judge": "judge", **debate},
    })


def say(stance: str, expect: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"content": f"POSITION: {stance}\nBecause reasons."}
    if expect:
        step["expect"] = {"last_message_contains": expect}
    return step


def test_stances_are_compared_normalised() -> None:
    assert stance_of("Intro.\n**Position:** Refund  now!\nwhy") == "Refund  now!"
    assert stance_of("no stance line") is None
    three = {"a": "Refund now", "b": "refund, now.", "c": "repair"}
    assert consensus(three, "majority") == "refund now"
    assert consensus(three, "unanimous") is None
    assert consensus({"a": "x", "b": "x"}, "none") is None
    assert consensus({"a": "x"}, "unanimous") is None  # one voice is not a consensus
    assert consensus({"a": "x", "b": None}, "majority") is None  # 1 of 2 is not a majority


async def test_debaters_converge_and_the_judge_decides(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, panel(), {
        "optimist": [say("full refund"), say("Full refund.", expect='"source":"skeptic"')],
        "skeptic": [say("repair first"), say("full refund", expect='"position":"full refund"')],
        "judge": [{"content": "Refund A1001 in full.",
                   "expect": {"last_message_contains": "give the final answer"}}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    assert result.output == "Refund A1001 in full."
    assert "unanimous consensus in round 2: 'full refund'" in (result.reason or "")
    assert result.details["consensus"] is True
    assert result.details["rounds"] == [
        {"round": 1, "positions": {"optimist": "full refund", "skeptic": "repair first"},
         "failed": {}},
        {"round": 2, "positions": {"optimist": "Full refund.", "skeptic": "full refund"},
         "failed": {}},
    ]
    # Debaters of one round run concurrently: records come in the order the children finished.
    assert sorted(c.member for c in result.children) == [
        "judge", "optimist", "optimist", "skeptic", "skeptic"]
    scripted.assert_script_consumed(run_id)
    # Every round is in the run log (step = round), and the tree is visible in Temporal.
    finished = [e for e in await child_events(client, run_id) if e.action == "finished"]
    assert sorted((e.step, e.member) for e in finished) == [
        (1, "optimist"), (1, "skeptic"), (2, "optimist"), (2, "skeptic"), (3, "judge")]
    for child in result.children:
        description = await client.get_workflow_handle(child.workflow_id).describe()
        assert description.parent_id == run_id
        assert description.workflow_type == "AgentWorkflow"


async def test_no_consensus_by_max_rounds_is_visible_and_the_judge_decides(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, panel(max_rounds=2), {
        "optimist": [say("refund"), say("refund")],
        "skeptic": [say("repair"), say("repair")],
        "judge": [{"content": "Repair, then refund if it fails.",
                   "expect": {"last_message_contains": "Round 2: optimist: refund; skeptic"}}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    assert result.reason == "no consensus after max_rounds=2; the judge decided"
    assert result.details["consensus"] is False
    assert len(result.details["rounds"]) == 2
    scripted.assert_script_consumed(run_id)


async def test_a_failing_debater_drops_out_and_the_judge_is_told(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = panel(("optimist", "skeptic", "realist"), consensus="majority", max_rounds=3)
    run_id, result = await run(client, settings, scripted, team, {
        "optimist": [say("refund"), say("refund")],
        "skeptic": [{"fault": "401"}],
        "realist": [say("repair"), say("refund", expect='"source":"optimist"')],
        "judge": [{"content": "Refund.", "expect": {"last_message_contains": "skeptic: round 1"}}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    assert result.details["rounds"][0]["failed"] == {
        "skeptic": result.details["failed"]["skeptic"].removeprefix("round 1: ")}
    assert "[failed]" in result.details["failed"]["skeptic"]
    assert result.details["rounds"][1]["positions"] == {"optimist": "refund", "realist": "refund"}
    assert "majority consensus in round 2" in (result.reason or "")
    assert [c.status for c in result.children if c.member == "skeptic"] == [RunStatus.FAILED]
    scripted.assert_script_consumed(run_id)


async def test_a_team_can_be_a_debater(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    experts = {"name": "experts", "description": "a supervised panel of experts",
               "pattern": "supervisor",
               "agents": [{"name": "lead", "description": "leads the experts",
                           "instructions": "Ask the engineer, then state a position."},
                          {"name": "engineer", "description": "knows the hardware",
                           "instructions": "Assess."}],
               "supervisor": {"router": "lead", "workers": ["engineer"]}}
    team = panel(("optimist", "experts"), teams={"experts": experts}, max_rounds=1)
    run_id, result = await run(client, settings, scripted, team, {
        "optimist": [say("refund")],
        "lead": [{"tool_calls": [{"name": "delegate_to_engineer",
                                  "arguments": {"task": "Is the damage repairable?"}}]},
                 say("refund", expect="engineer reports")],
        "engineer": [{"content": "Not repairable."}],
        "judge": [{"content": "Refund."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    assert result.details["consensus"] is True
    experts_record = next(c for c in result.children if c.member == "experts")
    assert experts_record.kind == "team"
    described = await client.get_workflow_handle(experts_record.workflow_id).describe()
    assert described.parent_id == run_id
    assert described.workflow_type == "SupervisorWorkflow"
    grandchild = await client.get_workflow_handle(
        f"{experts_record.workflow_id}.engineer.1").describe()
    assert grandchild.parent_id == experts_record.workflow_id
    scripted.assert_script_consumed(run_id)


async def test_recorded_debate_history_replays(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, panel(max_rounds=2), {
        "optimist": [say("refund"), say("refund")], "skeptic": [say("repair"), say("refund")],
        "judge": [{"content": "Refund."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED
    await record_and_replay(client, run_id, "debate")


async def test_approval_gate_and_ledger_inside_a_debater(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    agents: list[dict[str, Any]] = [dict(AGENTS[0], tools=["issue_refund"],
                   approvals={"issue_refund": {"mode": "always", "approvers": ["alice"]}}),
              *AGENTS[1:]]
    handle = await start(client, settings, scripted, panel(agents=agents, max_rounds=1), {
        "optimist": [{"tool_calls": [REFUND]}, say("refunded", expect="refund_id")],
        "skeptic": [say("refunded")],
        "judge": [{"content": "Done: refunded."}],
    }, TASK)
    child_id = await approve_in_child(client, handle.id)
    assert child_id.startswith(f"{handle.id}.optimist.")
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED
    assert outbox(tmp_path) == [("A1001", 10.0)]
    scripted.assert_script_consumed(handle.id)
