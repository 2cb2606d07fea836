"""``agent_step_overhead_ratio``: one Baton agent step (a zero-latency scripted model call plus
one tool call) against two bare Temporal activities run in sequence by a minimal workflow.
``agent_step_hand_written_ratio``: the same step against an agent written by hand on Temporal
(``bench/bare_agent.py``) making the same calls to the same model server with the same script:
what Baton costs over the code a user would otherwise write.

All three run the same number of steps in one workflow, interleaved, ``REPEATS`` times. A step's
time is read from the server's own history: the time between the starts of consecutive steps
(consecutive scheduled model calls; for the bare workflow, every second scheduled activity), so
start-up is left out on every side; the figure is the median over every step of every repeat
(``_min`` and ``_max``: the ratio of the best and of the worst repeat, compared pair by pair).
Medians of steps rather than whole-run wall clocks: on this two-core machine a whole run moves by
10-20 % from one repeat to the next, a step's median does not. (``workflow.now()`` is the
workflow task's start time and too coarse for per-step timing.)"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from datetime import datetime
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Worker

from baton.loader import parse_team
from baton.runs import RunInput, RunResult, RunStatus
from baton.worker import worker_resources
from bench import bare, bare_agent
from bench._env import BenchEnv

STEPS = int(os.environ.get("BATON_BENCH_STEPS", "30"))
REPEATS = int(os.environ.get("BATON_BENCH_REPEATS", "5"))


def stepper_team(steps: int = STEPS) -> Any:
    return parse_team({
        "name": "bench", "pattern": "single",
        "budget": {"max_tokens": 10_000_000, "max_cost_usd": 100},
        "agents": [{"name": "stepper", "description": "benchmark agent",
                    "instructions": "call echo", "tools": ["echo"], "max_steps": steps + 1}],
    })


def script_steps(env: BenchEnv, run_id: str, n: int) -> None:
    """Script the run's agent ``stepper``: ``n`` echo calls, then an answer."""
    step = {"tool_calls": [{"name": "echo", "arguments": {"text": "hi"}}]}
    env.scripted.set_script(run_id, {"stepper": [step] * n + [{"content": "done"}]})


def cycles_ms(history: WorkflowHistory, activity_type: str | None = None, *,
              stride: int = 1) -> list[float]:
    """Milliseconds between scheduled activities (of ``activity_type``) ``stride`` apart."""
    times: list[datetime] = [
        event.event_time.ToDatetime() for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and (activity_type is None
             or event.activity_task_scheduled_event_attributes.activity_type.name
             == activity_type)]
    return [(b - a).total_seconds() * 1000 for a, b in zip(times, times[stride:], strict=False)]


async def _steps_ms(env: BenchEnv, workflow_id: str, activity_type: str | None = None, *,
                    stride: int = 1) -> list[float]:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    return cycles_ms(history, activity_type, stride=stride)


async def _bare_steps(env: BenchEnv, queue: str, n: int) -> list[float]:
    workflow_id = f"bare-{queue}-{n}-{time.perf_counter_ns()}"
    await env.client.execute_workflow(bare.BareTwoActivities.run, n, id=workflow_id,
                                      task_queue=queue)
    return await _steps_ms(env, workflow_id, stride=2)  # two activities a step


async def baton_steps(env: BenchEnv, queue: str, n: int) -> list[float]:
    run_id = f"bench-steps-{queue}-{time.perf_counter_ns()}"
    script_steps(env, run_id, n)
    result = await env.client.execute_workflow(
        "AgentWorkflow", RunInput(team=stepper_team(n), input="go"), id=run_id, task_queue=queue,
        result_type=RunResult)
    assert result.status is RunStatus.COMPLETED, result
    return await _steps_ms(env, run_id, "chat")


async def _hand_written_steps(env: BenchEnv, queue: str, n: int) -> list[float]:
    run_id = f"bench-hand-{queue}-{time.perf_counter_ns()}"
    script_steps(env, run_id, n)
    answer = await env.client.execute_workflow(
        bare_agent.BareAgent.run, bare_agent.AgentTask(env.scripted.base_url, run_id, "go", n + 1),
        id=run_id, task_queue=queue)
    assert answer == "done", answer
    return await _steps_ms(env, run_id, "bare_agent_model")


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    settings = env.settings()
    bare_queue, hand_queue = settings.task_queue + "-bare", settings.task_queue + "-hand"
    bare_times: list[list[float]] = []
    hand: list[list[float]] = []
    baton: list[list[float]] = []
    async with httpx.AsyncClient(trust_env=False) as http, Worker(
            env.client, task_queue=bare_queue, workflows=bare.WORKFLOWS,
            activities=bare.ACTIVITIES), Worker(
            env.client, task_queue=hand_queue, workflows=[bare_agent.BareAgent],
            activities=[(acts := bare_agent.BareAgentActivities(http)).call_model,
                        acts.run_tool]), worker_resources(env.client, settings) as w, w:
        await _bare_steps(env, bare_queue, 2)  # warm-up every path
        await _hand_written_steps(env, hand_queue, 2)
        await baton_steps(env, settings.task_queue, 2)
        for _ in range(REPEATS):  # interleaved, so drift in the machine affects all alike
            bare_times.append(await _bare_steps(env, bare_queue, STEPS))
            hand.append(await _hand_written_steps(env, hand_queue, STEPS))
            baton.append(await baton_steps(env, settings.task_queue, STEPS))
    baton_ms, bare_ms, hand_ms = (statistics.median(itertools.chain.from_iterable(t))
                                  for t in (baton, bare_times, hand))
    # The spread of one repeat's ratio to the next: how far a single run could be trusted.
    pairs = [statistics.median(a) / statistics.median(b)
             for a, b in zip(baton, bare_times, strict=True)]
    return {
        "agent_step_ms": {"value": round(baton_ms, 2), "unit": "ms"},
        "bare_two_activities_ms": {"value": round(bare_ms, 2), "unit": "ms"},
        "agent_step_overhead_ratio": {"value": round(baton_ms / bare_ms, 3), "unit": "ratio"},
        "agent_step_overhead_ratio_min": {"value": round(min(pairs), 3),
                                          "unit": "ratio (best of the interleaved repeats)"},
        "agent_step_overhead_ratio_max": {"value": round(max(pairs), 3),
                                          "unit": "ratio (worst of the interleaved repeats)"},
        "hand_written_agent_step_ms": {"value": round(hand_ms, 2), "unit": "ms"},
        "agent_step_hand_written_ratio": {"value": round(baton_ms / hand_ms, 3),
                                          "unit": "ratio"},
    }
