"""Walking a whole run: the continue-as-new chain of one workflow and its member runs.

A long agent run continues as new: each continuation is a separate Temporal run of the same
workflow id and keeps only its own events, so the whole log is the ``run_log`` of every run in
``status.previous_runs`` (oldest first) followed by the current one. A pattern run starts member
runs (child workflows) and logs a ``child`` event with each one's workflow id: following those
recursively gives the tree ``team → members → agents → steps``.

A closed workflow is read from its event history (``_history_view``), never queried: a query
would make a worker replay it on today's workflow code, which fails (or lies) after a deploy that
changed that code, and needs a worker at all. A running workflow is queried; when no worker
answers, its history is read instead and the query's failure is kept as a note.
"""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from baton.client._history.state import MemberFacts
from baton.client._history.view import HistoryRead, fetch_chain, member_view, read_chain
from baton.client._totals import totals
from baton.client._workflow import WorkflowReader
from baton.client.views import RunView
from baton.errors import QueryTimeoutError, RunNotFoundError
from baton.runs import AgentStatus, ChildEvent, RunEvent
from baton.visibility import AGENT, TEAM, TENANT, VERSION

__all__ = ["VERSION_MEMO", "view", "whole_log"]

MAX_DEPTH = 8  # nested teams deeper than this are not expanded (lint warns far earlier)
VERSION_MEMO = "baton_version"  # memo of a run started by BatonClient: {"label": …, "track": …}
_QUERY_PROBLEMS = (QueryTimeoutError, WorkflowQueryFailedError, RPCError)


async def whole_log(reader: WorkflowReader, workflow_id: str
                    ) -> tuple[AgentStatus, list[RunEvent]]:
    """The status of the current run and the events of every continuation, in ``seq`` order."""
    for _ in range(3):  # a continuation may happen between the status and the last page
        status = await reader.status(workflow_id)
        events: list[RunEvent] = []
        for temporal_run in status.previous_runs:
            events += await reader.current_log(workflow_id, temporal_run_id=temporal_run)
        current = await reader.current_log(workflow_id)
        if not current or current[0].seq <= len(events):
            break
    seen: set[int] = set()
    ordered: list[RunEvent] = []
    for event in [*events, *current]:
        if event.seq not in seen:
            seen.add(event.seq)
            ordered.append(event)
    return status, ordered


async def view(reader: WorkflowReader, workflow_id: str, *, member: str | None = None,
               member_kind: str | None = None, depth: int = 0,
               sees: str | None = None) -> RunView:
    """One workflow with its whole log, its result when finished and its member runs."""
    description = await reader.describe(workflow_id)
    finished = description.status not in (None, WorkflowExecutionStatus.RUNNING)
    status: AgentStatus | None = None
    events: list[RunEvent] = []
    problem: str | None = None
    read: HistoryRead | None = None
    if not finished:
        try:
            status, events = await whole_log(reader, workflow_id)
        except _QUERY_PROBLEMS as exc:  # no worker answers: the history still tells
            problem = str(exc) or type(exc).__name__
    if finished:
        read = await _history(reader, workflow_id)
    elif problem is not None:
        try:
            read = await _history(reader, workflow_id)
        except RPCError as exc:  # neither answers: Temporal's own facts still help
            problem = f"{problem}; its history could not be read either ({exc.message})"
    if read is not None:
        status, events = read.status, read.events
    children: list[RunView] = []
    if depth < MAX_DEPTH:
        started = [e for e in events if isinstance(e, ChildEvent) and e.action == "started"]
        known = read.members if read else {}
        found = await asyncio.gather(*(
            _member(reader, e.workflow_id, member=e.member, member_kind=e.member_kind,
                    depth=depth + 1, facts=known.get(e.workflow_id), sees=e.sees)
            for e in started))
        children = [child for child in found if child is not None]
    attrs = description.typed_search_attributes
    memo = await description.memo_value(VERSION_MEMO, default=None) if depth == 0 else None
    label = ", ".join(str(memo[k]) for k in ("label", "track") if memo.get(k)) \
        if isinstance(memo, dict) else None
    built = RunView(
        run_id=workflow_id, member=member,
        member_kind="team" if member_kind == "team" else "agent" if member_kind else None,
        sees=sees,
        workflow_type=description.workflow_type, team=attrs.get(TEAM), agent=attrs.get(AGENT),
        tenant=attrs.get(TENANT), version=attrs.get(VERSION), version_label=label or None,
        execution_status=description.status.name if description.status else "UNKNOWN",
        started_at=description.start_time, closed_at=description.close_time,
        status=status, result=read.result if read else None,
        previous_runs=read.previous_runs if read else status.previous_runs if status else [],
        events=events, children=children, query_error=problem,
        ui_url=reader.ui_url(workflow_id), source="history" if read else "queries",
        notes=read.notes if read else [],
    )
    return built.model_copy(update={"totals": totals(built)})


async def _history(reader: WorkflowReader, workflow_id: str) -> HistoryRead:
    return await read_chain(await fetch_chain(reader.client, workflow_id),
                            reader.client.data_converter)


async def _member(reader: WorkflowReader, workflow_id: str, *, member: str, member_kind: str,
                  depth: int, facts: MemberFacts | None, sees: str | None) -> RunView | None:
    try:
        return await view(reader, workflow_id, member=member, member_kind=member_kind,
                          depth=depth, sees=sees)
    except RunNotFoundError:  # past the namespace's retention: the parent's history still tells
        if facts is None:
            return None
        return member_view(facts, ui_url=reader.ui_url(workflow_id),
                           why="its own history is no longer kept")
