"""History growth: Baton (prefix reference + delta, continue-as-new) against a naive agent loop
that sends the whole conversation to every model call, as agent integrations commonly do.

Sizes are the server's own measure: the protobuf size of every history event, summed over all
continuations of a run. The naive variant lives here only, to be measured; it is not a feature.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

from baton.loader import parse_team
from baton.runs import AgentStatus, RunInput, RunResult, RunStatus
from baton.worker import worker_resources
from bench._env import BenchEnv

STEP_COUNTS = [int(n) for n in
               os.environ.get("BATON_BENCH_HISTORY_STEPS", "100,300,1000").split(",")]
NAIVE_STEP_COUNTS = [100, 300]
HISTORY_LIMIT_BYTES = 50 * 1024 * 1024  # Temporal's default per-workflow history size limit
ARG = "x" * 200


@activity.defn(name="naive_chat")
async def naive_chat(conversation: list[dict[str, Any]]) -> dict[str, Any]:
    step = len(conversation) // 2
    return {"role": "assistant", "tool_calls": [
        {"id": f"call_{step}", "name": "echo", "arguments": {"text": f"line {step:04d} {ARG}"}}]}


@activity.defn(name="naive_echo")
async def naive_echo(arguments: dict[str, Any]) -> str:
    return str(arguments["text"])


@workflow.defn(name="NaiveAgentLoop", sandboxed=False)
class NaiveAgentLoop:
    """Every model call carries the entire conversation: history grows with the square of steps."""

    @workflow.run
    async def run(self, steps: int) -> int:
        conversation: list[dict[str, Any]] = [{"role": "user", "content": "Echo the lines."}]
        timeout = timedelta(seconds=30)
        for _ in range(steps):
            reply = await workflow.execute_activity(naive_chat, conversation,
                                                    start_to_close_timeout=timeout)
            conversation.append(reply)
            call = reply["tool_calls"][0]
            result = await workflow.execute_activity(naive_echo, call["arguments"],
                                                     start_to_close_timeout=timeout)
            conversation.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        return len(conversation)


async def _history_bytes(client: Client, workflow_id: str, runs: list[str | None]) -> int:
    total = 0
    for run_id in runs:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        total += sum(event.ByteSize() for event in history.events)
    return total


async def _baton_bytes(env: BenchEnv, queue: str, steps: int) -> int:
    team = parse_team({
        "name": "history",
        "budget": {"max_tokens": 100_000_000, "max_cost_usd": 1000, "max_wall_clock_s": 36_000},
        "agents": [{"name": "worker", "description": "long-running agent",
                    "instructions": "Echo each line.", "tools": ["echo"], "max_steps": steps + 1}],
    })
    run_id = f"history-{steps}-{uuid.uuid4().hex[:6]}"
    script = [{"tool_calls": [{"name": "echo", "arguments": {"text": f"line {i:04d} {ARG}"}}]}
              for i in range(steps)]
    env.scripted.set_script(run_id, {"worker": [*script, {"content": "done"}]})
    result = await env.client.execute_workflow(
        "AgentWorkflow", RunInput(team=team, input="Echo the lines."), id=run_id,
        task_queue=queue, result_type=RunResult)
    assert result.status is RunStatus.COMPLETED, result
    status = await env.client.get_workflow_handle(run_id).query("status", result_type=AgentStatus)
    return await _history_bytes(env.client, run_id, [*status.previous_runs, None])


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    settings = env.settings()
    naive_queue = settings.task_queue + "-naive"
    figures: dict[str, dict[str, Any]] = {}
    naive: dict[int, int] = {}
    async with Worker(env.client, task_queue=naive_queue, workflows=[NaiveAgentLoop],
                      activities=[naive_chat, naive_echo]):
        for steps in NAIVE_STEP_COUNTS:
            workflow_id = f"naive-{steps}-{uuid.uuid4().hex[:6]}"
            await env.client.execute_workflow(NaiveAgentLoop.run, steps, id=workflow_id,
                                              task_queue=naive_queue)
            naive[steps] = await _history_bytes(env.client, workflow_id, [None])
            figures[f"naive_history_bytes_per_step_{steps}"] = {
                "value": round(naive[steps] / steps), "unit": "bytes"}
    async with worker_resources(env.client, settings) as baton_worker, baton_worker:
        for steps in STEP_COUNTS:
            size = await _baton_bytes(env, settings.task_queue, steps)
            figures[f"history_bytes_per_step_{steps}"] = {"value": round(size / steps),
                                                          "unit": "bytes"}
            if steps == 1000:
                figures["baton_history_mb_1000_steps"] = {"value": round(size / 2**20, 2),
                                                          "unit": "MB"}
    # Fit naive size = a*n^2 + b*n through the two measured points, solve for the 50 MB limit.
    (n1, s1), (n2, s2) = sorted(naive.items())
    a = (s2 / n2 - s1 / n1) / (n2 - n1)
    b = s1 / n1 - a * n1
    limit_steps = (-b + (b * b + 4 * a * HISTORY_LIMIT_BYTES) ** 0.5) / (2 * a)
    figures["naive_steps_before_history_limit"] = {
        "value": int(limit_steps), "unit": "steps (extrapolated: quadratic fit of 100 and 300)"}
    return figures
