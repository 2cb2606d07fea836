"""``AgentHost``: the public handlers of a workflow that hosts one agent loop in itself.

``AgentWorkflow`` hosts its agent; a supervisor hosts its router. Each workflow hosts at most
one loop, so ``messages`` (the llm activity's prefix rebuild) is unambiguous; every other agent
runs as a child workflow with its own handlers.
"""

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

from baton import visibility
from baton.calls import CallSchemas
from baton.runs import (
    Admission,
    AgentStatus,
    MessagesPage,
    PageRequest,
    RunInput,
    RunLogPage,
    RunResult,
    RunStatus,
)
from baton.workflows._admission import AdmissionHost, admit
from baton.workflows._agent_loop import AgentLoop
from baton.workflows._approval import ApprovalGate
from baton.workflows._approvals_host import ApprovalsHost
from baton.workflows._events import EventsHost
from baton.workflows._relay import ApprovalRelay
from baton.workflows._runlog import RunLog

__all__ = ["AgentHost", "set_status"]


def set_status(status: RunStatus, cost_usd: float | None = None) -> None:
    updates: list[SearchAttributeUpdate[Any]] = [visibility.STATUS.value_set(status.value)]
    if cost_usd is not None:
        updates.append(visibility.COST_USD.value_set(cost_usd))
    workflow.upsert_search_attributes(updates)


class AgentHost(AdmissionHost, ApprovalsHost, EventsHost):
    _loop: AgentLoop

    def _event_log(self) -> RunLog:
        return self._loop.log

    def _approvals(self) -> tuple[ApprovalGate, ApprovalRelay]:
        return self._loop.gate, self._loop.relay

    def _admitted(self) -> Admission | None:
        return self._loop.admission

    async def _admit(self, run: RunInput) -> RunResult | None:
        """Resolve the run's catalog and bind the loop to it; the typed refusal when the worker
        does not serve what the team names (the run then ends with it)."""
        catalog, admission = await admit(run)
        self._loop.bind(catalog, admission)
        if not admission.accepted:
            result = self._loop.refuse(admission)
            set_status(result.status, cost_usd=0.0)
            # The client waiting on the admission update gets its answer before the run closes.
            await workflow.wait_condition(workflow.all_handlers_finished)
            return result
        return None

    @workflow.query(name="status")
    def status(self) -> AgentStatus:
        loop = self._loop
        last = loop.log.events[-1].kind if loop.log.events else None
        return AgentStatus(
            run_id=loop.run_id, team=loop.team.name, agent=loop.agent.name, status=loop.status,
            step=loop.step, max_steps=loop.agent.max_steps, usage=loop.budget.usage,
            cost_usd=round(loop.budget.cost_usd, 6), last_event=last,
            previous_runs=loop.previous_runs,
        )

    @workflow.query(name="call_schemas")
    def call_schemas(self, digest: str) -> CallSchemas:
        """The tools and output schema a model call referred to by digest (see ``CallSchemas``;
        none: this workflow sent no such thing)."""
        return self._loop.schemas_sent.get(digest) or CallSchemas()

    @workflow.query(name="messages")
    def messages(self, page: PageRequest) -> MessagesPage:
        conversation = self._loop.conversation
        return MessagesPage(offset=page.offset, total=len(conversation),
                            messages=conversation.page(page.offset, page.limit))

    @workflow.query(name="run_log")
    def run_log(self, page: PageRequest) -> RunLogPage:
        log = self._loop.log
        return RunLogPage(offset=page.offset, total=len(log.events),
                          events=log.page(page.offset, page.limit))
