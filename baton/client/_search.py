"""Finding runs through Temporal visibility and Baton's search attributes.

The query strings built here are exactly what ``baton runs`` prints, so they can be pasted into
the Temporal UI's search box or ``temporal workflow list --query``::

    BatonTeam = 'support' AND BatonStatus = 'completed' AND StartTime > '2025-01-01T10:00:00Z'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecution, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from baton.approvals import PendingApproval
from baton.client._workflow import WorkflowReader
from baton.client.views import RunRow
from baton.errors import BatonError
from baton.runs import RunStatus
from baton.visibility import AGENT, COST_USD, STATUS, TEAM, TENANT, VERSION

__all__ = ["TOP_LEVEL", "parse_since", "pending_everywhere", "pending_of", "quoted", "runs_query",
           "search"]

TOP_LEVEL = "ParentWorkflowId is null"
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``30m``, ``1h``, ``2d``, ``1w`` ago, or an ISO-8601 time (UTC when it has no zone)."""
    now = now or datetime.now(UTC)
    match = _SINCE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BatonError(f"--since {text!r}: use 30m, 1h, 2d, 1w or an ISO time "
                         "(2025-01-31T09:00)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def quoted(name: str, value: str) -> str:
    if "'" in value or "\\" in value:
        raise BatonError(f"{name} may not contain quotes or backslashes: {value!r}")
    return f"'{value}'"


def runs_query(*, team: str | None = None, tenant: str | None = None,
               status: str | None = None, since: datetime | None = None,
               top_level_only: bool = True, version: str | None = None) -> str:
    """The visibility query for ``baton runs`` (and the Temporal UI)."""
    parts = []
    if team:
        parts.append(f"{TEAM.name} = {quoted('--team', team)}")
    if version:
        parts.append(f"{VERSION.name} = {quoted('--version', version)}")
    if tenant:
        parts.append(f"{TENANT.name} = {quoted('--tenant', tenant)}")
    if status:
        known = [s.value for s in RunStatus]
        if status not in known:
            raise BatonError(f"--status {status!r} is not a run status; use one of "
                             f"{', '.join(known)}")
        parts.append(f"{STATUS.name} = '{status}'")
    if since:
        parts.append(f"StartTime > '{since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}'")
    if top_level_only:
        parts.append(TOP_LEVEL)
    return " AND ".join(parts)


def _row(execution: WorkflowExecution) -> RunRow:
    attrs = execution.typed_search_attributes
    return RunRow(
        run_id=execution.id, temporal_run_id=execution.run_id,
        workflow_type=execution.workflow_type, team=attrs.get(TEAM), tenant=attrs.get(TENANT),
        agent=attrs.get(AGENT), status=attrs.get(STATUS),
        execution_status=execution.status.name if execution.status else "UNKNOWN",
        cost_usd=attrs.get(COST_USD), version=attrs.get(VERSION),
        started_at=execution.start_time,
        closed_at=execution.close_time, parent_id=execution.parent_id)


def _newest_first(rows: list[RunRow]) -> list[RunRow]:
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: r.started_at or oldest, reverse=True)


async def search(client: Client, query: str, *, limit: int = 50,
                 top_level_only: bool = True) -> list[RunRow]:
    """Newest first by start time. Temporal's SQL visibility cannot ``ORDER BY``: it answers
    running runs first, then the most recently closed, so ``limit`` takes those and they are
    sorted here. A server without ``ParentWorkflowId`` in visibility gets the query without that
    clause, and member runs are dropped from the answer instead."""
    try:
        return _newest_first(
            [_row(e) async for e in client.list_workflows(query or None, limit=limit)])
    except RPCError as exc:
        if exc.status != RPCStatusCode.INVALID_ARGUMENT:
            raise
        if TOP_LEVEL not in query:
            raise BatonError(f"Temporal rejected the query {query!r}: {exc.message}") from exc
    reduced = query.replace(f" AND {TOP_LEVEL}", "").replace(TOP_LEVEL, "")
    rows: list[RunRow] = []
    async for execution in client.list_workflows(reduced or None):
        if execution.parent_id is None or not top_level_only:
            rows.append(_row(execution))
            if len(rows) >= limit:
                break
    return _newest_first(rows)


async def pending_of(reader: WorkflowReader, run_id: str) -> list[PendingApproval]:
    """Open approvals of one run: its own and its members' (members report theirs to the run,
    so one query answers for the whole tree; each names the member's workflow)."""
    return await reader.query(run_id, "pending_approvals", None, list[PendingApproval])


async def pending_everywhere(reader: WorkflowReader, *, team: str | None = None,
                             tenant: str | None = None) -> list[PendingApproval]:
    """Open approvals of every run waiting for a person, member runs included (a run reports
    ``awaiting_approval`` while any member waits; each approval names its top-level run in
    ``run_id`` and the member holding it in ``workflow_id``)."""
    query = runs_query(team=team, tenant=tenant, status=RunStatus.AWAITING_APPROVAL.value,
                       top_level_only=True)
    pending: list[PendingApproval] = []
    seen: set[tuple[str, str]] = set()
    async for execution in reader.client.list_workflows(query):
        try:
            answers = await reader.query(execution.id, "pending_approvals", None,
                                         list[PendingApproval])
        except (RPCError, WorkflowQueryFailedError):  # it ended meanwhile: nothing pending
            continue
        for approval in answers:
            if (approval.workflow_id, approval.approval_id) not in seen:
                seen.add((approval.workflow_id, approval.approval_id))
                pending.append(approval)
    return pending
