"""``AgentHost``: the public handlers of a workflow that hosts one agent loop in itself.

``AgentWorkflow`` hosts its agent; a supervisor hosts its router. Each workflow hosts at most
one loop, so ``messages`` (the llm activity's prefix rebuild) is unambiguous; every other agent
runs as a child workflow with its own handlers.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

from baton import visibility
from baton.approvals import DecisionReceipt, PendingApproval
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

__all__ = ["AgentHost", "set_status"]


def decoded(raw: RawValue) -> object:
    """A raw signal/update payload as plain JSON, or a marker a decision check refuses."""
    try:
        return workflow.payload_converter().from_payload(raw.payload)
    except Exception as exc:  # any bytes may arrive: never fail the workflow task on them
        return f"an undecodable payload ({type(exc).__name__})"


def set_status(status: RunStatus, cost_usd: float | None = None) -> None:
    updates: list[SearchAttributeUpdate[Any]] = [visibility.STATUS.value_set(status.value)]
    if cost_usd is not None:
        updates.append(visibility.COST_USD.value_set(cost_usd))
    workflow.upsert_search_attributes(updates)


class AgentHost(AdmissionHost):
    _loop: AgentLoop

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

    @workflow.query(name="pending_approvals")
    def pending_approvals(self) -> list[PendingApproval]:
        return self._loop.gate.pending()

    # ``decide`` takes the raw payload and validates it itself: a malformed decision is refused
    # and recorded in the run log, never dropped by the SDK or failing a workflow task.
    @workflow.signal(name="decide")
    def decide_by_signal(self, decision: RawValue) -> None:
        self._loop.gate.receive(decoded(decision))

    @workflow.update(name="decide")
    def decide(self, decision: RawValue) -> DecisionReceipt:
        return self._loop.gate.receive(decoded(decision))

    @decide.validator
    def _validate_decide(self, decision: RawValue) -> None:
        gate = self._loop.gate
        if not gate.admits_more_refusals():
            problem = gate.refusal_without_audit(decoded(decision))
            if problem is not None:
                raise ApplicationError(problem, type="ApprovalRefused", non_retryable=True)
