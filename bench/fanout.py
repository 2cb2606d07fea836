"""``fanout_overhead_ratio`` and ``supervisor_round_overhead_ratio``.

Fan-out: Baton's FanoutWorkflow over 50 agents whose model calls each take 200 ms, plus a merge
agent, against a bare Temporal workflow that starts 50 child workflows each running one 200 ms
activity, then runs one more activity. Supervisor round: one routing decision (a model call)
plus one worker (a child workflow with one model call), against one activity plus one child
workflow with one activity. Same server, same run, wall clock from the client, median of
five interleaved repeats (fan-out: also the best and worst pair).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from typing import Any

from temporalio.worker import Worker

from baton.loader import parse_team
from baton.runs import RunInput, RunResult, RunStatus
from baton.specs import TeamSpec
from baton.worker import worker_resources
from bench import bare
from bench._env import BenchEnv

BRANCHES = int(os.environ.get("BATON_BENCH_FANOUT", "50"))
ROUNDS = int(os.environ.get("BATON_BENCH_ROUNDS", "10"))
REPEATS = int(os.environ.get("BATON_BENCH_REPEATS", "5"))
LATENCY_S = bare.BRANCH_LATENCY_S


def _agent(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "description": description, "instructions": "Answer briefly.",
            "max_steps": 3}


def fanout_team(branches: int) -> TeamSpec:
    names = [f"b{i:02d}" for i in range(branches)]
    return parse_team({
        "name": "fan", "pattern": "fanout",
        "budget": {"max_tokens": 10_000_000, "max_cost_usd": 100},
        "agents": [*(_agent(n, "a branch") for n in names), _agent("merger", "merges")],
        "fanout": {"branches": names, "max_concurrency": min(branches, 200), "merge": "agent",
                   "merger": "merger"},
    })


def supervisor_team(rounds: int) -> TeamSpec:
    return parse_team({
        "name": "desk", "pattern": "supervisor",
        "budget": {"max_tokens": 10_000_000, "max_cost_usd": 100},
        "agents": [{**_agent("router", "routes"), "max_steps": rounds + 2},
                   _agent("worker", "works")],
        "supervisor": {"router": "router", "workers": ["worker"], "max_rounds": rounds,
                       "max_repeats": rounds},
    })


async def _timed(coro: Any) -> float:
    started = time.perf_counter()
    await coro
    return time.perf_counter() - started


async def _baton_fanout(env: BenchEnv, queue: str) -> float:
    run_id = f"fanout-{uuid.uuid4().hex[:8]}"
    branch = [{"content": "branch finding", "latency_s": LATENCY_S}]
    script = {f"b{i:02d}": branch for i in range(BRANCHES)} | {"merger": [{"content": "merged"}]}
    env.scripted.set_script(run_id, script)
    started = time.perf_counter()
    result = await env.client.execute_workflow(
        "FanoutWorkflow", RunInput(team=fanout_team(BRANCHES), input="go"), id=run_id,
        task_queue=queue, result_type=RunResult)
    assert result.status is RunStatus.COMPLETED, result.reason
    return time.perf_counter() - started


async def _baton_rounds(env: BenchEnv, queue: str) -> float:
    run_id = f"rounds-{uuid.uuid4().hex[:8]}"
    delegate = [{"tool_calls": [{"name": "delegate_to_worker", "arguments": {"task": f"t{i}"}}]}
                for i in range(ROUNDS)]
    env.scripted.set_script(run_id, {"router": [*delegate, {"content": "answer"}],
                                     "worker": [{"content": "report"}] * ROUNDS})
    started = time.perf_counter()
    result = await env.client.execute_workflow(
        "SupervisorWorkflow", RunInput(team=supervisor_team(ROUNDS), input="go"), id=run_id,
        task_queue=queue, result_type=RunResult)
    assert result.status is RunStatus.COMPLETED, result.reason
    return (time.perf_counter() - started) / ROUNDS


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    settings = env.settings()
    bare_queue = settings.task_queue + "-bare"
    baton_fan: list[float] = []
    bare_fan: list[float] = []
    baton_round: list[float] = []
    bare_round: list[float] = []
    async with Worker(env.client, task_queue=bare_queue, workflows=bare.WORKFLOWS,
                      activities=bare.ACTIVITIES), worker_resources(env.client, settings) as w, w:
        await _baton_rounds(env, settings.task_queue)  # warm-up
        for _ in range(REPEATS):
            bare_fan.append(await _timed(env.client.execute_workflow(
                bare.BareFanout.run, BRANCHES, id=f"bare-fan-{uuid.uuid4().hex[:8]}",
                task_queue=bare_queue)))
            baton_fan.append(await _baton_fanout(env, settings.task_queue))
            bare_round.append(await _timed(env.client.execute_workflow(
                bare.BareSupervisorRounds.run, ROUNDS, id=f"bare-rounds-{uuid.uuid4().hex[:8]}",
                task_queue=bare_queue)) / ROUNDS)
            baton_round.append(await _baton_rounds(env, settings.task_queue))
    fan, fan_bare = statistics.median(baton_fan), statistics.median(bare_fan)
    rnd, rnd_bare = statistics.median(baton_round), statistics.median(bare_round)
    # Each repetition's ratio against the bare run measured right before it: the spread says
    # how far one run of the pair can be trusted on this machine.
    ratios = [b / f for b, f in zip(baton_fan, bare_fan, strict=True)]
    return {
        f"fanout_{BRANCHES}_wall_s": {"value": round(fan, 3), "unit": "s"},
        f"bare_fanout_{BRANCHES}_wall_s": {"value": round(fan_bare, 3), "unit": "s"},
        "fanout_overhead_ratio": {"value": round(fan / fan_bare, 3),
                                  "unit": f"ratio (median of {REPEATS})"},
        "fanout_overhead_ratio_min": {"value": round(min(ratios), 3),
                                      "unit": f"ratio (best of {REPEATS} pairs)"},
        "fanout_overhead_ratio_max": {"value": round(max(ratios), 3),
                                      "unit": f"ratio (worst of {REPEATS} pairs)"},
        "supervisor_round_ms": {"value": round(rnd * 1000, 1), "unit": "ms"},
        "bare_supervisor_round_ms": {"value": round(rnd_bare * 1000, 1), "unit": "ms"},
        "supervisor_round_overhead_ratio": {"value": round(rnd / rnd_bare, 3), "unit": "ratio"},
    }
