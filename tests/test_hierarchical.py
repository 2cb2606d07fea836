"""Hierarchical pattern on real Temporal: a top router over supervised teams, the child tree two
levels down, budget slices shrinking per level, the depth limit as a typed status, spec
validation of workers and depth, approvals and the exactly-once refund deep in the tree, replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pattern_run_helpers import (
    REFUND,
    agent,
    approve_in_child,
    assert_parent,
    child_events,
    child_input,
    outbox,
    record_and_replay,
    refunder,
    run,
    start,
)
from temporalio.client import Client

from baton.client import run_result
from baton.errors import SpecError
from baton.loader import parse_team
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec

TASK = "Customer wants a refund for A1001 and help with pairing"
BUDGET = {"max_tokens": 100_000, "max_cost_usd": 1.0, "max_wall_clock_s": 600.0}


def supervised(name: str, lead: str, worker: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "description": f"the {name} team", "pattern": "supervisor",
            "agents": [agent(lead, "routes"), worker],
            "supervisor": {"router": lead, "workers": [worker["name"]]}}


def company(*, billing: dict[str, Any] | None = None, **hierarchical: Any) -> dict[str, Any]:
    return {
        "name": "company", "pattern": "hierarchical", "budget": BUDGET,
        "agents": [agent("ceo", "routes to teams")],
        "teams": {"support": supervised("support", "support_lead", billing or agent("billing")),
                  "eng": supervised("eng", "eng_lead", agent("dev"))},
        "hierarchical": {"router": "ceo", "workers": ["support", "eng"], **hierarchical},
    }


def delegate(worker: str, task: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": f"delegate_to_{worker}", "arguments": {"task": task}}]}


async def test_top_router_delegates_to_supervised_teams(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, parse_team(company()), {
        "ceo": [delegate("support", "Refund A1001?"), delegate("eng", "Fix pairing"),
                {"content": "Refund approved; reset pairing.",
                 "expect": {"last_message_contains": "eng reports (completed): Reset"}}],
        "support_lead": [delegate("billing", "Check A1001"), {"content": "Refundable."}],
        "billing": [{"content": "A1001 is refundable."}],
        "eng_lead": [delegate("dev", "Pairing fix"), {"content": "Reset the pairing."}],
        "dev": [{"content": "Hold the button 10 s."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [(c.member, c.kind) for c in result.children] == [("support", "team"), ("eng", "team")]
    assert result.details["depth"] == 2 and result.details["rounds"] == 2
    for team in result.children:  # the tree: company → team supervisors → agents
        await assert_parent(client, team.workflow_id, run_id, "SupervisorWorkflow")
        [leaf] = [e for e in await child_events(client, team.workflow_id)
                  if e.action == "finished"]
        await assert_parent(client, leaf.workflow_id, team.workflow_id, "AgentWorkflow")
    scripted.assert_script_consumed(run_id)
    await record_and_replay(client, run_id, "hierarchical")


async def test_budget_is_split_per_level(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # Three levels: company (hierarchical, share 0.5) → division (hierarchical, share 0.5)
    # → support (supervisor) → billing. Each level down gets at most half of what is left.
    division = {"name": "division", "description": "the division", "pattern": "hierarchical",
                "agents": [agent("vp", "routes")],
                "teams": {"support": supervised("support", "support_lead", agent("billing"))},
                "hierarchical": {"router": "vp", "workers": ["support"], "budget_share": 0.5}}
    team = parse_team({
        "name": "company", "pattern": "hierarchical", "budget": BUDGET,
        "agents": [agent("ceo", "routes to divisions")], "teams": {"division": division},
        "hierarchical": {"router": "ceo", "workers": ["division"], "max_depth": 3},
    })
    run_id, result = await run(client, settings, scripted, team, {
        "ceo": [delegate("division", "Handle A1001"), {"content": "Done."}],
        "vp": [delegate("support", "Refund A1001?"), {"content": "Handled."}],
        "support_lead": [delegate("billing", "Check A1001"), {"content": "Refundable."}],
        "billing": [{"content": "Yes."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    middle = await child_input(client, result.children[0].workflow_id)
    [support_run] = [e for e in await child_events(client, result.children[0].workflow_id)
                     if e.action == "finished"]
    bottom = await child_input(client, support_run.workflow_id)
    top = team.budget
    assert middle.team.budget.max_tokens is not None and top.max_tokens is not None
    assert bottom.team.budget.max_tokens is not None
    # Half of what the top had left after the ceo's first model call, then half of that.
    assert top.max_tokens * 0.45 < middle.team.budget.max_tokens <= top.max_tokens * 0.5
    assert middle.team.budget.max_tokens * 0.45 < bottom.team.budget.max_tokens <= (
        middle.team.budget.max_tokens * 0.5)
    assert middle.team.budget.max_cost_usd == pytest.approx(0.5)  # the scripted model is free
    assert bottom.team.budget.max_cost_usd == pytest.approx(0.25)
    assert middle.team.budget.max_wall_clock_s is not None
    assert middle.team.budget.max_wall_clock_s <= 300.0
    scripted.assert_script_consumed(run_id)


async def test_depth_limit_ends_with_a_typed_status(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    document = company(max_depth=1)
    with pytest.raises(SpecError, match="max_depth=1"):  # the loader refuses such a YAML ...
        parse_team(document)
    # ... a spec built in code reaches the workflow, which ends at once without a model call.
    team = TeamSpec.model_validate(document)
    run_id, result = await run(client, settings, scripted, team, {}, TASK)
    assert result.status is RunStatus.FAILED
    assert result.error_type == "depth_exceeded"
    assert "2 levels deep" in (result.reason or "") and "max_depth=1" in (result.reason or "")
    assert result.children == [] and scripted.calls(run_id) == []


def test_workers_must_be_supervised_teams() -> None:
    as_agent = company()
    as_agent["agents"].append(agent("helper"))
    as_agent["hierarchical"]["workers"] = ["support", "helper"]
    with pytest.raises(SpecError, match="must be a sub-team with its own supervisor"):
        parse_team(as_agent)
    as_pipeline = company()
    as_pipeline["teams"]["eng"] = {"name": "eng", "pattern": "pipeline",
                                   "agents": [agent("dev")], "pipeline": {"stages": ["dev"]}}
    with pytest.raises(SpecError, match="is a 'pipeline' team"):
        parse_team(as_pipeline)


async def test_approval_and_exactly_once_refund_two_levels_down(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    team = parse_team(company(billing=refunder("billing")))
    handle = await start(client, settings, scripted, team, {
        "ceo": [delegate("support", "Refund A1001"), {"content": "Refunded."}],
        "support_lead": [delegate("billing", "Refund A1001 10.0"), {"content": "Done."}],
        "billing": [{"tool_calls": [REFUND]}, {"content": "Refunded 10.0."}],
    }, "Refund A1001")
    waiting = await approve_in_child(client, handle.id)
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert waiting.startswith(result.children[0].workflow_id + ".billing.")
    assert outbox(tmp_path) == [("A1001", 10.0)]
    scripted.assert_script_consumed(handle.id)
