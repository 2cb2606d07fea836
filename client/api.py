"""``BatonClient``: start runs, wait for their typed result, read their status and run log.

A *run id* is the Temporal workflow id (``support-1a2b3c4d``): it is what the Temporal UI, the
``temporal`` CLI and ``baton show`` all accept. Queries answer for finished runs too, as long as
the namespace retains the workflow and a worker is polling to replay it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.errors import BatonError, RunNotFoundError, StackError
from baton.loader import load_team
from baton.messages import Message, Usage
from baton.runs import (
    AgentStatus,
    FinishedEvent,
    MessagesPage,
    PageRequest,
    RunEvent,
    RunInput,
    RunLogPage,
    RunResult,
    RunStatus,
)
from baton.settings import BatonSettings
from baton.specs import TeamSpec
from baton.visibility import AGENT, STATUS, TEAM, TENANT

__all__ = [
    "WORKFLOW_TYPE",
    "ApprovalRefusedError",
    "BatonClient",
    "QueryTimeoutError",
    "RunExistsError",
    "RunView",
]

WORKFLOW_TYPE = "AgentWorkflow"  # pattern "single"; other patterns: workflows.workflow_type
POLL_INTERVAL_S = 0.25
_QUERY_TIMEOUT = timedelta(seconds=15)  # a query waits for a worker; never hang the CLI forever
_PAGE = 500
_TIMED_OUT = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)
_T = TypeVar("_T")


class QueryTimeoutError(BatonError):
    """No worker answered a query in time (none is polling the run's task queue, or all busy)."""


class ApprovalRefusedError(BatonError):
    """The workflow refused a decision (unknown or decided approval, approver not allowed)."""


class RunExistsError(BatonError):
    """``start(run_id=...)`` named a workflow id that is running or was used before."""


class RunView(BaseModel):
    """Everything ``baton show`` prints about one run (``--json`` dumps exactly this)."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    team: str | None
    agent: str | None
    tenant: str | None
    execution_status: str  # Temporal's own view: RUNNING, COMPLETED, FAILED, TERMINATED, ...
    started_at: datetime | None
    closed_at: datetime | None
    status: AgentStatus | None  # None when the workflow cannot answer queries (no worker)
    result: RunResult | None  # None while running
    events: list[RunEvent]
    ui_url: str

    @property
    def usage(self) -> Usage:
        source = self.result or self.status
        return source.usage if source else Usage()

    @property
    def cost_usd(self) -> float:
        source = self.result or self.status
        return source.cost_usd if source else 0.0


def _not_found(exc: BaseException) -> bool:
    return isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND


class BatonClient:
    """Typed async API over one Temporal client (built by ``worker.connect``)."""

    def __init__(self, client: Client, settings: BatonSettings) -> None:
        self.client = client
        self.settings = settings

    @classmethod
    async def connect(cls, settings: BatonSettings) -> BatonClient:
        from worker import connect  # the composition root builds every real Temporal client

        try:
            client = await connect(settings)
        except RuntimeError as exc:  # temporalio raises RuntimeError("Failed client connect: …")
            raise StackError(
                f"cannot reach Temporal at {settings.temporal_address} "
                f"(namespace {settings.namespace!r}); is `baton up` running? ({exc})"
            ) from exc
        return cls(client, settings)

    def ui_url(self, run_id: str) -> str:
        return f"{self.settings.temporal_ui_url}/namespaces/{self.settings.namespace}" \
               f"/workflows/{run_id}"

    # -- starting ----------------------------------------------------------------------------
    async def start(self, team: TeamSpec | str | Path, input: str, *, tenant: str = "default",
                    run_id: str | None = None) -> str:
        """Start a run of ``team`` (a spec or a YAML path) and return its run id."""
        spec = team if isinstance(team, TeamSpec) else load_team(team)
        agent = spec.agent().name
        run_id = run_id or f"{spec.name}-{uuid.uuid4().hex[:8]}"
        attributes = TypedSearchAttributes([
            SearchAttributePair(TEAM, spec.name), SearchAttributePair(TENANT, tenant),
            SearchAttributePair(AGENT, agent),
            # The workflow upserts the status as it goes; setting it here makes the run
            # findable by status before its first workflow task has even run.
            SearchAttributePair(STATUS, RunStatus.RUNNING.value),
        ])
        from workflows import workflow_type  # the pattern -> workflow type table, one place

        try:
            await self.client.start_workflow(
                workflow_type(spec), RunInput(team=spec, input=input, tenant=tenant),
                id=run_id, task_queue=self.settings.task_queue, result_type=RunResult,
                # A run id names one run forever: reusing it would make `baton show` ambiguous.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=attributes,
            )
        except WorkflowAlreadyStartedError as exc:
            raise RunExistsError(f"run {run_id!r} already exists; choose another --run-id") \
                from exc
        return run_id

    # -- reading -----------------------------------------------------------------------------
    def _handle(self, run_id: str) -> WorkflowHandle[Any, RunResult]:
        return self.client.get_workflow_handle(run_id, result_type=RunResult)

    async def describe(self, run_id: str) -> WorkflowExecutionDescription:
        try:
            return await self._handle(run_id).describe()
        except RPCError as exc:
            if _not_found(exc):
                raise RunNotFoundError(f"no run {run_id!r} in namespace "
                                       f"{self.settings.namespace!r}") from exc
            raise

    async def _query(self, run_id: str, name: str, arg: Any, result_type: type[_T]) -> _T:
        try:
            answer: _T = await self._handle(run_id).query(
                name, arg, result_type=result_type, rpc_timeout=_QUERY_TIMEOUT)
        except RPCError as exc:
            if _not_found(exc):
                raise RunNotFoundError(f"no run {run_id!r} in namespace "
                                       f"{self.settings.namespace!r}") from exc
            if exc.status in _TIMED_OUT:  # the SDK reports its own rpc_timeout as CANCELLED
                raise QueryTimeoutError(
                    f"no worker answered the {name!r} query for {run_id!r} within "
                    f"{_QUERY_TIMEOUT.total_seconds():.0f}s; is a worker polling task queue "
                    f"{self.settings.task_queue!r}? (`baton up` or `baton worker`)") from exc
            raise
        return answer

    async def status(self, run_id: str) -> AgentStatus:
        return await self._query(run_id, "status", None, AgentStatus)

    async def run_log_page(self, run_id: str, offset: int = 0, limit: int = _PAGE) -> RunLogPage:
        return await self._query(run_id, "run_log", PageRequest(offset=offset, limit=limit),
                                 RunLogPage)

    async def run_log(self, run_id: str, *, offset: int = 0) -> list[RunEvent]:
        """Every run-log event from ``offset`` on, paging through the ``run_log`` query."""
        events: list[RunEvent] = []
        while True:
            page = await self.run_log_page(run_id, offset + len(events))
            events.extend(page.events)
            if not page.events or page.offset + len(page.events) >= page.total:
                return events

    async def messages(self, run_id: str) -> list[Message]:
        """The run's conversation, paging through the ``messages`` query."""
        out: list[Message] = []
        while True:
            page = await self._query(run_id, "messages", PageRequest(offset=len(out),
                                     limit=_PAGE), MessagesPage)
            out.extend(page.messages)
            if not page.messages or page.offset + len(page.messages) >= page.total:
                return out

    # -- approvals ---------------------------------------------------------------------------
    async def pending_approvals(self, run_id: str) -> list[PendingApproval]:
        """Open approvals of a run: its own, and those of member runs (child workflows) that
        wait for a person, found through the ``BatonStatus`` search attribute."""
        pending = await self._query(run_id, "pending_approvals", None, list[PendingApproval])
        query = (f"BatonStatus = '{RunStatus.AWAITING_APPROVAL.value}' "
                 f"AND WorkflowId STARTS_WITH '{run_id}.'")
        async for child in self.client.list_workflows(query):
            pending += await self._query(child.id, "pending_approvals", None,
                                         list[PendingApproval])
        return pending

    async def decide(self, decision: ApprovalDecision, *, workflow_id: str) -> DecisionReceipt:
        """Approve, reject or edit through the ``decide`` update: the workflow validates it
        (unknown id, already decided, approver not allowed) and answers synchronously."""
        try:
            receipt: DecisionReceipt = await self._handle(workflow_id).execute_update(
                "decide", decision, result_type=DecisionReceipt)
        except WorkflowUpdateFailedError as exc:
            raise ApprovalRefusedError(str(exc.cause or exc)) from exc
        except RPCError as exc:
            if _not_found(exc):
                raise RunNotFoundError(f"no run {workflow_id!r}") from exc
            raise
        return receipt

    async def result(self, run_id: str) -> RunResult:
        """Wait for the run to end. Always a ``RunResult``: a workflow that failed, was
        terminated or timed out becomes one with status failed/cancelled and the reason."""
        try:
            return await self._handle(run_id).result()
        except RPCError as exc:
            if _not_found(exc):
                raise RunNotFoundError(f"no run {run_id!r} in namespace "
                                       f"{self.settings.namespace!r}") from exc
            raise
        except WorkflowFailureError as exc:
            closed = await self.describe(run_id)
            state = closed.status.name.lower() if closed.status else "failed"
            cause = exc.cause
            return RunResult(
                run_id=run_id,
                team=closed.typed_search_attributes.get(TEAM) or "?",
                agent=closed.typed_search_attributes.get(AGENT) or "?",
                status=RunStatus.CANCELLED if closed.status == WorkflowExecutionStatus.CANCELED
                else RunStatus.FAILED,
                reason=f"workflow {state}: {cause or exc}",
                error_type=type(cause).__name__ if cause else None,
            )

    async def show(self, run_id: str) -> RunView:
        """Status, result (when finished) and the whole run log in one model."""
        description = await self.describe(run_id)
        finished = description.status not in (None, WorkflowExecutionStatus.RUNNING)
        status: AgentStatus | None = None
        events: list[RunEvent] = []
        try:
            status = await self.status(run_id)
            events = await self.run_log(run_id)
        except (RPCError, QueryTimeoutError, WorkflowQueryFailedError):
            pass  # queries need a worker; the Temporal-side facts below still help
        result = await self.result(run_id) if finished else None
        attrs = description.typed_search_attributes
        return RunView(
            run_id=run_id, team=attrs.get(TEAM), agent=attrs.get(AGENT),
            tenant=attrs.get(TENANT),
            execution_status=description.status.name if description.status else "UNKNOWN",
            started_at=description.start_time, closed_at=description.close_time,
            status=status, result=result, events=events, ui_url=self.ui_url(run_id),
        )

    async def watch(self, run_id: str, *, interval_s: float = POLL_INTERVAL_S
                    ) -> AsyncIterator[RunEvent]:
        """Yield run-log events as they are appended; stop once the run has finished."""
        await self.describe(run_id)  # RunNotFoundError before the first poll, not in a loop
        root = None
        cursor = 0
        while True:
            try:
                new = await self.run_log(run_id, offset=cursor)
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
            if done or (not new and await self._closed(run_id)):
                return
            await asyncio.sleep(interval_s)

    async def _closed(self, run_id: str) -> bool:
        description = await self.describe(run_id)
        return description.status not in (None, WorkflowExecutionStatus.RUNNING)

