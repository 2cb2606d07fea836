"""The floor: what one sequential activity costs on the embedded server, and what an agent step
costs on top of it.

Cycle times are read from the server's own history: the time between consecutive
``ActivityTaskScheduled`` events of one workflow is one full round (activity dispatched, run,
completed, next workflow task dispatched and completed). The first ten rounds of a workflow and
the rounds after them are reported apart, because with Temporal's default dynamic config they
differ (a per-shard token bucket on the transfer queue reader, 20 reads/s, empties after about ten
quick rounds). The same bare workflow also runs on a second dev server left at those defaults, in
the same run, so the effect of the tuning is measured rather than remembered. The bare workflow
and the agent run interleaved, so drift in the machine affects both alike.

``agent_step_floor_ratio`` = steady-state agent step / (2 x bare first-ten activity): an agent
step is two activities (a model call, then a tool call), so 1.0 would be the floor itself.
``_min`` and ``_max``: the same ratio for the best and the worst of the interleaved repeats.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from baton.client._devserver import SQLITE_PRAGMAS
from baton.runs import RunInput, RunResult, RunStatus
from baton.worker import worker_resources
from bench import bare
from bench._env import TEMPORAL_BIN, BenchEnv
from bench.step_overhead import cycles_ms, script_steps, stepper_team

ROUNDS = int(os.environ.get("BATON_BENCH_FLOOR_ROUNDS", "40"))
REPEATS = int(os.environ.get("BATON_BENCH_REPEATS", "5"))
FIRST = 10


async def _bare_cycles(client: Client, queue: str) -> list[float]:
    workflow_id = f"floor-bare-{queue}-{time.perf_counter_ns()}"
    await client.execute_workflow(bare.BareSequence.run, ROUNDS, id=workflow_id,
                                  task_queue=queue)
    return cycles_ms(await client.get_workflow_handle(workflow_id).fetch_history())


async def _agent_cycles(env: BenchEnv, queue: str) -> list[float]:
    run_id = f"floor-agent-{queue}-{time.perf_counter_ns()}"
    script_steps(env, run_id, ROUNDS)
    result = await env.client.execute_workflow(
        "AgentWorkflow", RunInput(team=stepper_team(ROUNDS), input="go"), id=run_id,
        task_queue=queue, result_type=RunResult)
    assert result.status is RunStatus.COMPLETED, result
    history = await env.client.get_workflow_handle(run_id).fetch_history()
    return cycles_ms(history, "chat")


def _split(runs: list[list[float]]) -> tuple[float, float]:
    """Median of the first ten rounds and of the rest, over every repetition."""
    first = [c for cycles in runs for c in cycles[:FIRST]]
    steady = [c for cycles in runs for c in cycles[FIRST:]]
    return statistics.median(first), statistics.median(steady)


async def _bare_on(client: Client, queue: str) -> tuple[float, float]:
    async with Worker(client, task_queue=queue, workflows=bare.WORKFLOWS,
                      activities=bare.ACTIVITIES):
        await _bare_cycles(client, queue)  # warm-up
        return _split([await _bare_cycles(client, queue) for _ in range(REPEATS)])


async def _untuned_bare() -> tuple[float, float]:
    """The same bare workflow on a dev server with Temporal's default dynamic config (the SQLite
    pragmas kept: they are measured elsewhere and not what this compares)."""
    with tempfile.TemporaryDirectory(prefix="baton-floor-") as tmp:
        pragmas = [arg for pragma in SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)]
        untuned = await WorkflowEnvironment.start_local(
            dev_server_existing_path=TEMPORAL_BIN, dev_server_log_level="error",
            dev_server_database_filename=str(Path(tmp) / "temporal.sqlite"),
            dev_server_extra_args=pragmas)
        try:
            return await _bare_on(untuned.client, "floor-untuned")
        finally:
            await untuned.shutdown()


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    settings = env.settings()
    bare_queue = settings.task_queue + "-bare"
    bare_runs: list[list[float]] = []
    agent_runs: list[list[float]] = []
    async with Worker(env.client, task_queue=bare_queue, workflows=bare.WORKFLOWS,
                      activities=bare.ACTIVITIES), worker_resources(env.client, settings) as w, w:
        await _bare_cycles(env.client, bare_queue)  # warm-up both
        await _agent_cycles(env, settings.task_queue)
        for _ in range(REPEATS):  # interleaved: drift in the machine affects both alike
            bare_runs.append(await _bare_cycles(env.client, bare_queue))
            agent_runs.append(await _agent_cycles(env, settings.task_queue))
    first10, steady = _split(bare_runs)
    _, agent_steady = _split(agent_runs)
    # The spread of one repeat's ratio to the next: how far a single run could be trusted.
    pairs = [_split([agent])[1] / (2 * _split([bare_run])[0])
             for agent, bare_run in zip(agent_runs, bare_runs, strict=True)]
    untuned_first10, untuned_steady = await _untuned_bare()
    return {
        "bare_activity_ms_first10": {"value": round(first10, 2), "unit": "ms"},
        "bare_activity_ms_steady": {"value": round(steady, 2), "unit": "ms"},
        "agent_step_steady_ms": {"value": round(agent_steady, 2), "unit": "ms"},
        "agent_step_floor_ratio": {"value": round(agent_steady / (2 * first10), 3),
                                   "unit": "ratio"},
        "agent_step_floor_ratio_min": {"value": round(min(pairs), 3),
                                       "unit": "ratio (best of the interleaved repeats)"},
        "agent_step_floor_ratio_max": {"value": round(max(pairs), 3),
                                       "unit": "ratio (worst of the interleaved repeats)"},
        "untuned_bare_activity_ms_first10": {"value": round(untuned_first10, 2), "unit": "ms"},
        "untuned_bare_activity_ms_steady": {"value": round(untuned_steady, 2), "unit": "ms"},
    }
