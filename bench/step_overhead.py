"""``agent_step_overhead_ratio``: one Baton agent step (a zero-latency scripted model call plus
one tool call) against two bare Temporal activities run in sequence by a minimal workflow.

Both sides are timed the same way, inside their workflow with ``workflow.now()`` between
iterations, so client round trips and workflow start-up are excluded from both."""

from __future__ import annotations

import itertools
import os
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.worker import Worker

from baton.loader import parse_team
from baton.runs import PageRequest, RunInput, RunLogPage, RunResult, RunStatus
from bench._env import BenchEnv, median_ms
from worker import worker_resources

STEPS = int(os.environ.get("BATON_BENCH_STEPS", "40"))


@activity.defn(name="bare_noop")
async def bare_noop(value: int) -> int:
    return value + 1


@workflow.defn(name="BareTwoActivities", sandboxed=False)
class BareTwoActivities:
    @workflow.run
    async def run(self, iterations: int) -> list[float]:
        marks = [workflow.now()]
        for i in range(iterations):
            for _ in range(2):
                await workflow.execute_activity(bare_noop, i,
                                                start_to_close_timeout=timedelta(seconds=10))
            marks.append(workflow.now())
        return [(b - a).total_seconds() for a, b in itertools.pairwise(marks)]


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    settings = env.settings()
    bare_queue = settings.task_queue + "-bare"
    async with Worker(env.client, task_queue=bare_queue, workflows=[BareTwoActivities],
                      activities=[bare_noop]):
        bare = await env.client.execute_workflow(
            BareTwoActivities.run, STEPS, id=f"bare-{bare_queue}", task_queue=bare_queue)

    team = parse_team({
        "name": "bench", "pattern": "single", "tool_modules": ["bench.tools"],
        "budget": {"max_tokens": 10_000_000, "max_cost_usd": 100},
        "agents": [{"name": "stepper", "description": "benchmark agent",
                    "instructions": "call echo", "tools": ["echo"], "max_steps": STEPS + 1}],
    })
    run_id = f"bench-steps-{settings.task_queue}"
    step = {"tool_calls": [{"name": "echo", "arguments": {"text": "hi"}}]}
    env.scripted.set_script(run_id, {"stepper": [step] * STEPS + [{"content": "done"}]})
    async with worker_resources(env.client, settings) as baton_worker, baton_worker:
        handle = await env.client.start_workflow(
            "AgentWorkflow", RunInput(team=team, input="go"), id=run_id,
            task_queue=settings.task_queue, result_type=RunResult)
        result = await handle.result()
        assert result.status is RunStatus.COMPLETED, result
        log = await handle.query("run_log", PageRequest(limit=1000), result_type=RunLogPage)
    marks = [e.at for e in log.events if e.kind == "model_call"]
    baton = [(b - a).total_seconds() for a, b in itertools.pairwise(marks)]
    baton_ms, bare_ms = median_ms(baton), median_ms(bare)
    return {
        "agent_step_ms": {"value": round(baton_ms, 2), "unit": "ms"},
        "bare_two_activities_ms": {"value": round(bare_ms, 2), "unit": "ms"},
        "agent_step_overhead_ratio": {"value": round(baton_ms / bare_ms, 3), "unit": "ratio"},
    }
