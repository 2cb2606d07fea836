"""Live event streams: latency from an activity finishing to a client seeing its event, and the
history each streamed event costs, for three ways of following a run.

* ``update`` (what Baton does): the ``events`` update long-polls the run log in workflow state
  and answers where it ends, the ``events`` query reads the events; clients at the same offset
  share one update (id ``events-<offset>``).
* ``update_carrying``: the same update answering with the events themselves (one round trip
  less, the events recorded in history a second time).
* ``contrib``: Temporal's workflow-streams contrib (``temporalio.contrib.workflow_streams``),
  every run-log event published to a ``WorkflowStream`` (bench/contrib_stream.py), subscribers
  as its documentation shows them (100 ms poll cooldown).
* ``poll``: the ``run_log`` query every 250 ms (what ``baton run`` did before).

Each run is one agent doing ``STEPS`` steps of a zero-latency model call plus the ``stamp`` tool,
which notes when it finished; a watcher notes when it sees that call's ``tool_call`` event.
History bytes are the server's protobuf sizes of the run's events, with watchers minus without,
per event the watchers received; with three watchers too, to show what sharing saves.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from temporalio.contrib.workflow_streams import WorkflowStreamClient

from baton.client._events import follow_events
from baton.client.reader import RunReader
from baton.loader import parse_team
from baton.runs import FinishedEvent, RunEvent, RunInput, RunResult, RunStatus, ToolCallEvent
from baton.specs import TeamSpec
from baton.worker import worker_resources
from baton.workflows import ALL_WORKFLOWS
from bench import tools
from bench._env import BenchEnv
from bench.contrib_stream import TOPIC, ContribStreamedAgent

STEPS = int(os.environ.get("BATON_BENCH_STREAM_STEPS", "30"))
REPEATS = int(os.environ.get("BATON_BENCH_REPEATS", "3"))

Watch = Callable[[str], AsyncIterator[tuple[str, str | None]]]  # (kind, stamped text or None)


def _team() -> TeamSpec:
    return parse_team({
        "name": "stream", "budget": {"max_tokens": 10_000_000, "max_cost_usd": 100},
        "agents": [{"name": "streamer", "description": "benchmark agent",
                    "instructions": "call stamp", "tools": ["stamp"], "max_steps": STEPS + 1}],
    })


async def _polled(reader: RunReader, run_id: str, interval_s: float = 0.25
                  ) -> AsyncIterator[RunEvent]:
    """Following a run by polling its ``run_log`` query (the alternative to the stream)."""
    cursor = 0
    while True:
        new = await reader.current_log(run_id, offset=cursor)
        for event in new:
            yield event
        cursor += len(new)
        if any(isinstance(e, FinishedEvent) and e.agent == "streamer" for e in new):
            return
        await asyncio.sleep(interval_s)


def _stamped(event: Any) -> str | None:
    return str(event.arguments.get("text")) if isinstance(event, ToolCallEvent) else None


class Variant:
    """One way of following a run: its workflow type and its watcher."""

    def __init__(self, name: str, workflow_type: str, watch: Callable[[str], Any]) -> None:
        self.name, self.workflow_type, self.watch = name, workflow_type, watch


def _variants(env: BenchEnv, reader: RunReader) -> list[Variant]:
    async def update(run_id: str) -> AsyncIterator[tuple[str, str | None]]:
        async for event in follow_events(reader, run_id):
            yield event.kind, _stamped(event)

    async def carried(run_id: str) -> AsyncIterator[tuple[str, str | None]]:
        async for event in follow_events(reader, run_id, with_events=True):
            yield event.kind, _stamped(event)

    async def poll(run_id: str) -> AsyncIterator[tuple[str, str | None]]:
        async for event in _polled(reader, run_id):
            yield event.kind, _stamped(event)

    async def contrib(run_id: str) -> AsyncIterator[tuple[str, str | None]]:
        stream = WorkflowStreamClient.create(env.client, run_id)
        async for item in stream.subscribe(TOPIC, result_type=dict):
            data = item.data
            text = data.get("arguments", {}).get("text") if data.get("kind") == "tool_call" \
                else None
            yield str(data.get("kind")), text
            if data.get("kind") == "finished":
                return

    return [Variant("update", "AgentWorkflow", update),
            Variant("update_carrying", "AgentWorkflow", carried),
            Variant("contrib", "ContribStreamedAgent", contrib),
            Variant("poll", "AgentWorkflow", poll)]


async def _watched_run(env: BenchEnv, queue: str, variant: Variant, watchers: int
                       ) -> tuple[list[float], int, int]:
    """(latencies in s of the first watcher, events it received, history bytes of the run)."""
    run_id = f"stream-{variant.name}-{uuid.uuid4().hex[:8]}"
    env.scripted.set_script(run_id, {"streamer": [
        {"tool_calls": [{"name": "stamp", "arguments": {"text": f"{run_id}/{i}"}}]}
        for i in range(STEPS)] + [{"content": "done"}]})
    handle = await env.client.start_workflow(
        variant.workflow_type, RunInput(team=_team(), input="go"), id=run_id, task_queue=queue,
        result_type=RunResult)
    seen: list[list[tuple[float, str | None]]] = [[] for _ in range(watchers)]

    async def one(index: int) -> None:
        async for _kind, text in variant.watch(run_id):
            seen[index].append((time.time(), text))

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(watchers))), 120)
    result = await handle.result()
    assert result.status is RunStatus.COMPLETED, result
    history = await handle.fetch_history()
    latencies = [at - tools.FINISHED[text] for at, text in seen[0] if text is not None]
    assert len(latencies) == STEPS, (variant.name, len(latencies))
    return latencies, len(seen[0]), sum(e.ByteSize() for e in history.events)


async def _baseline(env: BenchEnv, queue: str, workflow_type: str) -> int:
    async def nobody(_run_id: str) -> AsyncIterator[tuple[str, str | None]]:
        if False:  # pragma: no cover  # an async generator that yields nothing
            yield "", None

    variant = Variant("baseline", workflow_type, nobody)
    run_id = f"stream-base-{uuid.uuid4().hex[:8]}"
    env.scripted.set_script(run_id, {"streamer": [
        {"tool_calls": [{"name": "stamp", "arguments": {"text": f"{run_id}/{i}"}}]}
        for i in range(STEPS)] + [{"content": "done"}]})
    handle = await env.client.start_workflow(
        variant.workflow_type, RunInput(team=_team(), input="go"), id=run_id, task_queue=queue,
        result_type=RunResult)
    await handle.result()
    history = await handle.fetch_history()
    return sum(e.ByteSize() for e in history.events)


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def _measure(env: BenchEnv, queue: str, variant: Variant,
                   baseline: Callable[[str], Awaitable[int]]) -> dict[str, float]:
    latencies: list[float] = []
    per_event: list[float] = []
    for _ in range(REPEATS):
        samples, events, size = await _watched_run(env, queue, variant, 1)
        latencies += samples
        per_event.append((size - await baseline(variant.workflow_type)) / events)
    _, events, size3 = await _watched_run(env, queue, variant, 3)
    return {"p50": _pct(latencies, 0.5), "p95": _pct(latencies, 0.95),
            "bytes": max(statistics.median(per_event), 0.0),
            "bytes3": max((size3 - await baseline(variant.workflow_type)) / events, 0.0)}


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    settings = env.settings().model_copy(update={"tool_modules": ["bench.tools"]})
    reader = RunReader(env.client, namespace=settings.namespace,
                       task_queue=settings.task_queue, ui_url=settings.temporal_ui_url)
    figures: dict[str, dict[str, Any]] = {}
    async with worker_resources(env.client, settings, workflows=[
            *ALL_WORKFLOWS, ContribStreamedAgent]) as worker, worker:
        queue = settings.task_queue
        await _baseline(env, queue, "AgentWorkflow")  # warm-up
        sizes: dict[str, int] = {}

        async def baseline(workflow_type: str) -> int:
            if workflow_type not in sizes:  # the same run without watchers: one is enough
                sizes[workflow_type] = await _baseline(env, queue, workflow_type)
            return sizes[workflow_type]

        for variant in _variants(env, reader):
            found = await _measure(env, queue, variant, baseline)
            prefix = "" if variant.name == "update" else f"{variant.name}_"
            figures[f"{prefix}event_latency_ms_p50"] = {"value": round(found["p50"], 1),
                                                        "unit": "ms"}
            figures[f"{prefix}event_latency_ms_p95"] = {"value": round(found["p95"], 1),
                                                        "unit": "ms"}
            figures[f"{prefix}history_bytes_per_event"] = {"value": round(found["bytes"]),
                                                           "unit": "bytes (1 watcher)"}
            figures[f"{prefix}history_bytes_per_event_3_watchers"] = {
                "value": round(found["bytes3"]), "unit": "bytes (3 watchers)"}
    return figures
