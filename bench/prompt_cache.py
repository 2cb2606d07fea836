"""``cached_prompt_token_share``: of all the prompt tokens a 20-step agent run sends, the share
the provider reads from its prompt cache, with Baton's Anthropic prompt caching (``cache_control``
on the tool definitions, the system prompt and the newest message).

The run is the example support agent (its instructions and three tools) on an Anthropic profile
against the scripted model, which caches as Anthropic documents it: the prompt up to a
breakpoint, from 1,024 tokens on, for five minutes; its tokens are four characters of JSON each.
Nineteen tool steps (order look-ups and help-center searches, real results from the example
tools) and an answer: 20 model calls. The same run with ``prompt_caching = false`` gives the
baseline; ``prompt_cache_input_cost_ratio`` is what the prompt costs with caching against without,
at Anthropic's price ratios (cache reads 0.1x, cache writes 1.25x the input price)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import baton.examples
from baton.examples import APPROVER_GROUPS, TOOL_MODULES
from baton.loader import load_team
from baton.messages import Usage
from baton.runs import ModelCallEvent, PageRequest, RunInput, RunLogPage, RunResult, RunStatus
from baton.specs import ModelProfile
from baton.worker import worker_resources
from bench._env import BenchEnv

STEPS = 20
PRICES = {"price_input_per_mtok": 3.0, "price_output_per_mtok": 15.0,
          "price_cache_read_per_mtok": 0.3, "price_cache_write_per_mtok": 3.75}
ORDERS = ("A1001", "A1002", "A1003", "A1004", "A1005", "A1006", "A1007", "A1008")
TOPICS = ("refund policy for damaged items", "shipping times abroad", "returning shoes",
          "warranty for electronics", "changing the account email")


def _script() -> list[dict[str, Any]]:
    steps = []
    for n in range(STEPS - 1):
        call = ({"name": "lookup_order", "arguments": {"order_id": ORDERS[n // 2 % len(ORDERS)]}}
                if n % 2 == 0 else
                {"name": "search_help_center", "arguments": {"query": TOPICS[n // 2 % 5]}})
        steps.append({"tool_calls": [call]})
    return [*steps, {"content": "Here is what I found about your orders and our policies."}]


async def _run(env: BenchEnv, caching: bool) -> tuple[Usage, float]:
    """Prompt usage summed over the run's model calls, and the run's cost."""
    team = load_team(Path(baton.examples.__file__).parent / "support.yaml")
    agent = team.agents[0].model_copy(update={"max_steps": STEPS})
    team = team.model_copy(update={"agents": (agent,), "budget": team.budget.model_copy(
        update={"max_tokens": 10_000_000, "max_cost_usd": 100.0})})
    profile = ModelProfile.model_validate({"provider": "anthropic", "model": "claude-scripted",
                                           "prompt_caching": caching, **PRICES})
    settings = env.settings().model_copy(update={
        "profiles": {"default": profile}, "tool_modules": list(TOOL_MODULES),
        "approver_groups": APPROVER_GROUPS})
    os.environ.setdefault("BATON_SUPPORT_DB", str(env.home / "support.sqlite"))
    run_id = f"bench-cache-{caching}-{time.perf_counter_ns()}"
    env.scripted.set_script(run_id, {agent.name: _script()})
    async with worker_resources(env.client, settings) as worker, worker:
        handle = await env.client.start_workflow(
            "AgentWorkflow", RunInput(team=team, input="Tell me about my orders."), id=run_id,
            task_queue=settings.task_queue, result_type=RunResult)
        result = await handle.result()
        page = await handle.query("run_log", PageRequest(limit=1000), result_type=RunLogPage)
    assert result.status is RunStatus.COMPLETED, result
    calls = [e for e in page.events if isinstance(e, ModelCallEvent)]
    assert len(calls) == STEPS, len(calls)
    return sum((c.usage for c in calls), Usage()), sum(c.cost_usd for c in calls)


def _input_cost(usage: Usage) -> float:
    fresh = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
    return (fresh * PRICES["price_input_per_mtok"]
            + usage.cache_read_tokens * PRICES["price_cache_read_per_mtok"]
            + usage.cache_write_tokens * PRICES["price_cache_write_per_mtok"])


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    cached, _ = await _run(env, caching=True)
    plain, _ = await _run(env, caching=False)
    assert plain.cache_read_tokens == 0, plain  # the baseline caches nothing
    return {
        "cached_prompt_token_share": {
            "value": round(cached.cache_read_tokens / cached.input_tokens, 3),
            "unit": f"ratio ({STEPS}-step scripted run, Anthropic caching)"},
        "prompt_tokens_20_steps": {"value": cached.input_tokens, "unit": "tokens"},
        "prompt_cache_input_cost_ratio": {
            "value": round(_input_cost(cached) / _input_cost(plain), 3),
            "unit": "ratio (with caching / without, Anthropic prices)"},
    }
