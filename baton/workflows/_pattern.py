"""Shared state and handlers of pattern workflows (members run as child workflows).

A pipeline, a fan-out, a debate … orchestrates members (each a child workflow); the one agent a
pattern may host in its own workflow (a fan-out's merger) has its conversation and its gate
here. ``PatternRun`` holds what every such pattern
owns — the run input, the run id, a ``RunLog``, a ``BudgetTracker`` and the ``Members`` that
start children — and turns the end of the run into a typed ``RunResult``. ``PatternHost`` gives
the workflow the same public queries as an agent (``status``, ``run_log``, ``messages``,
``pending_approvals``) so the CLI and the UI treat every run alike.

Approvals wait in the members (children); they report them here (``_relay``), so this run lists
them, reports ``awaiting_approval`` and routes decisions sent to it to the member that holds the
approval.
"""

import json
from typing import Any

from temporalio import workflow

from baton.approvals import ApprovalAuthority
from baton.calls import CallSchemas
from baton.reports import NeedsHelp
from baton.runs import (
    Admission,
    AgentStatus,
    ChildRecord,
    ContinuedEvent,
    FinishedEvent,
    MessagesPage,
    PageRequest,
    PatternCarry,
    RunInput,
    RunLogPage,
    RunResult,
    RunStatus,
    StartedEvent,
)
from baton.workflows._admission import AdmissionHost, admit
from baton.workflows._agent_loop import AgentLoop
from baton.workflows._approval import ApprovalGate, awaiting_details
from baton.workflows._approvals_host import ApprovalsHost
from baton.workflows._budget import BudgetTracker
from baton.workflows._events import EventsHost
from baton.workflows._host import set_status
from baton.workflows._members import Members
from baton.workflows._relay import ApprovalRelay
from baton.workflows._runlog import RunLog

__all__ = ["PatternHost", "PatternRun", "output_of"]


def output_of(result: RunResult) -> str:
    """A member's typed output as text: its structured JSON when it has an output schema (so the
    next member reads exactly the validated object), else its answer."""
    if result.structured is not None:
        return json.dumps(result.structured, ensure_ascii=False)
    return result.output or ""


class PatternRun:
    """One pattern run's state. ``step`` counts finished units of work (stages, branches,
    rounds …) against ``max_steps``; ``current`` names the member working right now."""

    def __init__(self, run: RunInput, *, max_steps: int) -> None:
        info = workflow.info()
        self.input = run
        self.team = run.team
        self.pattern: str = run.team.pattern
        # A nested pattern belongs to its parent's run (one script, one ledger, one trace).
        self.run_id = run.parent_run_id or info.workflow_id
        carry = run.pattern_carry
        self.log = RunLog(self.pattern, offset=carry.log_offset if carry else 0)
        self.budget = BudgetTracker(
            run.team.budget, carry.started_at if carry else workflow.now(),
            usage=carry.usage if carry else None, cost_usd=carry.cost_usd if carry else 0.0,
            waited_s=carry.waited_s if carry else 0.0)
        self.members = Members(run, self.run_id, self.log, self.budget)
        self.state: dict[str, Any] = {}  # the pattern's own, carried into continuations
        self.previous_runs: list[str] = []
        if carry is not None:
            self.members.restore(carry.members)
            self.state, self.previous_runs = dict(carry.members.state), list(carry.previous_runs)
        self.status = RunStatus.RUNNING
        self.step = carry.step if carry else 0
        self.max_steps = max_steps
        self.current: str | None = None
        self.admission: Admission | None = None
        # A pattern's own gate asks a person only whether a member that needs help may try again
        # (a pipeline's on_needs_help: ask_person); it also answers (and audits) decisions that
        # name no member's approval. The relay holds its members' approvals.
        self.gate = ApprovalGate(self.log, ApprovalAuthority(), on_change=self._people_changed)
        self.relay = ApprovalRelay(on_change=self._people_changed)
        self.hosted: AgentLoop | None = None  # an agent running inside this workflow
        # What hosted agents sent in full, by digest: a router hosted again next round refers to
        # its schemas instead of sending them again.
        self.schemas_sent: dict[str, CallSchemas] = {}

    async def host_agent(self, agent: str, task: str, *, step: int) -> RunResult:
        """Run one of the team's agents in this workflow, as the supervisor hosts its router: no
        child workflow to start and wait for. Its slice of the budget is reserved like a
        member's, its events go to this run's log, its approvals are decided here and its
        conversation is served by this workflow's ``messages`` query."""
        info, now = workflow.info(), workflow.now()
        exhausted = self.budget.exhausted(now)
        if exhausted:
            return RunResult(run_id=self.run_id, team=self.team.name, agent=agent,
                             status=RunStatus.BUDGET_EXHAUSTED, reason=exhausted)
        budget = self.budget.slice(self.team.budget, 1.0, now=now)
        run = RunInput(team=self.team.for_agent(agent, budget), input=task,
                       tenant=self.input.tenant, subject=self.input.subject, agent=agent,
                       parent_run_id=self.run_id,
                       trace_id=self.input.trace_id, catalog=self.members.catalog)
        loop = AgentLoop(run, run_id=self.run_id, path=f"{info.workflow_id}/{agent}",
                         on_status=self._hosted_status, can_continue_as_new=False,
                         log=self.log.as_agent(agent))
        assert run.catalog is not None  # bound by start()
        assert self.admission is not None
        loop.bind(run.catalog, self.admission)
        loop.schemas_sent = self.schemas_sent
        self.hosted, self.current = loop, agent
        self.budget.reserve(budget)
        try:
            result = await loop.run_to_end()
        finally:
            self.budget.release(budget)
        self.budget.charge(result.usage, result.cost_usd)
        self.members.records.append(ChildRecord(
            member=agent, kind="agent", workflow_id=info.workflow_id, status=result.status,
            task=task[:2_000], output=result.output, reason=result.reason, steps=result.steps,
            usage=result.usage, cost_usd=result.cost_usd))
        return result

    def _hosted_status(self, status: RunStatus) -> None:
        if not self.status.finished:
            self.status = status
            set_status(status)

    async def start(self) -> RunResult | None:
        """Admit the run, log its start and mark it RUNNING in visibility; the typed refusal
        when the worker does not serve what the team names (the run ends with it)."""
        catalog, self.admission = await admit(self.input)
        if not self.admission.accepted:
            refused = self.finish(RunStatus.FAILED, reason="the worker does not serve what the "
                                  f"team names: {self.admission.reason}",
                                  error_type="not_served")
            # The client waiting on the admission update gets its answer before the run closes.
            await workflow.wait_condition(workflow.all_handlers_finished)
            return refused
        self.members.catalog = catalog
        self.gate.authority = catalog.approvals
        if self.input.pattern_carry is None:  # a continuation goes on; it did not start
            self.log.add(StartedEvent, step=0, input=self.input.input[:2_000],
                         team=self.team.name, tenant=self.input.tenant)
        set_status(RunStatus.RUNNING)
        return None

    async def continue_if_long(self, state: dict[str, Any]) -> None:
        """Between units of work: when the history is long enough (Temporal suggests it, or
        the team's ``history`` limits are reached), continue as new, carrying ``state`` and
        everything this run accounts (log position, budget, member records, continuations).
        Returns only when the run goes on in this history."""
        info = workflow.info()
        limits = self.team.history
        events, size = info.get_current_history_length(), info.get_current_history_size()
        if not (info.is_continue_as_new_suggested() or events >= limits.continue_as_new_events
                or size >= limits.continue_as_new_bytes):
            return
        self.log.add(ContinuedEvent, step=self.step, previous_run=info.run_id,
                     history_events=events, history_bytes=size, compacted_messages=0)
        now = workflow.now()
        carry = PatternCarry(
            members=self.members.carry(state), step=self.step, usage=self.budget.usage,
            cost_usd=self.budget.cost_usd, started_at=self.budget.started_at,
            waited_s=self.budget.paused_s(now), log_offset=self.log.offset + len(self.log.events),
            previous_runs=[*self.previous_runs, info.run_id])
        # Decisions and member reports in flight finish here before the run is replaced.
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self.input.model_copy(update={
            "pattern_carry": carry, "catalog": self.members.catalog}))

    def _people_changed(self) -> None:
        if self.status.finished:
            return
        # Its own questions (a stage that needs help) and its members' approvals.
        waiting = [*self.gate.pending(), *self.relay.pending.values()]
        self.budget.wait_for_people(bool(waiting), workflow.now())
        self.status = RunStatus.AWAITING_APPROVAL if waiting else RunStatus.RUNNING
        set_status(self.status)
        if waiting:
            workflow.set_current_details(awaiting_details(waiting, workflow.now()))

    def finish(self, status: RunStatus, output: str | None = None, reason: str | None = None,
               details: dict[str, Any] | None = None, *, error_type: str | None = None,
               structured: dict[str, Any] | None = None,
               needs_help: NeedsHelp | None = None) -> RunResult:
        """The typed end of the run: logged, visible in the search attributes, returned."""
        self.status, self.current = status, None
        self.log.add(FinishedEvent, step=self.step, status=status, reason=reason)
        set_status(status, cost_usd=round(self.budget.cost_usd, 6))
        return RunResult(
            run_id=self.run_id, team=self.team.name, agent=self.pattern, status=status,
            output=output, structured=structured, reason=reason, error_type=error_type,
            steps=self.step, usage=self.budget.usage, cost_usd=self.budget.cost_usd,
            children=list(self.members.records), details=details or {}, needs_help=needs_help)


class PatternHost(AdmissionHost, ApprovalsHost, EventsHost):
    """Queries of a pattern workflow; the subclass sets ``self._pattern`` in its ``__init__``
    (decorated ``@workflow.init``) so a query arriving with the first task finds it."""

    _pattern: PatternRun

    def _event_log(self) -> RunLog:
        return self._pattern.log

    def _admitted(self) -> Admission | None:
        return self._pattern.admission

    def _approvals(self) -> tuple[ApprovalGate, ApprovalRelay]:
        run = self._pattern
        hosted = run.hosted
        # While a hosted agent runs, its gate holds this run's own approvals.
        gate = hosted.gate if hosted is not None and not hosted.status.finished else run.gate
        return gate, run.relay

    @workflow.query(name="status")
    def status(self) -> AgentStatus:
        run = self._pattern
        last = run.log.events[-1].kind if run.log.events else None
        return AgentStatus(
            run_id=run.run_id, team=run.team.name, agent=run.current or run.pattern,
            status=run.status, step=run.step, max_steps=run.max_steps, usage=run.budget.usage,
            cost_usd=round(run.budget.cost_usd, 6), last_event=last,
            previous_runs=run.previous_runs)

    @workflow.query(name="run_log")
    def run_log(self, page: PageRequest) -> RunLogPage:
        log = self._pattern.log
        return RunLogPage(offset=page.offset, total=len(log.events),
                          events=log.page(page.offset, page.limit))

    @workflow.query(name="call_schemas")
    def call_schemas(self, digest: str) -> CallSchemas:
        """The tools and output schema a hosted agent's model call referred to by digest (none:
        this workflow sent no such thing)."""
        return self._pattern.schemas_sent.get(digest) or CallSchemas()

    @workflow.query(name="messages")
    def messages(self, page: PageRequest) -> MessagesPage:
        # The hosted agent's conversation (the llm activity rebuilds its prefix from it); the
        # members keep theirs in their own workflows.
        hosted = self._pattern.hosted
        messages = hosted.messages() if hosted is not None else []
        return MessagesPage(offset=page.offset, total=len(messages),
                            messages=messages[page.offset : page.offset + page.limit])
