"""Reading one workflow of a run: describe, queries, run-log pages, messages, input, result.

A *run id* is the Temporal workflow id (``support-1a2b3c4d``). Queries answer for finished runs
too, as long as the namespace retains the workflow and a worker is polling to replay it.
:class:`WorkflowReader` is the base of :class:`baton.client.reader.RunReader`; the helper
modules that walk whole runs take a ``WorkflowReader`` so that they never import the reader.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError, RPCStatusCode

from baton.errors import QueryTimeoutError, RunNotFoundError
from baton.messages import Message
from baton.runs import (
    RUN_NOT_COMPLETED,
    AgentStatus,
    MessagesPage,
    PageRequest,
    RunEvent,
    RunInput,
    RunLogPage,
    RunResult,
    RunStatus,
)
from baton.visibility import AGENT, TEAM

__all__ = ["PAGE", "WorkflowReader", "not_found", "run_result", "typed_result"]

PAGE = 500
_QUERY_TIMEOUT = timedelta(seconds=15)  # a query waits for a worker; never hang the CLI forever
_TIMED_OUT = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)
_T = TypeVar("_T")


def not_found(exc: BaseException) -> bool:
    return isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND


def typed_result(error: WorkflowFailureError) -> RunResult | None:
    """The ``RunResult`` of a run that did not succeed: its workflow closed failed with the
    result as the failure's first detail (see ``baton.workflows._ending``)."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == RUN_NOT_COMPLETED and cause.details:
        return RunResult.model_validate(cause.details[0])
    return None


async def run_result(handle: WorkflowHandle[Any, Any]) -> RunResult:
    """Wait for a run's workflow and return its ``RunResult``, whether the workflow completed,
    closed failed because the run did not succeed, or was cancelled (a crash or a termination
    still raises)."""
    try:
        result: RunResult = await handle.result()
    except WorkflowFailureError as exc:
        typed = typed_result(exc)
        if typed is not None:
            return typed
        if isinstance(exc.cause, CancelledError):
            return await _cancelled(handle)
        raise
    return RunResult.model_validate(result) if isinstance(result, dict) else result


async def _cancelled(handle: WorkflowHandle[Any, Any]) -> RunResult:
    """A cancelled run closes without a result (Temporal keeps none for a cancellation): its
    final status query still has the run's team, agent, usage and cost."""
    try:
        status: AgentStatus = await handle.query("status", result_type=AgentStatus,
                                                 rpc_timeout=_QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError):  # no worker to answer: the facts Temporal has
        return RunResult(run_id=handle.id, team="?", agent="?", status=RunStatus.CANCELLED,
                         reason="the run was cancelled")
    return RunResult(run_id=status.run_id, team=status.team, agent=status.agent,
                     status=RunStatus.CANCELLED, reason="the run was cancelled",
                     steps=status.step, usage=status.usage, cost_usd=status.cost_usd)


class WorkflowReader:
    """Reads over one Temporal client; needs only the namespace, task queue and UI address
    (for links and for error messages that say what to start)."""

    def __init__(self, client: Client, *, namespace: str, task_queue: str, ui_url: str) -> None:
        self.client = client
        self.namespace = namespace
        self.task_queue = task_queue
        self._ui = ui_url

    def ui_url(self, run_id: str) -> str:
        return f"{self._ui}/namespaces/{self.namespace}/workflows/{run_id}"

    def _missing(self, run_id: str) -> RunNotFoundError:
        return RunNotFoundError(f"no run {run_id!r} in namespace {self.namespace!r}")

    def _handle(self, run_id: str, temporal_run_id: str | None = None
                ) -> WorkflowHandle[Any, RunResult]:
        return self.client.get_workflow_handle(run_id, run_id=temporal_run_id,
                                               result_type=RunResult)

    async def describe(self, run_id: str) -> WorkflowExecutionDescription:
        try:
            return await self._handle(run_id).describe()
        except RPCError as exc:
            if not_found(exc):
                raise self._missing(run_id) from exc
            raise

    async def closed(self, run_id: str) -> bool:
        description = await self.describe(run_id)
        return description.status not in (None, WorkflowExecutionStatus.RUNNING)

    async def query(self, run_id: str, name: str, arg: Any, result_type: type[_T], *,
                    temporal_run_id: str | None = None) -> _T:
        """Run a query on the run (or on one continuation of it, ``temporal_run_id``)."""
        try:
            answer: _T = await self._handle(run_id, temporal_run_id).query(
                name, arg, result_type=result_type, rpc_timeout=_QUERY_TIMEOUT)
        except RPCError as exc:
            if not_found(exc):
                raise self._missing(run_id) from exc
            if exc.status in _TIMED_OUT:  # the SDK reports its own rpc_timeout as CANCELLED
                raise QueryTimeoutError(
                    f"no worker answered the {name!r} query for {run_id!r} within "
                    f"{_QUERY_TIMEOUT.total_seconds():.0f}s; is a worker polling task queue "
                    f"{self.task_queue!r}? (`baton up` or `baton worker`)") from exc
            raise
        return answer

    async def status(self, run_id: str) -> AgentStatus:
        return await self.query(run_id, "status", None, AgentStatus)

    async def run_log_page(self, run_id: str, offset: int = 0, limit: int = PAGE, *,
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

    async def messages(self, run_id: str, *, temporal_run_id: str | None = None
                       ) -> list[Message]:
        """The run's conversation, paging through the ``messages`` query."""
        out: list[Message] = []
        while True:
            page = await self.query(run_id, "messages", PageRequest(offset=len(out), limit=PAGE),
                                    MessagesPage, temporal_run_id=temporal_run_id)
            out.extend(page.messages)
            if not page.messages or page.offset + len(page.messages) >= page.total:
                return out

    async def workflow_input(self, run_id: str, *, temporal_run_id: str | None = None
                             ) -> RunInput:
        """The ``RunInput`` a workflow was started with: the first history event's payload.
        Read from history, not a query, so it needs no worker."""
        handle = self.client.get_workflow_handle(run_id, run_id=temporal_run_id)
        try:
            async for event in handle.fetch_history_events():
                payloads = list(event.workflow_execution_started_event_attributes.input.payloads)
                [run] = await self.client.data_converter.decode(payloads, [RunInput])
                if isinstance(run, RunInput):
                    return run
                break
        except RPCError as exc:
            if not_found(exc):
                raise self._missing(run_id) from exc
            raise
        raise RunNotFoundError(f"run {run_id!r} has no Baton run input in its history")

    async def result(self, run_id: str) -> RunResult:
        """Wait for the run to end. Always a ``RunResult``: a workflow that crashed, was
        terminated or timed out becomes one with status failed and the reason."""
        try:
            return await run_result(self._handle(run_id))
        except RPCError as exc:
            if not_found(exc):
                raise self._missing(run_id) from exc
            raise
        except WorkflowFailureError as exc:
            closed = await self.describe(run_id)
            state = closed.status.name.lower() if closed.status else "failed"
            cause = exc.cause
            return RunResult(
                run_id=run_id,
                team=closed.typed_search_attributes.get(TEAM) or "?",
                agent=closed.typed_search_attributes.get(AGENT) or "?",
                status=RunStatus.FAILED, reason=f"workflow {state}: {cause or exc}",
                error_type=type(cause).__name__ if cause else None,
            )
