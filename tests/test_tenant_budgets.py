"""Tenant budgets hold across runs: the operator's per-day limits, enforced by the tenant's
budget authority (a workflow) for every run and member of the tenant, on the real Temporal dev
server with the scripted model over loopback HTTP.

The stated worst case is what a provider counts beyond Baton's prompt estimate, per call in
flight; the scripted model counts four bytes a token against the three Baton assumes, so here
the bound is zero and a tenant never spends past its cap.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from pattern_run_helpers import record_and_replay
from temporalio.client import Client
from test_cli import baton as cli

from baton.budgets import PeriodLimit, TenantBudget, TenantBudgetReport, tenant_budget_workflow_id
from baton.client import run_result
from baton.client.api import BatonClient
from baton.loader import parse_team
from baton.runs import ModelCallEvent, RunInput, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import ModelProfile, TeamSpec
from baton.telemetry import configure_logging
from baton.workflows import WORKFLOW_TYPES

STEPS = 5  # lookups before the answer: a run that needs more than a small cap pays for


def clerk_team(name: str = "clerk-desk") -> TeamSpec:
    return parse_team({"name": name, "agents": [{
        "name": "clerk", "description": "looks orders up and answers about them",
        "instructions": "Look the order up, then answer.", "tools": ["lookup_order"],
        "max_steps": STEPS + 2}], "budget": {"max_tokens": 100_000, "max_cost_usd": None}})


def clerk_script(lookups: int = 1) -> dict[str, list[dict[str, Any]]]:
    look = {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A1001"}}]}
    return {"clerk": [*([look] * lookups), {"content": "Order A1001 has shipped."}]}


def tenant_name() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}"  # one authority per test: the namespace is shared


def budgeted(settings: BatonSettings, tenant: str, budget: TenantBudget) -> BatonSettings:
    return settings.model_copy(update={"tenant_budgets": {tenant: budget}})


async def start(client: Client, settings: BatonSettings, scripted: ScriptedServer,
                team: TeamSpec, tenant: str, *, lookups: int = 1) -> str:
    run_id = f"{team.name}-{uuid.uuid4().hex[:10]}"
    scripted.set_script(run_id, clerk_script(lookups))
    await client.start_workflow(WORKFLOW_TYPES[team.pattern],
                                RunInput(team=team, input="Where is A1001?", tenant=tenant),
                                id=run_id, task_queue=settings.task_queue)
    return run_id


async def result(client: Client, run_id: str) -> RunResult:
    return await run_result(client.get_workflow_handle(run_id, result_type=RunResult))


async def authority(client: Client, tenant: str) -> TenantBudgetReport:
    report: TenantBudgetReport = await client.get_workflow_handle(
        tenant_budget_workflow_id(tenant)).query("report", result_type=TenantBudgetReport)
    return report


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """structlog JSON into a buffer (the worker's activity lines), restored afterwards."""
    root = logging.getLogger()
    handlers, level, config = list(root.handlers), root.level, structlog.get_config()
    buffer = io.StringIO()
    configure_logging("json", "info", stream=buffer)
    yield buffer
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


PRICED = ModelProfile(price_input_per_mtok=30.0, price_output_per_mtok=60.0)
CAPS = {"3000-tokens": PeriodLimit(max_tokens=3_000),
        "9-cents": PeriodLimit(max_cost_usd=0.09)}


@pytest.mark.parametrize("cap", list(CAPS))
async def test_twenty_concurrent_runs_never_pass_the_tenant_cap(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, cap: str) -> None:
    from baton.worker import worker_resources

    tenant, limit = tenant_name(), CAPS[cap]
    settings = budgeted(settings, tenant, TenantBudget(day=limit)).model_copy(
        update={"profiles": {"default": PRICED}})
    team = clerk_team()
    async with worker_resources(client, settings) as worker, worker:
        run_ids = await asyncio.gather(*(start(client, settings, scripted, team, tenant)
                                         for _ in range(20)))
        results = await asyncio.gather(*(result(client, r) for r in run_ids))
        report = await authority(client, tenant)
    spent_tokens = sum(r.usage.total_tokens for r in results)
    spent_usd = sum(r.cost_usd for r in results)
    statuses = [r.status for r in results]
    assert set(statuses) <= {RunStatus.COMPLETED, RunStatus.TENANT_BUDGET_EXHAUSTED}, statuses
    assert RunStatus.COMPLETED in statuses
    refused = [r for r in results if r.status is RunStatus.TENANT_BUDGET_EXHAUSTED]
    # Most of the twenty could not be paid for; some of them never made a model call at all.
    assert len(refused) >= 10, statuses
    assert any(r.steps == 1 and r.usage.total_tokens == 0 for r in refused)
    assert all("tenant" in (r.reason or "") and r.error_type == "tenant_budget_exhausted"
               for r in refused)
    [day] = report.periods
    # The bound: the cap itself (stated overshoot with the scripted model: zero).
    if limit.max_tokens is not None:
        assert spent_tokens <= limit.max_tokens, spent_tokens
    if limit.max_cost_usd is not None:
        assert spent_usd <= limit.max_cost_usd + 1e-9, spent_usd
    # The authority's book agrees with what the runs report, and nothing is left held.
    assert day.spent_tokens == spent_tokens
    assert abs(day.spent_usd - spent_usd) < 1e-9
    assert report.open_reservations == 0 and day.reserved_tokens == 0
    assert report.refused["day"] >= len(refused)


async def test_a_run_that_runs_out_midway_keeps_its_partial_results(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = clerk_team()
    # What a first call costs: measured on a tenant without a budget.
    calibration = await start(client, settings, scripted, team, "calibration", lookups=STEPS)
    done = await result(client, calibration)
    assert done.status is RunStatus.COMPLETED
    first = next(e for e in (await BatonClient(client, settings).run_log(calibration))
                 if isinstance(e, ModelCallEvent))
    cap = int(first.usage.input_tokens * 2.5)  # room for a call or two of the six
    tenant = tenant_name()
    from baton.worker import worker_resources

    capped = budgeted(settings, tenant, TenantBudget(day=PeriodLimit(max_tokens=cap)))
    capped = capped.model_copy(update={"task_queue": f"{settings.task_queue}-capped"})
    async with worker_resources(client, capped) as running, running:
        run_id = await start(client, capped, scripted, team, tenant, lookups=STEPS)
        ended = await result(client, run_id)
        report = await authority(client, tenant)
    assert ended.status is RunStatus.TENANT_BUDGET_EXHAUSTED, (ended.status, ended.reason)
    assert 1 <= ended.steps <= STEPS, ended.steps  # it had started working
    assert ended.usage.total_tokens > 0
    assert ended.output and "lookup_order" in ended.output  # what it had found so far
    assert f"tenant {tenant!r} has used its day budget" in (ended.reason or "")
    assert report.periods[0].spent_tokens == ended.usage.total_tokens <= cap
    await record_and_replay(client, tenant_budget_workflow_id(tenant), "tenant_budget")


async def test_threshold_fires_a_metric_and_a_log_line_once(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        metric_reader: Any, stream: io.StringIO) -> None:
    from baton.worker import worker_resources

    tenant = tenant_name()
    settings = budgeted(settings, tenant, TenantBudget(
        day=PeriodLimit(max_tokens=50_000), month=PeriodLimit(max_tokens=4_000), alert_at=0.5))
    team = clerk_team()
    async with worker_resources(client, settings) as worker, worker:
        for _ in range(4):
            await result(client, await start(client, settings, scripted, team, tenant))
        report = await authority(client, tenant)
    month = next(p for p in report.periods if p.period == "month")
    assert month.used("tokens", reserved=False) is not None
    lines = [json.loads(line) for line in stream.getvalue().splitlines()
             if line.startswith("{")]
    alerts = [line for line in lines if line.get("event") == "tenant budget threshold passed"
              and line.get("tenant") == tenant]
    # Once per period and unit: the month's tokens passed half; the day's never did.
    assert [(a["period"], a["unit"]) for a in alerts] == [("month", "tokens")], alerts
    assert alerts[0]["used"] >= 0.5 and alerts[0]["max_tokens"] == 4_000
    data = metric_reader.get_metrics_data()
    points = {m.name: [p for p in m.data.data_points
                       if p.attributes.get("baton.tenant") == tenant]
              for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    [counted] = points["baton.tenant_budget.alerts"]
    assert counted.value == 1 and counted.attributes["baton.period"] == "month"
    used = {(p.attributes["baton.period"], p.attributes["baton.unit"]): p.value
            for p in points["baton.tenant_budget.used"]}
    assert used[("month", "tokens")] >= 0.5 > used[("day", "tokens")]


async def test_a_tenant_without_a_budget_has_no_authority(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    tenant = tenant_name()
    done = await result(client, await start(client, settings, scripted, clerk_team(), tenant))
    assert done.status is RunStatus.COMPLETED
    found = [w async for w in client.list_workflows(
        f"WorkflowId = '{tenant_budget_workflow_id(tenant)}'")]
    assert found == []


async def test_baton_budgets_shows_spend_and_what_is_left(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    from baton.worker import worker_resources

    tenant = tenant_name()
    settings = budgeted(settings, tenant, TenantBudget(
        day=PeriodLimit(max_tokens=50_000), month=PeriodLimit(max_cost_usd=5.0)))
    env = {"BATON_TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "BATON_TASK_QUEUE": settings.task_queue, "BATON_HOME": str(settings.home)}
    async with worker_resources(client, settings) as worker, worker:
        done = await result(client, await start(client, settings, scripted, clerk_team(),
                                                tenant))
        shown = await cli("budgets", "--tenant", tenant, env=env)
        as_json = await cli("budgets", "--tenant", tenant, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    spent = done.usage.total_tokens
    left = 50_000 - spent
    for text in (tenant, "day ", "month ", f"{spent:,} of 50,000, {left:,} left", "of $5.0000"):
        assert text in shown.stdout, (text, shown.stdout)
    [report] = [TenantBudgetReport.model_validate(r) for r in json.loads(as_json.stdout)]
    day = next(p for p in report.periods if p.period == "day")
    assert (day.spent_tokens, day.remaining_tokens, report.open_reservations) == (
        spent, left, 0)


def test_the_book_never_undercharges_a_reservation_left_behind() -> None:
    from datetime import UTC, datetime, timedelta

    from baton.budgets import ReserveRequest, Settlement
    from baton.workflows._tenant_book import TenantBook

    now = datetime(2026, 5, 4, 12, tzinfo=UTC)
    book = TenantBook("acme")
    book.budget = TenantBudget(day=PeriodLimit(max_tokens=1_000), reservation_lease_s=60)

    def ask(rid: str, prompt: int = 100) -> ReserveRequest:
        return ReserveRequest(reservation_id=rid, tenant="acme", workflow_id="w", agent="a",
                              prompt_tokens=prompt, max_output_tokens=300)

    granted = book.grant(ask("r1"), now)
    assert (granted.granted, granted.tokens, granted.max_output_tokens) == (True, 400, 300)
    assert book.grant(ask("r1"), now) == granted.model_copy(update={"alerts": []})  # a retry
    # The answer shrinks to what is left; then a call that cannot answer 16 tokens is refused.
    assert book.grant(ask("r2", prompt=500), now).max_output_tokens == 100
    refused = book.grant(ask("r3"), now)
    assert not refused.granted and "held by 2 model call(s) in flight" in (refused.reason or "")
    # A run that gave up before its request was granted: the grant must not hold room later.
    book.settle(Settlement(reservation_id="r4"))
    assert not book.grant(ask("r4"), now).granted
    # Settled with what the call cost; an unsettled one counts in full once its lease ends.
    book.settle(Settlement(reservation_id="r1", tokens=150))
    expired = book.tidy(now + timedelta(seconds=61))
    assert [r.id for r in expired] == ["r2"]
    [day] = book.periods(now)
    assert (day.spent_tokens, day.reserved_tokens) == (150 + 600, 0)


async def test_the_authority_continues_as_new_keeping_its_book(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    from baton.budgets import TenantBudgetInput
    from baton.worker import worker_resources

    tenant = tenant_name()
    settings = budgeted(settings, tenant, TenantBudget(day=PeriodLimit(max_tokens=500_000)))
    async with worker_resources(client, settings) as worker, worker:
        # Started here with a short history limit; runs then find it already running.
        first = await client.start_workflow(
            "TenantBudgetWorkflow", TenantBudgetInput(tenant=tenant, continue_after_events=60),
            id=tenant_budget_workflow_id(tenant), task_queue=settings.task_queue)
        results = [await result(client, await start(client, settings, scripted, clerk_team(),
                                                    tenant)) for _ in range(6)]
        report = await authority(client, tenant)
        now = await client.get_workflow_handle(tenant_budget_workflow_id(tenant)).describe()
    assert all(r.status is RunStatus.COMPLETED for r in results)
    assert now.run_id != first.first_execution_run_id  # it continued as new at least once
    [day] = report.periods
    assert day.spent_tokens == sum(r.usage.total_tokens for r in results)
    assert report.open_reservations == 0
