"""``agent_step_overhead_ratio``: one Baton agent step (a zero-latency scripted model call plus
one tool call) against two bare Temporal activities run in sequence by a minimal workflow.
``agent_step_hand_written_ratio``: the same step against an agent written by hand on Temporal
(``bench/bare_agent.py``) making the same calls to the same model server with the same script:
what Baton costs over the code a user would otherwise write.

Both sides run the same number of iterations in one workflow and are timed by wall clock from
the client, repeated, median taken; start-up is amortised over the iterations on both sides.
(``workflow.now()`` is the workflow task's start time and too coarse for per-step timing.)"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import httpx
from temporalio.worker import Worker

from baton.loader import parse_team
from baton.runs import RunInput, RunResult, RunStatus
from baton.worker import worker_resources
from bench import bare, bare_agent
from bench._env import BenchEnv

STEPS = int(os.environ.get("BATON_BENCH_STEPS", "30"))
REPEATS = int(os.environ.get("BATON_BENCH_REPEATS", "3"))


def stepper_team(steps: int = STEPS) -> Any:
    return parse_team({
        "name": "bench", "pattern": "single",
        "budget": {"max_tokens": 10_000_000, "max_cost_usd": 100},
        "agents": [{"name": "stepper", "description": "benchmark agent",
                    "instructions": "call echo", "tools": ["echo"], "max_steps": steps + 1}],
    })


async def _bare_per_iteration(env: BenchEnv, queue: str, n: int) -> float:
    started = time.perf_counter()
    await env.client.execute_workflow(bare.BareTwoActivities.run, n,
                                      id=f"bare-{queue}-{n}-{started}", task_queue=queue)
    return (time.perf_counter() - started) / n


async def _baton_per_step(env: BenchEnv, queue: str, n: int) -> float:
    team = stepper_team(n)
    run_id = f"bench-steps-{queue}-{time.perf_counter_ns()}"
    step = {"tool_calls": [{"name": "echo", "arguments": {"text": "hi"}}]}
    env.scripted.set_script(run_id, {"stepper": [step] * n + [{"content": "done"}]})
    started = time.perf_counter()
    result = await env.client.execute_workflow(
        "AgentWorkflow", RunInput(team=team, input="go"), id=run_id, task_queue=queue,
        result_type=RunResult)
    elapsed = time.perf_counter() - started
    assert result.status is RunStatus.COMPLETED, result
    return elapsed / n


async def _hand_written_per_step(env: BenchEnv, queue: str, n: int) -> float:
    run_id = f"bench-hand-{queue}-{time.perf_counter_ns()}"
    step = {"tool_calls": [{"name": "echo", "arguments": {"text": "hi"}}]}
    env.scripted.set_script(run_id, {"stepper": [step] * n + [{"content": "done"}]})
    started = time.perf_counter()
    answer = await env.client.execute_workflow(
        bare_agent.BareAgent.run, bare_agent.AgentTask(env.scripted.base_url, run_id, "go", n + 1),
        id=run_id, task_queue=queue)
    elapsed = time.perf_counter() - started
    assert answer == "done", answer
    return elapsed / n


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    settings = env.settings()
    bare_queue, hand_queue = settings.task_queue + "-bare", settings.task_queue + "-hand"
    bare_times: list[float] = []
    hand: list[float] = []
    baton: list[float] = []
    async with httpx.AsyncClient(trust_env=False) as http, Worker(
            env.client, task_queue=bare_queue, workflows=bare.WORKFLOWS,
            activities=bare.ACTIVITIES), Worker(
            env.client, task_queue=hand_queue, workflows=[bare_agent.BareAgent],
            activities=[(acts := bare_agent.BareAgentActivities(http)).call_model,
                        acts.run_tool]), worker_resources(env.client, settings) as w, w:
        await _bare_per_iteration(env, bare_queue, 2)  # warm-up every path
        await _hand_written_per_step(env, hand_queue, 2)
        await _baton_per_step(env, settings.task_queue, 2)
        for _ in range(REPEATS):  # interleaved, so drift in the machine affects all alike
            bare_times.append(await _bare_per_iteration(env, bare_queue, STEPS))
            hand.append(await _hand_written_per_step(env, hand_queue, STEPS))
            baton.append(await _baton_per_step(env, settings.task_queue, STEPS))
    baton_ms, bare_ms = statistics.median(baton) * 1000, statistics.median(bare_times) * 1000
    hand_ms = statistics.median(hand) * 1000
    return {
        "agent_step_ms": {"value": round(baton_ms, 2), "unit": "ms"},
        "bare_two_activities_ms": {"value": round(bare_ms, 2), "unit": "ms"},
        "agent_step_overhead_ratio": {"value": round(baton_ms / bare_ms, 3), "unit": "ratio"},
        "hand_written_agent_step_ms": {"value": round(hand_ms, 2), "unit": "ms"},
        "agent_step_hand_written_ratio": {"value": round(baton_ms / hand_ms, 3),
                                          "unit": "ratio"},
    }
