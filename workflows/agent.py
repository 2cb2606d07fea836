"""``AgentWorkflow``: one agent's durable loop, the run workflow of pattern ``single`` and the
child every other pattern starts per agent (so the Temporal UI shows the tree).

Public interface (people type these names): query ``status``, ``messages``, ``run_log``,
``pending_approvals``; signal and update ``decide``.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from baton import visibility
    from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
    from baton.runs import (
        AgentStatus,
        MessagesPage,
        PageRequest,
        RunInput,
        RunLogPage,
        RunResult,
        RunStatus,
    )
    from workflows._agent_loop import AgentLoop, ContinueAsNew

__all__ = ["AgentWorkflow"]


@workflow.defn(name="AgentWorkflow")
class AgentWorkflow:
    @workflow.init
    def __init__(self, run: RunInput) -> None:
        # Built in __init__ so queries, signals and updates that arrive with the first workflow
        # task already find the loop (and its approval gate).
        info = workflow.info()
        # A child agent belongs to its parent's run; a top-level agent *is* the run.
        run_id = run.parent_run_id or info.workflow_id
        agent = run.team.agent(run.agent).name
        path = agent if run.parent_run_id is None else f"{info.workflow_id}/{agent}"
        self._loop = AgentLoop(run, run_id=run_id, path=path, on_status=self._set_status)

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        if run.carry is None:
            self._set_status(RunStatus.RUNNING)
        try:
            result = await self._loop.run_to_end()
        except ContinueAsNew as cut:
            # Let in-flight update handlers (decide) finish before the run is replaced.
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(run.model_copy(update={"carry": cut.carry}))
        self._set_status(result.status, cost_usd=result.cost_usd)
        return result

    def _set_status(self, status: RunStatus, cost_usd: float | None = None) -> None:
        updates: list[SearchAttributeUpdate[Any]] = [visibility.STATUS.value_set(status.value)]
        if cost_usd is not None:
            updates.append(visibility.COST_USD.value_set(cost_usd))
        workflow.upsert_search_attributes(updates)

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

    @workflow.signal(name="decide")
    def decide_by_signal(self, decision: ApprovalDecision) -> None:
        self._loop.gate.on_signal(decision)

    @workflow.update(name="decide")
    def decide(self, decision: ApprovalDecision) -> DecisionReceipt:
        return self._loop.gate.apply(decision)

    @decide.validator
    def _validate_decide(self, decision: ApprovalDecision) -> None:
        self._loop.gate.validate(decision)
