"""``baton cost``: what a team's finished runs cost, grouped by agent, model, tenant or version,
with the share spent on routing and the read cache's hits and savings per tool.

Runs are found through visibility (``BatonTeam``, start time, closed, top level); each run's
tree (members included) is read like ``baton show`` reads it, and its team (from the run's own
input, so each version is judged by what it ran) says which agents coordinate: routers,
mergers, judges and schedulers. Their model calls are the routing share.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio.service import RPCError

from baton.client._runlog import view
from baton.client._search import runs_query
from baton.client._totals import tool_totals
from baton.client._workflow import WorkflowReader
from baton.client.views import RunView, ToolTotals
from baton.errors import BatonError
from baton.patterns import coordinator_names
from baton.runs import ModelCallEvent, ToolCallEvent
from baton.specs import TeamSpec

__all__ = ["CostReport", "CostRow", "Grouping", "coordinators", "report"]

Grouping = Literal["agent", "model", "tenant", "version"]
_CLOSED = "ExecutionStatus != 'Running'"
_TOTAL = "\x00total"  # no agent, model, tenant or version is called this


class CostRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    runs: int = 0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    routing_cost_usd: float = 0.0  # spent by coordinating agents

    @property
    def routing_share(self) -> float:
        return self.routing_cost_usd / self.cost_usd if self.cost_usd else 0.0


class CostReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    team: str
    since: datetime
    by: Grouping
    query: str  # the visibility query, to paste into the Temporal UI
    runs: int
    rows: list[CostRow] = Field(default_factory=list)  # most expensive first
    total: CostRow
    tools: list[ToolTotals] = Field(default_factory=list)  # cache hit rate and savings per tool
    unread: list[str] = Field(default_factory=list)  # runs whose logs could not be read


def coordinators(team: TeamSpec) -> set[str]:
    """Every coordinating agent of ``team`` and its sub-teams."""
    found = set(coordinator_names(team.section))
    for sub in team.teams.values():
        found |= coordinators(sub)
    return found


def _key(by: Grouping, root: RunView, call: ModelCallEvent) -> str:
    if by == "agent":
        return call.agent
    if by == "model":
        return call.model
    if by == "tenant":
        return root.tenant or "?"
    if root.version is None:
        return "?"
    return f"{root.version_label} ({root.version})" if root.version_label else root.version


def _rows(runs: list[tuple[RunView, set[str]]], by: Grouping) -> tuple[list[CostRow], CostRow]:
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    seen: dict[str, set[str]] = defaultdict(set)
    for root, routing in runs:
        for node in root.walk():
            for call in (e for e in node.events if isinstance(e, ModelCallEvent)):
                for key in (_key(by, root, call), _TOTAL):
                    adding = sums[key]
                    seen[key].add(root.run_id)
                    adding["model_calls"] += 1
                    adding["input_tokens"] += call.usage.input_tokens
                    adding["output_tokens"] += call.usage.output_tokens
                    adding["cost_usd"] += call.cost_usd
                    adding["routing_cost_usd"] += call.cost_usd if call.agent in routing else 0.0

    def row(key: str) -> CostRow:
        got = sums[key]
        return CostRow(key=key, runs=len(seen[key]), model_calls=int(got["model_calls"]),
                       input_tokens=int(got["input_tokens"]),
                       output_tokens=int(got["output_tokens"]),
                       cost_usd=round(got["cost_usd"], 6),
                       routing_cost_usd=round(got["routing_cost_usd"], 6))

    rows = sorted((row(k) for k in sums if k != _TOTAL), key=lambda r: (-r.cost_usd, r.key))
    return rows, row(_TOTAL).model_copy(update={"key": "total", "runs": len(runs)})


async def report(reader: WorkflowReader, team: str, *, since: datetime, by: Grouping,
                 limit: int = 200) -> CostReport:
    """The cost report over the newest ``limit`` finished runs of ``team`` since ``since``."""
    query = f"{runs_query(team=team, since=since)} AND {_CLOSED}"
    found = [e.id async for e in reader.client.list_workflows(query, limit=limit)]
    gate = asyncio.Semaphore(8)  # finished runs answer queries by replay: keep workers calm

    async def read(run_id: str) -> tuple[RunView, set[str]] | None:
        async with gate:
            try:
                root = await view(reader, run_id)
                spec = (await reader.workflow_input(run_id)).team
            except (BatonError, RPCError):
                return None
        return (root, coordinators(spec)) if root.query_error is None else None

    read_runs = await asyncio.gather(*(read(r) for r in found))
    runs = [r for r in read_runs if r is not None]
    rows, total = _rows(runs, by)
    calls = [e for root, _ in runs for node in root.walk() for e in node.events
             if isinstance(e, ToolCallEvent)]
    return CostReport(team=team, since=since, by=by, query=query, runs=len(runs), rows=rows,
                      total=total, tools=tool_totals(calls),
                      unread=[r for r, got in zip(found, read_runs, strict=True) if got is None])
