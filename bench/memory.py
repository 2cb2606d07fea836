"""Memory with a policy (docs/memory.md), measured: what working memory saves on a long
conversation, and how well long-term memory recalls.

``memory_prompt_tokens_ratio``: a scripted 40-turn support conversation on the real stack (the
example support agent's instructions, reading long ticket histories of ~2.7 KB each with
``bench.tools.read_ticket`` and looking up orders: 39 tool turns and an answer). Without a
policy every turn sends the whole conversation so far. With working memory (summarise above
4,000 prompt tokens, keep the last 6 messages) a turn sends the system prompt, a summary, the
task and the recent turns. The ratio is all prompt tokens of the run with the policy, the
summariser's own prompts included, over all prompt tokens of the same run without it (both runs
in this process, one after the other). ``memory_prompt_tokens_turn40_*`` are the 40th model
call's prompt in each run and their ratio. The scripted model counts four characters of JSON a
token; the summariser is scripted with a 600-character summary, what a cheap model writes for
this (a real summariser's prompts and answers vary; its prompt is counted as it was sent).

``memory_recall_precision_at_3``: a seeded corpus of 30 memories of three customers and 12
questions with the three memories each should recall (bench/memory_corpus.json), recalled from
the embedded store (SQLite FTS5) by text search. Precision@3: the share of each question's top
three that are among its answers (fewer than three found counts the missing as misses),
averaged. ``..._scripted_embeddings`` fuses the scripted server's deterministic embeddings (a
hashed bag of word stems, the test double of an embeddings endpoint): it shows the fusion works,
not how well a real embedding model recalls.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import baton.examples
from baton.activities.memory import Embedder, MemoryService, open_memory_store
from baton.examples import APPROVER_GROUPS, TOOL_MODULES
from baton.loader import load_team
from baton.memory import MemorySpec, RecallRequest, StoreRequest, WorkingMemorySpec
from baton.runs import (
    ModelCallEvent,
    PageRequest,
    RunInput,
    RunLogPage,
    RunResult,
    RunStatus,
    SummarizedEvent,
)
from baton.settings import EmbeddingsSettings
from baton.worker import worker_resources
from bench._env import BenchEnv

TURNS = 40
POLICY = WorkingMemorySpec(summarize_above_tokens=4_000, keep_recent=6)
CORPUS = json.loads((Path(__file__).parent / "memory_corpus.json").read_text())
SUMMARY = ("Summary so far: the customer, Ana Souza, asked for a full review of her open support "
           "tickets and orders. Tickets read so far each hold a long history of late parcels, "
           "damaged boxes, missing invoices, changed addresses, refund requests, size exchanges, "
           "duplicate charges and delivery slots; most entries are open, several pending, none "
           "needs action beyond what the recent turns show. Orders looked up: A1001 delivered, "
           "A1002 shipped, A1003 delivered with a damaged sole. Still to do: read the remaining "
           "tickets, then answer with one status line per ticket and order.")


def _script() -> list[dict[str, Any]]:
    steps = []
    for n in range(TURNS - 1):
        call = ({"name": "lookup_order", "arguments": {"order_id": f"A100{n % 8 + 1}"}}
                if n % 3 == 2 else
                {"name": "read_ticket", "arguments": {"ticket_id": f"T-{1001 + n}"}})
        steps.append({"tool_calls": [call]})
    return [*steps, {"content": "Here is the status of every ticket and order you asked about."}]


async def _run(env: BenchEnv, policy: WorkingMemorySpec | None) -> list[Any]:
    """The run's model calls and folds, in order."""
    team = load_team(Path(baton.examples.__file__).parent / "support.yaml")
    agent = team.agents[0].model_copy(update={
        "max_steps": TURNS, "tools": ("lookup_order", "read_ticket"),
        "memory": MemorySpec(working=policy) if policy else None})
    budget = team.budget.model_copy(update={"max_tokens": 100_000_000, "max_cost_usd": 100.0})
    team = team.model_copy(update={"agents": (agent,), "memory": None, "budget": budget})
    settings = env.settings().model_copy(update={
        "tool_modules": [*TOOL_MODULES, "bench.tools"], "approver_groups": APPROVER_GROUPS})
    os.environ.setdefault("BATON_SUPPORT_DB", str(env.home / "support.sqlite"))
    run_id = f"bench-memory-{bool(policy)}-{time.perf_counter_ns()}"
    env.scripted.set_script(run_id, {agent.name: _script(),
                                     f"{agent.name}.summarizer": [{"content": SUMMARY}] * TURNS})
    async with worker_resources(env.client, settings) as worker, worker:
        handle = await env.client.start_workflow(
            "AgentWorkflow", RunInput(team=team, input="Review all my open tickets and orders."),
            id=run_id, task_queue=settings.task_queue, result_type=RunResult)
        result = await handle.result()
        page = await handle.query("run_log", PageRequest(limit=1000), result_type=RunLogPage)
    assert result.status is RunStatus.COMPLETED, result
    return [e for e in page.events if isinstance(e, ModelCallEvent | SummarizedEvent)]


async def _precision(env: BenchEnv, *, embeddings: bool) -> float:
    store = open_memory_store(f"sqlite://{env.home / f'memory-bench-{embeddings}.sqlite'}")
    embedder = Embedder(EmbeddingsSettings(), base_url=env.scripted.base_url) if embeddings \
        else None
    service = MemoryService(store, embedder, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    for m in CORPUS["memories"]:
        await service.remember(StoreRequest(id=m["id"], tenant="bench", subject=m["subject"],
                                            kind=m["kind"], text=m["text"], source_run="seed"))
    scores = []
    for q in CORPUS["queries"]:
        found = await service.recall(RecallRequest(tenant="bench", subject=q["subject"],
                                                   query=q["query"], limit=3))
        top = [h.record.id for h in found.hits[:3]]
        scores.append(len(set(top) & set(q["relevant"])) / 3)
    await service.close()
    return round(sum(scores) / len(scores), 3)


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    everything = [e.usage.input_tokens for e in await _run(env, None)]
    with_policy = await _run(env, POLICY)
    calls = [e.usage.input_tokens for e in with_policy if isinstance(e, ModelCallEvent)]
    folds = [e for e in with_policy if isinstance(e, SummarizedEvent)]
    assert len(everything) == len(calls) == TURNS, (len(everything), len(calls))
    assert folds, "the policy never summarised"
    assert all(f.error is None for f in folds), [f.error for f in folds]
    spent = sum(calls) + sum(f.usage.input_tokens for f in folds)
    return {
        "memory_prompt_tokens_ratio": {
            "value": round(spent / sum(everything), 3),
            "unit": f"ratio (all prompt tokens of {TURNS} turns, policy incl. its {len(folds)} "
                    "summariser calls / everything)"},
        "memory_prompt_tokens_turn40_policy": {"value": calls[-1], "unit": "tokens"},
        "memory_prompt_tokens_turn40_everything": {"value": everything[-1], "unit": "tokens"},
        "memory_prompt_tokens_turn40_ratio": {
            "value": round(calls[-1] / everything[-1], 3), "unit": "ratio (turn 40 alone)"},
        "memory_recall_precision_at_3": {
            "value": await _precision(env, embeddings=False),
            "unit": f"precision@3 ({len(CORPUS['queries'])} questions, 30 memories, text search)"},
        "memory_recall_precision_at_3_scripted_embeddings": {
            "value": await _precision(env, embeddings=True),
            "unit": "precision@3 (same, fused with the scripted server's hashed embeddings)"},
    }
