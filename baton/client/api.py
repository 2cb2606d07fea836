"""``BatonClient``: start runs, decide approvals, wait for results, and read runs.

A *run id* is the Temporal workflow id (``support-1a2b3c4d``): it is what the Temporal UI, the
``temporal`` CLI and ``baton show`` all accept.

Everything that only reads runs belongs to :class:`baton.client.reader.RunReader`, available as
``client.runs``; the reading methods kept here are thin delegations to it, so that the common
calls (``status``, ``result``, ``show``, ``watch``, ``pending_approvals``) stay one hop away.
This class adds what needs more than reading: starting runs, the ``decide`` update, replaying a
tool against this process's ledger, and connecting with the process's tracing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionDescription,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.client import _replay
from baton.client._operations import Operations, StartedRun, new_run_id
from baton.client._runlog import VERSION_MEMO
from baton.client._tracing import client_interceptors
from baton.client._workflow import not_found
from baton.client.reader import POLL_INTERVAL_S, RunReader
from baton.client.session import Session, Sessions
from baton.client.views import ReplayReport, RunRow, RunView
from baton.errors import (
    ApprovalRefusedError,
    QueryTimeoutError,
    RunExistsError,
    RunNotFoundError,
    RunRefusedError,
    StackError,
)
from baton.rollout import team_digest
from baton.runs import Admission, AgentStatus, RunEvent, RunInput, RunResult, RunStatus
from baton.settings import BatonSettings
from baton.signing import load_private_key, signed
from baton.specs import TeamSpec
from baton.streaming import TreeEvent
from baton.visibility import AGENT, STATUS, TEAM, TENANT, VERSION

__all__ = [
    "WORKFLOW_TYPE",
    "ApprovalRefusedError",
    "BatonClient",
    "QueryTimeoutError",
    "RunExistsError",
    "RunView",
    "Session",
    "StartedRun",
    "new_run_id",
]

WORKFLOW_TYPE = "AgentWorkflow"  # pattern "single"; other patterns: workflows.workflow_type
ADMISSION_TIMEOUT_S = 30.0
NO_WORKER_ADMISSION_S = 3.0


class BatonClient(Operations, Sessions):
    """Typed async API over one Temporal client (built by ``worker.connect``); reads go through
    ``runs``, a :class:`RunReader` over the same client."""

    def __init__(self, client: Client, settings: BatonSettings) -> None:
        self.client = client
        self.settings = settings
        self.runs = RunReader(client, namespace=settings.namespace,
                              task_queue=settings.task_queue, ui_url=settings.temporal_ui_url)

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

    # -- starting ----------------------------------------------------------------------------
    async def start(self, team: TeamSpec | str | Path, input: str, *, tenant: str = "default",
                    subject: str | None = None, run_id: str | None = None,
                    use_rollout: bool = True) -> str:
        """Start a run of ``team`` (a spec, a YAML path or a deployed team's name) and return its
        run id; a team with a rollout runs the version it chooses (see ``start_run``).
        ``subject`` names whom it is about (long-term memory is kept per tenant and subject)."""
        started = await self.start_run(team, input, tenant=tenant, subject=subject,
                                       run_id=run_id, use_rollout=use_rollout)
        return started.run_id

    async def start_input(self, run: RunInput, *, run_id: str | None = None,
                          version: StartedRun | None = None,
                          admission_timeout_s: float | None = ADMISSION_TIMEOUT_S) -> str:
        """Start a run from a complete ``RunInput`` (``baton resume`` sets ``resume`` on it).

        Waits until a worker has admitted the run (resolved the model profiles and tools the
        team names) and raises ``RunRefusedError`` when it does not serve one of them. Without a
        worker within ``admission_timeout_s`` the run id is returned anyway: the run starts as
        soon as a worker polls its task queue. ``None`` does not wait at all."""
        spec = run.team
        run_id = run_id or new_run_id(spec.name)
        attributes = TypedSearchAttributes([
            SearchAttributePair(TEAM, spec.name), SearchAttributePair(TENANT, run.tenant),
            SearchAttributePair(AGENT, spec.agent(run.agent).name),
            SearchAttributePair(VERSION, version.digest if version else team_digest(spec)),
            # The workflow upserts the status as it goes; setting it here makes the run
            # findable by status before its first workflow task has even run.
            SearchAttributePair(STATUS, RunStatus.RUNNING.value),
        ])
        from baton.workflows import workflow_type  # the pattern -> workflow type table, one place

        options: dict[str, Any] = {
            "id": run_id, "task_queue": self.settings.task_queue, "search_attributes": attributes,
            # A run id names one run forever: reusing it would make `baton show` ambiguous.
            "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE}
        if version is not None and version.label is not None:  # `baton show` names the version
            options["memo"] = {VERSION_MEMO: {"label": version.label, "track": version.track}}
        try:
            if admission_timeout_s is None:
                await self.client.start_workflow(workflow_type(spec), run, **options)
            else:
                await self._start_admitted(workflow_type(spec), run, options, admission_timeout_s)
        except WorkflowAlreadyStartedError as exc:
            raise RunExistsError(f"run {run_id!r} already exists; choose another --run-id") \
                from exc
        return run_id

    async def _start_admitted(self, workflow: str, run: object, options: dict[str, Any],
                              timeout_s: float | None = None) -> None:
        """Start and ask for admission in one request (update-with-start), so the answer comes
        from the run's first workflow task, before a refused run closes."""
        timeout_s = ADMISSION_TIMEOUT_S if timeout_s is None else timeout_s
        if not await self._workers_polling():
            # Nobody has polled lately: a worker that is only just starting still gets a moment,
            # then the run waits for one (it starts when a worker polls its task queue).
            timeout_s = min(timeout_s, NO_WORKER_ADMISSION_S)
        operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            workflow, run, id_conflict_policy=WorkflowIDConflictPolicy.FAIL, **options)
        try:
            update = await self.client.start_update_with_start_workflow(
                "admission", start_workflow_operation=operation,
                wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=Admission,
                rpc_timeout=timedelta(seconds=timeout_s))
            admission: Admission = await update.result(
                rpc_timeout=timedelta(seconds=timeout_s))
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            # The run was started; no worker admitted it in time (busy or not there yet): it
            # is admitted when one takes it, and `baton run` says so while it waits.
            await self.describe(options["id"])
            return
        if not admission.accepted:
            run_id = options["id"]
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

    async def cancel(self, run_id: str) -> RunResult:
        """Cancel a run and wait for it to end: every pattern stops what it does, cancels its
        members (their pending approvals close as cancelled), keeps its partial results and
        ends ``cancelled``. Returns the typed result (partial output included)."""
        try:
            await self.client.get_workflow_handle(run_id).cancel()
        except RPCError as exc:
            if not_found(exc):
                raise RunNotFoundError(f"no run {run_id!r}") from exc
            raise
        return await self.result(run_id)

    # -- deciding ----------------------------------------------------------------------------
    async def decide(self, decision: ApprovalDecision, *, workflow_id: str,
                     run_id: str | None = None) -> DecisionReceipt:
        """Approve, reject or edit through the ``decide`` update: the workflow checks it
        (unknown id, already decided, approver not allowed, signature) and answers at once; a
        refusal raises ``ApprovalRefusedError`` and is recorded in the run log.

        With ``settings.decider_key_file`` an unsigned decision is signed for ``run_id`` (the
        approval's run; default ``workflow_id``) before it is sent."""
        key_file = self.settings.decider_key_file
        if decision.signature is None and key_file is not None:
            decision = signed(decision, load_private_key(key_file),
                              run_id=run_id or workflow_id)
        try:
            receipt: DecisionReceipt = await self.client.get_workflow_handle(
                workflow_id).execute_update("decide", decision, result_type=DecisionReceipt)
        except WorkflowUpdateFailedError as exc:
            raise ApprovalRefusedError(str(exc.cause or exc)) from exc
        except RPCError as exc:
            if not_found(exc):
                raise RunNotFoundError(f"no run {workflow_id!r}") from exc
            raise
        if not receipt.accepted:
            raise ApprovalRefusedError(receipt.reason or "refused")
        return receipt

    async def replay_tool(self, run_id: str, call_id: str, *,
                          arguments: dict[str, Any] | None = None, dry_run: bool = False,
                          force: bool = False) -> ReplayReport:
        """Re-run one recorded tool call outside the run (see :mod:`baton.client._replay`):
        the reader finds it, this client's settings give the ledger it runs against."""
        return await _replay.replay_tool(self.runs, self.settings, run_id, call_id,
                                         arguments=arguments, dry_run=dry_run, force=force)

    # -- reading: thin delegations to ``self.runs`` (a RunReader) ----------------------------
    def ui_url(self, run_id: str) -> str:
        return self.runs.ui_url(run_id)

    async def describe(self, run_id: str) -> WorkflowExecutionDescription:
        return await self.runs.describe(run_id)

    async def closed(self, run_id: str) -> bool:
        return await self.runs.closed(run_id)

    async def status(self, run_id: str) -> AgentStatus:
        return await self.runs.status(run_id)

    async def result(self, run_id: str) -> RunResult:
        """Wait for the run to end; a failed, terminated or timed-out workflow still becomes a
        ``RunResult`` (status failed/cancelled and the reason)."""
        return await self.runs.result(run_id)

    async def run_log(self, run_id: str) -> list[RunEvent]:
        """The whole run log of one workflow, across continue-as-new."""
        return await self.runs.run_log(run_id)

    async def workflow_input(self, run_id: str, *, temporal_run_id: str | None = None
                             ) -> RunInput:
        return await self.runs.workflow_input(run_id, temporal_run_id=temporal_run_id)

    async def tree(self, run_id: str) -> RunView:
        """The run with its member runs, events and totals."""
        return await self.runs.tree(run_id)

    async def show(self, run_id: str) -> RunView:
        """Everything ``baton show`` prints: the tree, statuses, results, totals."""
        return await self.runs.tree(run_id)

    async def search_runs(self, query: str, *, limit: int = 50,
                          top_level_only: bool = True) -> list[RunRow]:
        """Runs matching a visibility ``query`` (see :func:`baton.client.reader.runs_query`)."""
        return await self.runs.search(query, limit=limit, top_level_only=top_level_only)

    async def pending_approvals(self, run_id: str | None = None, *, team: str | None = None,
                                tenant: str | None = None) -> list[PendingApproval]:
        """Open approvals of a run and its member runs; without a run id, of every run."""
        return await self.runs.pending_approvals(run_id, team=team, tenant=tenant)

    def events(self, run_id: str, offset: int = 0) -> AsyncIterator[RunEvent]:
        """The run's events as they happen (model call started and answered with usage, tool
        calls with results, approvals, members started and finished, the end), from
        ``offset`` (an event's ``seq``: resume after a disconnect with the last seq + 1) on,
        across continue-as-new; ends after the run's ``finished`` event. Long-polls the run's
        ``events`` update; nothing is polled from history."""
        return self.runs.events(run_id, offset=offset)

    def event_tree(self, run_id: str, offset: int = 0) -> AsyncIterator[TreeEvent]:
        """``events`` of the run and of every member run it starts (child workflows at any
        depth), merged as they happen; each ``TreeEvent`` names the workflow that logged it."""
        return self.runs.event_tree(run_id, offset=offset)

    def watch(self, run_id: str, *, interval_s: float = POLL_INTERVAL_S
              ) -> AsyncIterator[RunEvent]:
        """The run's events from its start (``events(run_id)``); ``interval_s`` paces the
        query fallback used while the run refuses more long polls."""
        return self.runs.watch(run_id, interval_s=interval_s)
