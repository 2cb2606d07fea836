"""Walking a whole run: the continue-as-new chain of one workflow and its member runs.

A long agent run continues as new: each continuation is a separate Temporal run of the same
workflow id and keeps only its own events, so the whole log is the ``run_log`` of every run in
``status.previous_runs`` (oldest first) followed by the current one. A pattern run starts member
runs (child workflows) and logs a ``child`` event with each one's workflow id: following those
recursively gives the tree ``team → members → agents → steps``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from baton.client.views import AgentTotals, ModelTotals, RunView, Totals
from baton.errors import QueryTimeoutError, RunNotFoundError
from baton.messages import Usage
from baton.runs import (
    AgentStatus,
    ChildEvent,
    FinishedEvent,
    ModelCallEvent,
    RunEvent,
    RunInput,
    RunResult,
    ToolCallEvent,
)
from baton.visibility import AGENT, TEAM, TENANT

if TYPE_CHECKING:
    from baton.client.api import BatonClient

__all__ = ["find_event", "follow", "run_input", "totals", "view", "whole_log"]

MAX_DEPTH = 8  # nested teams deeper than this are not expanded (lint warns far earlier)
_QUERY_PROBLEMS = (QueryTimeoutError, WorkflowQueryFailedError, RPCError)


async def whole_log(client: BatonClient, workflow_id: str) -> tuple[AgentStatus, list[RunEvent]]:
    """The status of the current run and the events of every continuation, in ``seq`` order."""
    for _ in range(3):  # a continuation may happen between the status and the last page
        status = await client.status(workflow_id)
        events: list[RunEvent] = []
        for temporal_run in status.previous_runs:
            events += await client.current_log(workflow_id, temporal_run_id=temporal_run)
        current = await client.current_log(workflow_id)
        if not current or current[0].seq <= len(events):
            break
    seen: set[int] = set()
    ordered: list[RunEvent] = []
    for event in [*events, *current]:
        if event.seq not in seen:
            seen.add(event.seq)
            ordered.append(event)
    return status, ordered


async def view(client: BatonClient, workflow_id: str, *, member: str | None = None,
               member_kind: str | None = None, depth: int = 0) -> RunView:
    """One workflow with its whole log, its result when finished and its member runs."""
    description = await client.describe(workflow_id)
    finished = description.status not in (None, WorkflowExecutionStatus.RUNNING)
    status: AgentStatus | None = None
    events: list[RunEvent] = []
    problem: str | None = None
    try:
        status, events = await whole_log(client, workflow_id)
    except _QUERY_PROBLEMS as exc:  # queries need a worker; Temporal's own facts still help
        problem = str(exc) or type(exc).__name__
    result: RunResult | None = await client.result(workflow_id) if finished else None
    children: list[RunView] = []
    if depth < MAX_DEPTH:
        started = [e for e in events if isinstance(e, ChildEvent) and e.action == "started"]
        found = await asyncio.gather(*(
            _member(client, e.workflow_id, member=e.member, member_kind=e.member_kind,
                    depth=depth + 1)
            for e in started))
        children = [child for child in found if child is not None]
    attrs = description.typed_search_attributes
    built = RunView(
        run_id=workflow_id, member=member,
        member_kind="team" if member_kind == "team" else "agent" if member_kind else None,
        workflow_type=description.workflow_type, team=attrs.get(TEAM), agent=attrs.get(AGENT),
        tenant=attrs.get(TENANT),
        execution_status=description.status.name if description.status else "UNKNOWN",
        started_at=description.start_time, closed_at=description.close_time,
        status=status, result=result, previous_runs=status.previous_runs if status else [],
        events=events, children=children, query_error=problem,
        ui_url=client.ui_url(workflow_id),
    )
    return built.model_copy(update={"totals": totals(built)})


async def _member(client: BatonClient, workflow_id: str, *, member: str, member_kind: str,
                  depth: int) -> RunView | None:
    try:
        return await view(client, workflow_id, member=member, member_kind=member_kind,
                          depth=depth)
    except RunNotFoundError:  # past the namespace's retention: the parent's log still tells
        return None


@dataclass
class _Agent:
    calls: list[ModelCallEvent] = field(default_factory=list)
    steps: set[int] = field(default_factory=set)
    tools: int = 0


def totals(root: RunView) -> Totals:
    """Tokens, cost and calls of ``root`` and every member run below it."""
    per_agent: dict[tuple[str, str], _Agent] = {}
    per_model: dict[str, list[ModelCallEvent]] = defaultdict(list)
    tools: list[ToolCallEvent] = []
    for node in root.walk():
        for event in node.events:
            if isinstance(event, ModelCallEvent):
                per_model[event.model].append(event)
                agent = per_agent.setdefault((node.run_id, event.agent), _Agent())
                agent.calls.append(event)
                agent.steps.add(event.step)
            elif isinstance(event, ToolCallEvent):
                tools.append(event)
                per_agent.setdefault((node.run_id, event.agent), _Agent()).tools += 1
    agents = [AgentTotals(workflow_id=wid, agent=name, steps=len(a.steps),
                          model_calls=len(a.calls), tool_calls=a.tools, usage=_sum_usage(a.calls),
                          cost_usd=round(sum(c.cost_usd for c in a.calls), 6))
              for (wid, name), a in per_agent.items()]
    models = [ModelTotals(model=name, calls=len(calls), usage=_sum_usage(calls),
                          cost_usd=round(sum(c.cost_usd for c in calls), 6),
                          latency_ms=round(sum(c.latency_ms for c in calls), 1))
              for name, calls in sorted(per_model.items())]
    every = [c for calls in per_model.values() for c in calls]
    return Totals(usage=_sum_usage(every), cost_usd=round(sum(c.cost_usd for c in every), 6),
                  model_calls=len(every), tool_calls=len(tools),
                  cache_hits=sum(t.cache_hit for t in tools),
                  ledger_hits=sum(t.ledger_hit for t in tools),
                  per_agent=agents, per_model=models)


def _sum_usage(calls: list[ModelCallEvent]) -> Usage:
    return Usage(input_tokens=sum(c.usage.input_tokens for c in calls),
                 output_tokens=sum(c.usage.output_tokens for c in calls))


def find_event(root: RunView, call_id: str) -> tuple[RunView, ToolCallEvent]:
    """The recorded ``tool_call`` event with ``call_id`` anywhere in the tree, and its node."""
    for node in root.walk():
        for event in node.events:
            if isinstance(event, ToolCallEvent) and event.call_id == call_id:
                return node, event
    raise LookupError(call_id)


async def follow(client: BatonClient, run_id: str, *, interval_s: float
                 ) -> AsyncIterator[RunEvent]:
    """``BatonClient.watch``: poll the current run's log until the entry agent finishes."""
    await client.describe(run_id)  # RunNotFoundError before the first poll, not in a loop
    root = None
    cursor = 0
    while True:
        try:
            new = await client.current_log(run_id, offset=cursor)
        except (QueryTimeoutError, WorkflowQueryFailedError):
            # No worker yet, or the workflow has not run its first task: keep waiting, the
            # run itself is durable; a run that ends is noticed through describe below.
            new = []
        except RPCError as exc:
            if exc.status != RPCStatusCode.FAILED_PRECONDITION:  # not ready for queries yet
                raise
            new = []
        for event in new:
            yield event
        cursor += len(new)
        if root is None and new:
            root = new[0].agent  # the first event is the entry agent's "started"
        done = any(isinstance(e, FinishedEvent) and e.agent == root for e in new)
        if done or (not new and await client.closed(run_id)):
            return
        await asyncio.sleep(interval_s)


async def run_input(client: BatonClient, run_id: str, *, temporal_run_id: str | None = None
                    ) -> RunInput:
    """``BatonClient.workflow_input``: decode the first history event's input payload."""
    handle = client.client.get_workflow_handle(run_id, run_id=temporal_run_id)
    try:
        async for event in handle.fetch_history_events():
            payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
            [run] = await client.client.data_converter.decode(payloads, [RunInput])
            if isinstance(run, RunInput):
                return run
            break
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise client.missing(run_id) from exc
        raise
    raise RunNotFoundError(f"run {run_id!r} has no Baton run input in its history")
