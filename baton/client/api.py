"""``BatonClient``: start runs, wait for their typed result, read their status and run log.

A *run id* is the Temporal workflow id (``support-1a2b3c4d``): it is what the Temporal UI, the
``temporal`` CLI and ``baton show`` all accept. Queries answer for finished runs too, as long as
the namespace retains the workflow and a worker is polling to replay it.

Walking a whole run (continuations, member runs) lives in :mod:`baton.client._runlog`, visibility
searches in :mod:`baton.client._search`; the methods here are the typed entry points to both.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.client import _runlog, _search
from baton.client._tracing import client_interceptors
from baton.client.views import RunRow, RunView
from baton.errors import (
    ApprovalRefusedError,
    QueryTimeoutError,
    RunExistsError,
    RunNotFoundError,
    RunRefusedError,
    StackError,
)
from baton.loader import load_team
from baton.messages import Message
from baton.runs import (
    Admission,
    AgentStatus,
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
ADMISSION_TIMEOUT_S = 30.0
_QUERY_TIMEOUT = timedelta(seconds=15)  # a query waits for a worker; never hang the CLI forever
_PAGE = 500
_TIMED_OUT = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)
_T = TypeVar("_T")


def _not_found(exc: BaseException) -> bool:
    return isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND


class BatonClient:
    """Typed async API over one Temporal client (built by ``worker.connect``)."""

    def __init__(self, client: Client, settings: BatonSettings) -> None:
        self.client = client
        self.settings = settings

    @classmethod
    async def connect(cls, settings: BatonSettings) -> BatonClient:
        """Connect; with ``trace_exporter`` set the client traces too, so a run's trace starts
        at the caller (``StartWorkflow:…``, queries, updates)."""
        from baton.worker import connect  # the composition root builds every real Temporal client

        try:
            client = await connect(settings)
        except RuntimeError as exc:  # temporalio raises RuntimeError("Failed client connect: …")
            raise StackError(
                f"cannot reach Temporal at {settings.temporal_address} "
                f"(namespace {settings.namespace!r}); is `baton up` running? ({exc})"
            ) from exc
        interceptors = client_interceptors(settings)
        if interceptors:
            config = client.config()
            config["interceptors"] = [*config.get("interceptors", ()), *interceptors]
            client = Client(**config)
        return cls(client, settings)

    def ui_url(self, run_id: str) -> str:
        return f"{self.settings.temporal_ui_url}/namespaces/{self.settings.namespace}" \
               f"/workflows/{run_id}"

    def missing(self, run_id: str) -> RunNotFoundError:
        return RunNotFoundError(f"no run {run_id!r} in namespace {self.settings.namespace!r}")

    # -- starting ----------------------------------------------------------------------------
    async def start(self, team: TeamSpec | str | Path, input: str, *, tenant: str = "default",
                    run_id: str | None = None) -> str:
        """Start a run of ``team`` (a spec or a YAML path) and return its run id."""
        spec = team if isinstance(team, TeamSpec) else load_team(team)
        return await self.start_input(RunInput(team=spec, input=input, tenant=tenant),
                                      run_id=run_id)

    async def start_input(self, run: RunInput, *, run_id: str | None = None,
                          admission_timeout_s: float | None = ADMISSION_TIMEOUT_S) -> str:
        """Start a run from a complete ``RunInput`` (``baton resume`` sets ``resume`` on it).

        Waits until a worker has admitted the run (resolved the model profiles and tools the
        team names) and raises ``RunRefusedError`` when it does not serve one of them. Without a
        worker within ``admission_timeout_s`` the run id is returned anyway: the run starts as
        soon as a worker polls its task queue. ``None`` does not wait at all."""
        spec = run.team
        run_id = run_id or f"{spec.name}-{uuid.uuid4().hex[:8]}"
        attributes = TypedSearchAttributes([
            SearchAttributePair(TEAM, spec.name), SearchAttributePair(TENANT, run.tenant),
            SearchAttributePair(AGENT, spec.agent(run.agent).name),
            # The workflow upserts the status as it goes; setting it here makes the run
            # findable by status before its first workflow task has even run.
            SearchAttributePair(STATUS, RunStatus.RUNNING.value),
        ])
        from baton.workflows import workflow_type  # the pattern -> workflow type table, one place

        try:
            await self.client.start_workflow(
                workflow_type(spec), run, id=run_id, task_queue=self.settings.task_queue,
                result_type=RunResult,
                # A run id names one run forever: reusing it would make `baton show` ambiguous.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=attributes,
            )
        except WorkflowAlreadyStartedError as exc:
            raise RunExistsError(f"run {run_id!r} already exists; choose another --run-id") \
                from exc
        if admission_timeout_s is not None:
            await self._admitted(run_id, admission_timeout_s)
        return run_id

    async def _admitted(self, run_id: str, timeout_s: float) -> None:
        if not await self._workers_polling():
            return  # nobody to admit it yet: the run starts when a worker polls its queue
        try:
            admission = await self._handle(run_id).execute_update(
                "admission", result_type=Admission, rpc_timeout=timedelta(seconds=timeout_s))
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            return  # the workers are busy or gone; `baton run` says so while it waits
        if not admission.accepted:
            raise RunRefusedError(
                f"run {run_id} refused: the worker does not serve what the team names: "
                f"{admission.reason}", run_id=run_id,
                problems=[f"{p.location}: {p.message}" for p in admission.problems],
                location=admission.problems[0].location if admission.problems else None)

    async def _workers_polling(self) -> bool:
        """Whether any worker polled the run's task queue recently (Temporal lists pollers of
        the last few minutes)."""
        response = await self.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.settings.namespace,
                task_queue=TaskQueue(name=self.settings.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        return bool(response.pollers)

    # -- reading -----------------------------------------------------------------------------
    def _handle(self, run_id: str, temporal_run_id: str | None = None
                ) -> WorkflowHandle[Any, RunResult]:
        return self.client.get_workflow_handle(run_id, run_id=temporal_run_id,
                                               result_type=RunResult)

    async def describe(self, run_id: str) -> WorkflowExecutionDescription:
        try:
            return await self._handle(run_id).describe()
        except RPCError as exc:
            if _not_found(exc):
                raise self.missing(run_id) from exc
            raise

    async def query(self, run_id: str, name: str, arg: Any, result_type: type[_T], *,
                    temporal_run_id: str | None = None) -> _T:
        """Run a query on the run (or on one continuation of it, ``temporal_run_id``)."""
        try:
            answer: _T = await self._handle(run_id, temporal_run_id).query(
                name, arg, result_type=result_type, rpc_timeout=_QUERY_TIMEOUT)
        except RPCError as exc:
            if _not_found(exc):
                raise self.missing(run_id) from exc
            if exc.status in _TIMED_OUT:  # the SDK reports its own rpc_timeout as CANCELLED
                raise QueryTimeoutError(
                    f"no worker answered the {name!r} query for {run_id!r} within "
                    f"{_QUERY_TIMEOUT.total_seconds():.0f}s; is a worker polling task queue "
                    f"{self.settings.task_queue!r}? (`baton up` or `baton worker`)") from exc
            raise
        return answer

    async def status(self, run_id: str) -> AgentStatus:
        return await self.query(run_id, "status", None, AgentStatus)

    async def run_log_page(self, run_id: str, offset: int = 0, limit: int = _PAGE, *,
                           temporal_run_id: str | None = None) -> RunLogPage:
        """One page of the run log of the current continuation (or of ``temporal_run_id``)."""
        return await self.query(run_id, "run_log", PageRequest(offset=offset, limit=limit),
                                RunLogPage, temporal_run_id=temporal_run_id)

    async def current_log(self, run_id: str, *, offset: int = 0,
                          temporal_run_id: str | None = None) -> list[RunEvent]:
        """Every event of one continuation from ``offset`` on, paging through ``run_log``."""
        events: list[RunEvent] = []
        while True:
            page = await self.run_log_page(run_id, offset + len(events),
                                           temporal_run_id=temporal_run_id)
            events.extend(page.events)
            if not page.events or page.offset + len(page.events) >= page.total:
                return events

    async def run_log(self, run_id: str) -> list[RunEvent]:
        """The whole run log of one workflow: every continuation (continue-as-new), oldest
        first, then the current one. Member runs keep their own logs (see :meth:`tree`)."""
        _, events = await _runlog.whole_log(self, run_id)
        return events

    async def messages(self, run_id: str, *, temporal_run_id: str | None = None
                       ) -> list[Message]:
        """The run's conversation, paging through the ``messages`` query."""
        out: list[Message] = []
        while True:
            page = await self.query(run_id, "messages", PageRequest(offset=len(out), limit=_PAGE),
                                    MessagesPage, temporal_run_id=temporal_run_id)
            out.extend(page.messages)
            if not page.messages or page.offset + len(page.messages) >= page.total:
                return out

    async def workflow_input(self, run_id: str, *, temporal_run_id: str | None = None
                             ) -> RunInput:
        """The ``RunInput`` a workflow was started with: the first history event's payload."""
        return await _runlog.run_input(self, run_id, temporal_run_id=temporal_run_id)

    # -- the whole run -----------------------------------------------------------------------
    async def tree(self, run_id: str) -> RunView:
        """The run as a tree: this workflow (all continuations) and, recursively, every member
        run it started (child workflows, found through the run log's ``child`` events)."""
        return await _runlog.view(self, run_id)

    async def show(self, run_id: str) -> RunView:
        """Everything ``baton show`` prints: the tree, statuses, results, totals."""
        return await self.tree(run_id)

    async def search_runs(self, query: str, *, limit: int = 50,
                          top_level_only: bool = True) -> list[RunRow]:
        """Runs matching a visibility ``query`` (see :func:`baton.client._search.runs_query`)."""
        return await _search.search(self.client, query, limit=limit,
                                    top_level_only=top_level_only)

    # -- approvals ---------------------------------------------------------------------------
    async def pending_approvals(self, run_id: str | None = None, *, team: str | None = None,
                                tenant: str | None = None) -> list[PendingApproval]:
        """Open approvals of a run: its own, and those of member runs (child workflows) that
        wait for a person, found through the ``BatonStatus`` search attribute. Without a run
        id: every run waiting for a person (``team``/``tenant`` narrow it down)."""
        if run_id is None:
            return await _search.pending_everywhere(self, team=team, tenant=tenant)
        pending = await self.query(run_id, "pending_approvals", None, list[PendingApproval])
        query = (f"BatonStatus = '{RunStatus.AWAITING_APPROVAL.value}' "
                 f"AND WorkflowId STARTS_WITH '{run_id}.'")
        async for child in self.client.list_workflows(query):
            pending += await self.query(child.id, "pending_approvals", None,
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
                raise self.missing(run_id) from exc
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

    def watch(self, run_id: str, *, interval_s: float = POLL_INTERVAL_S
              ) -> AsyncIterator[RunEvent]:
        """Yield run-log events as they are appended; stop once the run has finished."""
        return _runlog.follow(self, run_id, interval_s=interval_s)

    async def closed(self, run_id: str) -> bool:
        description = await self.describe(run_id)
        return description.status not in (None, WorkflowExecutionStatus.RUNNING)
