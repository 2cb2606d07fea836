"""Cheap routing, visible: a team's coordinators default to its ``coordinator_model``, lint warns
when a coordinator is priced above its workers, and ``baton cost`` reports a team's finished
runs by agent, model, tenant and version with the share spent on routing; cached tool calls show
their hit rate and what they saved in ``show`` and in the cost report. Real Temporal, the
scripted model over loopback HTTP, the real ``baton`` CLI.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from priced_tools import SUMMARY_COST_USD, SUMMARY_TOKENS
from temporalio.client import Client
from test_cli import baton as cli

from baton.client.api import BatonClient
from baton.lint import lint_team
from baton.loader import parse_team
from baton.rollout import team_digest
from baton.runs import ModelCallEvent, RunInput, RunStatus, ToolCallEvent
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import ModelProfile, TeamSpec

BIG = ModelProfile(model="big-model", price_input_per_mtok=30.0, price_output_per_mtok=60.0)
CHEAP = ModelProfile(model="small-model", price_input_per_mtok=1.0, price_output_per_mtok=2.0)
SCRIPT = {
    "router": [{"tool_calls": [{"name": "delegate_to_reader",
                                "arguments": {"task": "Summarise document D1"}}]},
               {"content": "D1: keys make retries safe."}],
    "reader": [{"tool_calls": [{"name": "summarise_document", "arguments": {"doc_id": "D1"}}]},
               {"content": "D1 says retries need idempotency keys."}]}


def desk(name: str, **team: object) -> TeamSpec:
    return parse_team({
        "name": name, "pattern": "supervisor", **team,
        "agents": [
            {"name": "router", "description": "routes a question to the reader and answers",
             "instructions": "Delegate, then answer.", "max_steps": 4},
            {"name": "reader", "description": "receives a document id and returns its summary",
             "instructions": "Summarise the document.", "tools": ["summarise_document"],
             "max_steps": 3}],
        "supervisor": {"router": "router", "workers": ["reader"]}})


@pytest.fixture
def settings(settings: BatonSettings) -> BatonSettings:
    return settings.model_copy(update={"profiles": {"default": BIG, "cheap": CHEAP}})


def env(client: Client, settings: BatonSettings) -> dict[str, str]:
    """The CLI against this test's server and worker, like a user's shell would set it."""
    return {"BATON_TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "BATON_TASK_QUEUE": settings.task_queue, "BATON_HOME": str(settings.home)}


def test_coordinators_use_the_team_coordinator_model_unless_they_name_one() -> None:
    team = desk("desk", coordinator_model="cheap")
    assert team.agent("router").model == "cheap" and team.agent("reader").model == "default"
    # What a run carries (JSON through Temporal) decodes to the same team.
    assert TeamSpec.model_validate_json(team.model_dump_json()) == team
    named = parse_team({**team.model_dump(exclude={"agents"}), "agents": [
        {**team.agent("router").model_dump(), "model": "default"},
        team.agent("reader").model_dump()]})
    assert named.agent("router").model == "default"  # an explicit profile wins


def test_lint_warns_when_a_coordinator_is_priced_above_its_workers() -> None:
    profiles = {"default": BIG.served(), "cheap": CHEAP.served()}
    costly = parse_team({**desk("desk").model_dump(exclude={"agents"}), "agents": [
        {**desk("desk").agent("router").model_dump(), "model": "default"},
        {**desk("desk").agent("reader").model_dump(), "model": "cheap"}]})
    [finding] = [f for f in lint_team(costly, profiles=profiles)
                 if f.code == "coordinator-priced-above-workers"]
    assert finding.level == "warning" and finding.location == "agents[0].model"
    assert "$90 per million tokens" in finding.message and "at most $3" in finding.message
    assert not [f for f in lint_team(desk("desk", coordinator_model="cheap"), profiles=profiles)
                if f.code == "coordinator-priced-above-workers"]
    assert not [f for f in lint_team(costly) if f.code == "coordinator-priced-above-workers"]


async def test_cost_report_routing_share_and_cache_savings(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    name = f"desk-{uuid.uuid4().hex[:8]}"
    team = desk(name, coordinator_model="cheap")
    baton = BatonClient(client, settings)
    since = datetime.now(UTC) - timedelta(minutes=1)
    run_ids = []
    for tenant in ("north", "north", "south"):  # the read cache is per tenant
        run_id = f"{name}-{uuid.uuid4().hex[:8]}"
        scripted.set_script(run_id, SCRIPT)
        await baton.start_input(RunInput(team=team, input="What does D1 say?", tenant=tenant),
                                run_id=run_id)
        assert (await baton.result(run_id)).status is RunStatus.COMPLETED
        run_ids.append(run_id)
    views = [await baton.show(r) for r in run_ids]
    calls = [e for v in views for n in v.walk() for e in n.events]
    router_calls = [e for e in calls if isinstance(e, ModelCallEvent) and e.agent == "router"]
    assert {(e.profile, e.model) for e in router_calls} == {("cheap", "small-model")}
    total = sum(v.totals.cost_usd for v in views)
    routing = sum(e.cost_usd for e in router_calls)
    # The second run of tenant north found the summary in the cache; its own show says so.
    [hit] = [e for e in calls if isinstance(e, ToolCallEvent) and e.cache_hit]
    assert hit.tool_tokens == SUMMARY_TOKENS and hit.tool_cost_usd == SUMMARY_COST_USD
    assert hit.original_ms is not None and hit.original_ms >= 50  # the summariser's own time
    [tool] = views[1].totals.per_tool
    assert (tool.tool, tool.calls, tool.cache_hits, tool.hit_rate) == (
        "summarise_document", 1, 1, 1.0)
    assert tool.saved_tokens == SUMMARY_TOKENS and tool.saved_usd == SUMMARY_COST_USD

    by_agent = await baton.cost_report(name, since=since, by="agent")
    assert by_agent.runs == 3 and by_agent.unread == []
    rows = {r.key: r for r in by_agent.rows}
    assert set(rows) == {"router", "reader"} and rows["router"].routing_share == 1.0
    assert rows["reader"].routing_cost_usd == 0 and rows["router"].runs == 3
    assert abs(by_agent.total.cost_usd - total) < 1e-6
    assert abs(by_agent.total.routing_share - routing / total) < 1e-6
    [cached] = by_agent.tools
    assert (cached.calls, cached.cache_hits, cached.saved_tokens) == (3, 1, SUMMARY_TOKENS)
    assert cached.tool_tokens == 2 * SUMMARY_TOKENS  # the two calls that ran spent theirs
    by_model = {r.key: r for r in (await baton.cost_report(name, since=since, by="model")).rows}
    assert by_model["small-model"].routing_share == 1.0
    assert by_model["big-model"].routing_share == 0.0
    by_tenant = {r.key: r.runs for r in
                 (await baton.cost_report(name, since=since, by="tenant")).rows}
    assert by_tenant == {"north": 2, "south": 1}
    [version] = (await baton.cost_report(name, since=since, by="version")).rows
    assert version.key == team_digest(team) and version.runs == 3

    shown = await cli("cost", "--team", name, "--since", "1h", "--by", "model",
                      env=env(client, settings))
    assert shown.returncode == 0, shown.stderr
    for text in ("routing share", "small-model", "100%", "read cache per tool",
                 "summarise_document", "33%"):
        assert text in shown.stdout, (text, shown.stdout)
    as_json = await cli("cost", "--team", name, "--since", "1h", "--json",
                        env=env(client, settings))
    assert json.loads(as_json.stdout)["total"]["runs"] == 3
    show = await cli("show", run_ids[1], env=env(client, settings))
    assert show.returncode == 0, show.stderr
    assert "per tool" in show.stdout and "100%" in show.stdout
    assert f"version {team_digest(team)}" in show.stdout
