"""A session's state and its turns: each message answered by a run of the team (a child
workflow) that is given the conversation so far.

Why a child run per turn rather than one agent loop hosted across turns: every pattern can hold
a conversation (a supervisor, a pipeline, not only a single agent), and a turn *is* a run —
its approvals, budget slice, members, retries, run log and ``baton show`` work exactly as in
any run, and a person decides a turn's approval through the session as through a team's run
(the turn reports it here). The session itself holds only the conversation (compacted to the
team's ``history.keep_recent_messages`` plus a summary), a few recent turns and the spend, so
continuing it as new is cheap. The price: each turn's input carries that compacted
conversation, and a turn costs one child workflow start (docs/architecture.md#sessions).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import CancelledError, ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

from baton import visibility
from baton.approvals import ApprovalAuthority
from baton.calls import Catalog
from baton.messages import AssistantMessage, Message, UserMessage
from baton.runs import Admission, ChildEvent, RunInput, RunResult, RunStatus, StartedEvent
from baton.sessions import SESSION_AGENT, SessionInput, SessionReply, SessionTurn
from baton.workflow_records import PendingMessage as Pending
from baton.workflows._admission import admit
from baton.workflows._approval import ApprovalGate, awaiting_details
from baton.workflows._budget import BudgetTracker
from baton.workflows._ending import result_of_failure
from baton.workflows._host import set_status
from baton.workflows._members import workflow_type
from baton.workflows._relay import ApprovalRelay
from baton.workflows._runlog import RunLog

__all__ = ["Pending", "SessionRun", "compacted", "with_conversation"]

RECENT_TURNS = 20  # turns the session keeps to show on resume (all are in their own runs)
_SUMMARY_CHARS = 8_000
_SUMMARY_HEAD = "[Summary of the conversation before the messages that follow]"


def compacted(messages: list[Message], keep: int) -> list[Message]:
    """The conversation a turn is given: a summary of older exchanges (merged into the previous
    summary), then the last ``keep`` messages, starting with the user's."""
    keep -= keep % 2  # whole exchanges: a user message, then the reply
    if len(messages) <= keep + 1:
        return messages
    older, recent = messages[: len(messages) - keep], messages[len(messages) - keep :]
    lines: list[str] = []
    for message in older:
        if isinstance(message, UserMessage) and message.source == "baton":
            lines += message.content.splitlines()[1:]  # an earlier summary, without its head
        elif isinstance(message, UserMessage | AssistantMessage):
            who = "user" if isinstance(message, UserMessage) else "assistant"
            lines.append(f"{who}: {' '.join((message.content or '').split())[:300]}")
    body = "\n".join(lines)
    if len(body) > _SUMMARY_CHARS:  # the most recent part of the summary is kept
        body = "…\n" + body[-_SUMMARY_CHARS:]
    return [UserMessage(source="baton", content=f"{_SUMMARY_HEAD}\n{body}"), *recent]


def with_conversation(messages: list[Message], text: str) -> str:
    """A pattern team's task: the conversation so far in words, then the new message."""
    if not messages:
        return text
    lines = []
    for message in messages:
        if isinstance(message, UserMessage) and message.source == "baton":
            lines.append(message.content)
        elif isinstance(message, UserMessage | AssistantMessage):
            who = "user" if isinstance(message, UserMessage) else "you"
            lines.append(f"{who}: {message.content or ''}")
    return ("The conversation so far:\n" + "\n".join(lines)
            + f"\n\nThe user's new message:\n{text}")


class SessionRun:
    def __init__(self, session: SessionInput) -> None:
        info, carry = workflow.info(), session.carry
        self.input, self.team, self.session_id = session, session.team, info.workflow_id
        self.log = RunLog(SESSION_AGENT, offset=carry.log_offset if carry else 0)
        self.budget = BudgetTracker(
            session.team.budget, carry.started_at if carry else workflow.now(),
            usage=carry.usage if carry else None, cost_usd=carry.cost_usd if carry else 0.0,
            waited_s=carry.waited_s if carry else 0.0)
        self.turns = carry.turns if carry else 0
        self.conversation: list[Message] = list(carry.conversation) if carry else []
        self.recent: list[SessionTurn] = list(carry.recent) if carry else []
        self.previous_runs: list[str] = list(carry.previous_runs) if carry else []
        self.catalog: Catalog | None = None
        self.admission: Admission | None = None
        self.queue: list[Pending] = []  # unanswered messages, the one being answered first
        self.replies: dict[str, SessionReply | tuple[str, str]] = {}  # or (error type, why)
        # A close that came while the previous run was continuing as new ends this one.
        self.closing, self.continuing = bool(carry and carry.closing), False
        self.ended: str | None = None
        self.idle = False
        self.sends = 0  # send updates this continuation accepted
        self.status = RunStatus.RUNNING
        # The session asks no person itself: its gate answers decisions that name no turn's
        # approval; the relay holds the approvals of the turn in progress.
        self.gate = ApprovalGate(self.log, ApprovalAuthority(), on_change=self.people_changed)
        self.relay = ApprovalRelay(on_change=self.people_changed)

    async def start(self) -> bool:
        """Admit the session: resolve what the team names, as a run does; False when it is
        refused. Every continuation resolves again, unlike a run's, which inherit: a session
        may outlive a deploy, and its next continuation starts on the deployment's current
        version, so its next turns use what the workers serve now."""
        catalog, self.admission = await admit(RunInput(
            team=self.team, input="(a session)", tenant=self.input.tenant))
        if not self.admission.accepted:
            return False
        self.catalog = catalog
        self.gate.authority = catalog.approvals
        if self.input.carry is None:
            self.log.add(StartedEvent, step=0, input="(a session: one run per message)",
                         team=self.team.name, tenant=self.input.tenant)
        set_status(RunStatus.RUNNING)
        return True

    def waiting(self, idle: bool) -> None:
        """The session waits for its user (idle) or works: the wall clock counts work only."""
        self.idle = idle
        self.people_changed()

    def people_changed(self) -> None:
        if self.status.finished:
            return
        waiting = list(self.relay.pending.values())
        self.budget.wait_for_people(self.idle or bool(waiting), workflow.now())
        status = RunStatus.AWAITING_APPROVAL if waiting else RunStatus.RUNNING
        if status is not self.status:
            self.status = status
            set_status(status)
        if waiting:
            workflow.set_current_details(awaiting_details(waiting, workflow.now()))

    # -- one turn -----------------------------------------------------------------------------
    async def answer(self, pending: Pending) -> SessionReply:
        """Answer one message with a run of the team; record the exchange."""
        self.turns += 1
        turn, child_id = self.turns, f"{self.session_id}.turn.{self.turns}"
        exhausted = self.budget.exhausted(workflow.now())
        result = await self._run(turn, child_id, pending.text) if exhausted is None else (
            RunResult(run_id=self.session_id, team=self.team.name, agent=SESSION_AGENT,
                      status=RunStatus.BUDGET_EXHAUSTED, reason=exhausted))
        said = result.output if result.status is RunStatus.COMPLETED else None
        self.conversation = compacted([
            *self.conversation, UserMessage(content=pending.text, source="user"),
            AssistantMessage(content=said or f"[no answer: the turn ended {result.status}]")],
            self.team.history.keep_recent_messages)
        record = SessionTurn(turn=turn, message=pending.text[:2_000], reply=result.output,
                             status=result.status, reason=result.reason, workflow_id=child_id,
                             usage=result.usage, cost_usd=result.cost_usd)
        self.recent = [*self.recent, record][-RECENT_TURNS:]
        # The turn was given all the session had left: a turn that ran out of budget means
        # the next one could not be paid for either, so the session ends with it.
        spent = result.status is RunStatus.BUDGET_EXHAUSTED or (
            self.budget.exhausted(workflow.now()) is not None)
        return SessionReply(
            session_id=self.session_id, turn=turn, status=result.status, text=result.output,
            reason=result.reason, workflow_id=child_id, usage=result.usage,
            cost_usd=result.cost_usd, open=not spent)

    async def _run(self, turn: int, child_id: str, text: str) -> RunResult:
        team, now = self.team, workflow.now()
        budget = self.budget.slice(team.budget, 1.0, now=now)
        if team.pattern == "single":
            member, kind, workflow_name = team.agent().name, "agent", "AgentWorkflow"
            child = RunInput(team=team.for_agent(member, budget), input=text,
                             tenant=self.input.tenant, agent=member,
                             parent_run_id=self.session_id, context=list(self.conversation),
                             trace_id=self.input.trace_id, catalog=self.catalog)
        else:
            member, kind, workflow_name = team.name, "team", workflow_type(team)
            child = RunInput(team=team.model_copy(update={"budget": budget}),
                             input=with_conversation(self.conversation, text),
                             tenant=self.input.tenant, parent_run_id=self.session_id,
                             trace_id=self.input.trace_id, catalog=self.catalog)
        self.log.add(ChildEvent, step=turn, action="started", member=member, member_kind=kind,
                     workflow_id=child_id, task=text[:2_000])
        self.budget.reserve(budget)
        result: RunResult
        try:
            result = await workflow.execute_child_workflow(
                workflow_name, child, id=child_id, result_type=RunResult,
                search_attributes=TypedSearchAttributes([
                    SearchAttributePair(visibility.TEAM, team.name),
                    SearchAttributePair(visibility.TENANT, self.input.tenant),
                    SearchAttributePair(visibility.AGENT, member),
                    SearchAttributePair(visibility.STATUS, RunStatus.RUNNING.value)]),
                static_summary=f"turn {turn}: {text[:120]}",
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL)
        except ChildWorkflowError as exc:
            cancelled = isinstance(exc.cause, CancelledError)
            result = result_of_failure(exc) or RunResult(
                run_id=self.session_id, team=team.name, agent=member,
                status=RunStatus.CANCELLED if cancelled else RunStatus.FAILED,
                error_type=None if cancelled else "child_failed",
                reason=f"turn {turn} {'was cancelled' if cancelled else 'failed'}: "
                       f"{exc.cause or exc}")
        finally:
            self.budget.release(budget)
        self.budget.charge(result.usage, result.cost_usd)
        self.log.add(ChildEvent, step=turn, action="finished", member=member, member_kind=kind,
                     workflow_id=child_id, task=text[:2_000], status=result.status,
                     output=result.output, reason=result.reason, usage=result.usage,
                     cost_usd=result.cost_usd)
        return result
