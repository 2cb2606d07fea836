"""Running a team's members (agents or sub-teams) as child workflows, with budget slices.

Delegation is a member run that returns a result to the caller; a transfer (handoff) moves
control and is expressed by the member's result (``RunStatus.TRANSFERRED``). Child workflow ids
are deterministic (``<parent>.<member>.<n>``), so every idempotency key inside a member is stable
across replays, retries and restarts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import CancelledError, ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

from baton import visibility
from baton.messages import Message, size_of
from baton.runs import (
    ChildEvent,
    ChildRecord,
    MembersCarry,
    RunInput,
    RunResult,
    RunStatus,
)
from baton.specs import AgentSpec, TeamSpec
from baton.workflows._budget import BudgetTracker, estimate_tokens, schema_texts
from baton.workflows._ending import result_of_failure
from baton.workflows._inputs import contract_of
from baton.workflows._runlog import RunLog
from baton.workflows.prompts import system_prompt

__all__ = ["WORKFLOW_TYPES", "Members", "workflow_type"]

_CARRIED_OUTPUT = 500

WORKFLOW_TYPES = {
    "single": "AgentWorkflow", "supervisor": "SupervisorWorkflow",
    "hierarchical": "HierarchicalWorkflow", "pipeline": "PipelineWorkflow",
    "fanout": "FanoutWorkflow", "debate": "DebateWorkflow", "handoff": "HandoffWorkflow",
    "blackboard": "BlackboardWorkflow",
}


def workflow_type(team: TeamSpec) -> str:
    return WORKFLOW_TYPES[team.pattern]


def _grown(agent: AgentSpec, factor: float) -> AgentSpec:
    """The agent with ``factor`` times its steps (a retry after it needed help)."""
    return agent.model_copy(update={"max_steps": min(10_000, math.ceil(agent.max_steps * factor))})


class Members:
    def __init__(self, run: RunInput, run_id: str, log: RunLog, budget: BudgetTracker) -> None:
        self.input, self.team, self.run_id = run, run.team, run_id
        self.log, self.budget = log, budget
        # What members plan with: the catalog the run was admitted with (set at admission).
        self.catalog = run.catalog
        self.records: list[ChildRecord] = []
        self._started = 0

    def restore(self, carry: MembersCarry) -> None:
        """Continue where the previous continuation stopped (child ids stay unique)."""
        self._started, self.records = carry.started, list(carry.records)

    def carry(self, state: dict[str, Any]) -> MembersCarry:
        # Outputs are cut: the records say who did what; each member's full answer stays in
        # its own workflow (baton show reads it there).
        records = [r.model_copy(update={"output": (r.output or "")[:_CARRIED_OUTPUT] or None})
                   for r in self.records]
        return MembersCarry(started=self._started, records=records, state=state)

    def _child(self, member: str, task: str, *, context: Sequence[Message],
               transfer_targets: Sequence[str], share: float, grow: float,
               sees: str | None) -> tuple[str, RunInput]:
        team = self.team
        now = workflow.now()
        if team.member_kind(member) == "agent":
            budget = self.budget.slice(team.budget, share, now=now)
            spec = team.for_agent(member, budget)
            if grow > 1:
                spec = spec.model_copy(update={"agents": (_grown(spec.agents[0], grow),)})
            contracts = {t: c for t in transfer_targets if (c := contract_of(team, t))}
            return "AgentWorkflow", RunInput(
                team=spec, input=task, tenant=self.input.tenant, subject=self.input.subject,
                agent=member,
                parent_run_id=self.run_id, context=list(context),
                transfer_targets={t: team.agent(t).description for t in transfer_targets},
                transfer_inputs=contracts, sees=sees,
                trace_id=self.input.trace_id, catalog=self.catalog)
        sub = team.teams[member]
        sub = sub.model_copy(update={"budget": self.budget.slice(sub.budget, share, now=now)})
        if grow > 1:
            sub = sub.model_copy(update={"agents": tuple(_grown(a, grow) for a in sub.agents)})
        return workflow_type(sub), RunInput(team=sub, input=task, tenant=self.input.tenant,
                                            subject=self.input.subject,
                                            parent_run_id=self.run_id, sees=sees,
                                            trace_id=self.input.trace_id, catalog=self.catalog)

    async def run(self, member: str, task: str, *, step: int = 0,
                  context: Sequence[Message] = (), transfer_targets: Sequence[str] = (),
                  share: float = 1.0, grow: float = 1.0, sees: str | None = None) -> RunResult:
        """Run ``member`` on ``task`` to its typed result; a crashed child becomes FAILED.
        ``grow`` > 1 gives it that many times its steps and budget share (a retry after it
        needed help); ``sees`` records what it was given of earlier work."""
        kind = self.team.member_kind(member)
        self._started += 1
        child_id = f"{workflow.info().workflow_id}.{member}.{self._started}"
        workflow_name, child_input = self._child(
            member, task, context=context, transfer_targets=transfer_targets,
            share=min(1.0, share * grow), grow=grow, sees=sees)
        refused = self.budget.exhausted(workflow.now()) or self._slice_too_small(
            child_input, task, context)
        if refused:
            return self._record(member, kind, child_id, task, step=step, sees=sees,
                                result=RunResult(
                                    run_id=self.run_id, team=self.team.name, agent=member,
                                    status=RunStatus.BUDGET_EXHAUSTED, reason=refused))
        self.log.add(ChildEvent, step=step, action="started", member=member, member_kind=kind,
                     workflow_id=child_id, task=task[:2_000], sees=sees)
        self.budget.reserve(child_input.team.budget)
        try:
            result = await workflow.execute_child_workflow(
                workflow_name, child_input, id=child_id, result_type=RunResult,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(visibility.TEAM, self.team.name),
                    SearchAttributePair(visibility.TENANT, self.input.tenant),
                    SearchAttributePair(visibility.AGENT, member),
                    # Set at start so the child need not upsert it (one visibility write less
                    # per member, which adds up in a fan-out of fifty).
                    SearchAttributePair(visibility.STATUS, RunStatus.RUNNING.value),
                ]),
                static_summary=f"{kind} {member}: {task[:120]}",
                # Cancelling the run cancels its members (they record it and close their
                # approvals); explicit, because Temporal's default would terminate them.
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            )
        except ChildWorkflowError as exc:
            # A member that did not complete closes failed (or cancelled) with its typed result;
            # anything else is a crash of the member's workflow.
            cause = exc.cause or exc
            typed = result_of_failure(exc)
            cancelled = isinstance(cause, CancelledError)
            result = typed or RunResult(
                run_id=self.run_id, team=self.team.name, agent=member,
                status=RunStatus.CANCELLED if cancelled else RunStatus.FAILED,
                error_type=None if cancelled else "child_failed",
                reason=f"{member} was cancelled" if cancelled else f"{member} failed: {cause}")
        self.budget.release(child_input.team.budget)
        self.budget.charge(result.usage, result.cost_usd)
        return self._record(member, kind, child_id, task, step=step, sees=sees, result=result)

    def _slice_too_small(self, child: RunInput, task: str, context: Sequence[Message]
                         ) -> str | None:
        """Why the member's budget slice cannot pay for even its first model call (then it is
        not started: a member that can only fail would still cost a workflow and a call)."""
        agent = child.team.agent(child.agent)
        profile = self.catalog.profiles.get(agent.model) if self.catalog else None
        if profile is None:
            return None
        tools = [t for name in agent.tools if (t := self.catalog.tools.get(name)) is not None] \
            if self.catalog else []
        texts = [system_prompt(agent.name, agent.description, agent.instructions,
                               agent.output_schema), task, *schema_texts(tools, None)]
        prompt = estimate_tokens(texts, messages=2 + len(context),
                                 measured_bytes=sum(size_of(m) for m in context))
        if self.budget.can_pay_for(child.team.budget, prompt,
                                   price_input_per_mtok=profile.price_input_per_mtok,
                                   price_output_per_mtok=profile.price_output_per_mtok):
            return None
        return (f"the budget left for {child.agent or child.team.name} cannot pay for its "
                f"first model call (about {prompt:,} prompt tokens plus an answer)")

    def _record(self, member: str, kind: str, child_id: str, task: str, *, step: int,
                sees: str | None, result: RunResult) -> RunResult:
        record = ChildRecord(
            member=member, kind="team" if kind == "team" else "agent", workflow_id=child_id,
            status=result.status, task=task[:2_000], output=result.output, reason=result.reason,
            steps=result.steps, usage=result.usage, cost_usd=result.cost_usd, sees=sees,
            needs_help=result.needs_help)
        self.records.append(record)
        self.log.add(ChildEvent, step=step, action="finished", member=member,
                     member_kind=record.kind, workflow_id=child_id, task=record.task,
                     status=result.status, output=result.output, reason=result.reason,
                     usage=result.usage, cost_usd=result.cost_usd,
                     needs_help=result.needs_help)
        return result
