"""Run budgets hold: every example team, one per pattern, run with tight token and cost caps.

Each model call is bounded before it is made (its answer capped to what is left, its prompt
estimated, a call that cannot fit refused) and a member is started only with a slice that can
pay for one call, so what a run spends — as ``baton show`` totals it over the whole tree —
never passes its caps. The scripted model counts four bytes a token, below Baton's estimate, so
the stated overshoot bound is zero here. Parallel branches (a 20-branch fan-out) included.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client
from test_examples import FILES, _approve_all, default_input, serving_examples

from baton.client import run_result
from baton.client.api import BatonClient
from baton.loader import load_team, parse_team
from baton.runs import RunInput, RunResult, RunStatus
from baton.settings import BatonSettings
from baton.specs import Budget, ModelProfile, TeamSpec
from baton.workflows import WORKFLOW_TYPES

PRICED = ModelProfile(price_input_per_mtok=30.0, price_output_per_mtok=60.0)


@pytest.fixture
def settings(settings: BatonSettings, request: pytest.FixtureRequest) -> BatonSettings:
    """Priced, so cost caps bite: $30 / $60 per million tokens in and out."""
    return serving_examples(settings, request).model_copy(
        update={"profiles": {"default": PRICED}})


def capped(team: TeamSpec, budget: Budget) -> TeamSpec:
    return team.model_copy(update={"budget": budget})


async def spend(client: Client, settings: BatonSettings, team: TeamSpec, task: str
                ) -> tuple[RunResult, int, float]:
    run_id = f"capped-{team.name}-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        WORKFLOW_TYPES[team.pattern], RunInput(team=team, input=task), id=run_id,
        task_queue=settings.task_queue, result_type=RunResult)
    done = asyncio.ensure_future(run_result(handle))
    await _approve_all(client, run_id, done)
    result = done.result()
    totals = (await BatonClient(client, settings).tree(run_id)).totals
    assert totals is not None
    return result, totals.usage.total_tokens, totals.cost_usd


CAPS = {"1500-tokens": Budget(max_tokens=1_500, max_cost_usd=None),
        "300-tokens": Budget(max_tokens=300, max_cost_usd=None),
        "5-cents": Budget(max_tokens=None, max_cost_usd=0.05),
        "half-cent": Budget(max_tokens=None, max_cost_usd=0.005)}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
@pytest.mark.parametrize("cap", list(CAPS))
async def test_no_example_spends_past_its_caps(
        client: Client, settings: BatonSettings, worker: object, path: Path, cap: str) -> None:
    budget = CAPS[cap]
    tokens, usd = budget.max_tokens, budget.max_cost_usd
    team = capped(load_team(path), budget)
    result, spent_tokens, spent_usd = await spend(client, settings, team, default_input(path))
    assert result.status in (RunStatus.COMPLETED, RunStatus.BUDGET_EXHAUSTED) or (
        result.reason and "budget" in result.reason), (result.status, result.reason)
    if tokens is not None:
        assert spent_tokens <= tokens, (spent_tokens, tokens, result.status, result.reason)
        assert result.usage.total_tokens <= tokens
    if usd is not None:
        assert spent_usd <= usd + 1e-9, (spent_usd, usd, result.status, result.reason)


async def test_twenty_parallel_branches_share_a_small_cap(
        client: Client, settings: BatonSettings, worker: object) -> None:
    branches = [{"name": f"b{i:02d}", "description": "researches one angle and reports it",
                 "instructions": "Answer in two sentences."} for i in range(20)]
    team = parse_team({
        "name": "wide", "pattern": "fanout", "agents": [
            *branches, {"name": "merger", "description": "merges the branch reports",
                        "instructions": "Merge."}],
        "fanout": {"branches": [b["name"] for b in branches], "merge": "agent",
                   "merger": "merger", "max_concurrency": 20},
        "budget": {"max_tokens": 2_000}})
    result, spent_tokens, _ = await spend(client, settings, team, "Why do retries need keys?")
    assert spent_tokens <= 2_000, (spent_tokens, result.status, result.reason)
    # Members that could not get a slice big enough for one call were not started at all.
    skipped = [c for c in result.children if c.status is RunStatus.BUDGET_EXHAUSTED]
    assert all(c.usage.total_tokens == 0 for c in skipped)
