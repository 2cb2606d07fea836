"""``SessionWorkflow``: a conversation with a running team, one workflow per session.

Public interface: update ``send`` (a message; answers with the team's reply), update ``close``
(``/exit``), queries ``session``, ``status``, ``run_log``, ``pending_approvals``, signal and
update ``decide`` (a turn's approvals, routed to the turn's run), update and query ``events``.

Messages wait in a queue in the workflow and are answered one at a time, in order. Temporal
bounds the updates in flight per workflow (10 by default), and the same bound serves people's
decisions and event streams, so a session queues at most ``max_queued`` unanswered messages and
refuses more with ``SessionBusy``, recording nothing. It continues as new between turns when its
history (or its count of updates) is long, carrying the compacted conversation; messages still
queued then fail with ``SessionContinuing`` and the client sends them again to the new run. It
ends on ``close``, after ``idle_timeout_s`` without a message (a durable timer), or when the
budget is spent; messages it never answered fail with ``SessionClosed``.
"""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from baton.runs import (
    Admission,
    AgentStatus,
    ContinuedEvent,
    FinishedEvent,
    PageRequest,
    RunLogPage,
    RunResult,
    RunStatus,
)
from baton.sessions import (
    SESSION_AGENT,
    SESSION_BUSY,
    SESSION_CLOSED,
    SESSION_CONTINUING,
    SESSION_WORKFLOW,
    SessionCarry,
    SessionInput,
    SessionMessage,
    SessionReply,
    SessionView,
)
from baton.workflows._admission import INVALID_INPUT, AdmissionHost
from baton.workflows._approval import ApprovalGate
from baton.workflows._approvals_host import ApprovalsHost
from baton.workflows._ending import conclude
from baton.workflows._events import EventsHost
from baton.workflows._host import set_status
from baton.workflows._relay import ApprovalRelay
from baton.workflows._runlog import RunLog
from baton.workflows._session import Pending, SessionRun

__all__ = ["SessionWorkflow"]

UPDATES_PER_RUN = 1_000  # half of Temporal's per-run update limit: then continue as new


@workflow.defn(name=SESSION_WORKFLOW, failure_exception_types=INVALID_INPUT)
class SessionWorkflow(AdmissionHost, ApprovalsHost, EventsHost):
    @workflow.init
    def __init__(self, session: SessionInput) -> None:
        self._s = SessionRun(session)

    @workflow.run
    async def run(self, session: SessionInput) -> RunResult:
        s = self._s
        if not await s.start():
            assert s.admission is not None
            return conclude(await self._end(RunStatus.FAILED, "refused", (
                "the worker does not serve what the team names: " + s.admission.reason),
                error_type="not_served"))
        try:
            while True:
                s.waiting(idle=True)
                try:
                    await workflow.wait_condition(
                        lambda: bool(s.queue) or s.closing,
                        timeout=timedelta(seconds=session.idle_timeout_s),
                        timeout_summary="the session's idle timeout")
                except TimeoutError:
                    return conclude(await self._end(
                        RunStatus.COMPLETED, "idle",
                        f"no message for {session.idle_timeout_s:g} s: the session ended"))
                if s.closing:
                    return conclude(await self._end(RunStatus.COMPLETED, "closed",
                                                    "the user closed the session"))
                s.waiting(idle=False)
                reply = await self._turn(s.queue[0])
                if not reply.open:
                    return conclude(await self._end(
                        RunStatus.BUDGET_EXHAUSTED, "budget",
                        f"the session's budget is spent: {reply.reason or 'no room left'}"))
                await self._maybe_continue_as_new()
        except asyncio.CancelledError:
            return conclude(await self._end(RunStatus.CANCELLED, "cancelled",
                                            "the session was cancelled"))

    async def _turn(self, pending: Pending) -> SessionReply:
        """Answer the first queued message. The turn runs in a task of its own: a run awaiting
        a child workflow does not see its own cancellation (the SDK turns it into the child's),
        so the session awaits the turn shielded, and when it is cancelled cancels the turn's
        run, gives the message the cancelled turn's reply and ends."""
        s = self._s
        turn = asyncio.get_running_loop().create_task(s.answer(pending))
        try:
            reply = await asyncio.shield(turn)
        except asyncio.CancelledError:
            turn.cancel()
            reply = await turn  # the turn's run closes cancelled, and the turn is recorded
            s.queue.pop(0)
            s.replies[pending.key] = reply
            raise
        s.queue.pop(0)
        s.replies[pending.key] = reply
        return reply

    async def _end(self, status: RunStatus, why: str, reason: str, *,
                   error_type: str | None = None) -> RunResult:
        """Close the session: unanswered messages fail, the log and visibility say why."""
        s = self._s
        s.ended, s.status = why, status
        for pending in s.queue:
            s.replies[pending.key] = (SESSION_CLOSED, f"the session ended ({why}) before this "
                                                      "message was answered")
        s.queue.clear()
        s.log.add(FinishedEvent, step=s.turns, status=status, reason=reason)
        set_status(status, cost_usd=round(s.budget.cost_usd, 6))
        await workflow.wait_condition(workflow.all_handlers_finished)
        last = s.recent[-1].reply if s.recent else None
        return RunResult(run_id=s.session_id, team=s.team.name, agent=SESSION_AGENT,
                         status=status, output=last, reason=reason, error_type=error_type,
                         steps=s.turns,
                         usage=s.budget.usage, cost_usd=round(s.budget.cost_usd, 6),
                         details={"turns": s.turns, "ended": why})

    async def _maybe_continue_as_new(self) -> None:
        s, info = self._s, workflow.info()
        if s.closing:  # the loop ends the session instead
            return
        limits = s.team.history
        events, size = info.get_current_history_length(), info.get_current_history_size()
        if not (info.is_continue_as_new_suggested() or events >= limits.continue_as_new_events
                or size >= limits.continue_as_new_bytes
                or s.sends + self._polls.taken >= UPDATES_PER_RUN):
            return
        s.continuing = True
        for pending in s.queue:  # not started: the client sends them again to the new run
            s.replies[pending.key] = (SESSION_CONTINUING, "the session continues as new")
        s.queue.clear()
        s.log.add(ContinuedEvent, step=s.turns, previous_run=info.run_id, history_events=events,
                  history_bytes=size, compacted_messages=0)
        await workflow.wait_condition(workflow.all_handlers_finished)
        now = workflow.now()
        carry = SessionCarry(
            turns=s.turns, conversation=s.conversation, recent=s.recent, usage=s.budget.usage,
            cost_usd=s.budget.cost_usd, started_at=s.budget.started_at,
            waited_s=s.budget.paused_s(now), log_offset=s.log.offset + len(s.log.events),
            previous_runs=[*s.previous_runs, info.run_id], closing=s.closing)
        # A session may outlive a deploy: its next run starts on the deployment's current
        # version (the carry is its whole contract), so old workers drain with the turn.
        workflow.continue_as_new(
            s.input.model_copy(update={"carry": carry}),
            initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE)

    # -- messages -----------------------------------------------------------------------------
    @workflow.update(name="send")
    async def send(self, message: SessionMessage) -> SessionReply:
        s = self._s
        info = workflow.current_update_info()
        key = info.id if info is not None else workflow.uuid4().hex
        s.queue.append(Pending(key, message.text))
        s.sends += 1
        await workflow.wait_condition(lambda: key in s.replies)
        answer = s.replies.pop(key)
        if isinstance(answer, tuple):
            kind, why = answer
            raise ApplicationError(why, type=kind, non_retryable=True)
        return answer

    @send.validator
    def _validate_send(self, message: SessionMessage) -> None:
        s = self._s
        if s.ended is not None or s.closing:
            raise ApplicationError(f"the session has ended ({s.ended or 'closing'})",
                                   type=SESSION_CLOSED, non_retryable=True)
        if s.continuing:
            raise ApplicationError("the session continues as new: send again",
                                   type=SESSION_CONTINUING, non_retryable=True)
        if len(s.queue) >= s.input.max_queued:
            raise ApplicationError(
                f"{len(s.queue)} messages wait for a reply already (this session queues at "
                f"most {s.input.max_queued}); send this one once a reply has come",
                type=SESSION_BUSY, non_retryable=True)

    @workflow.update(name="close")
    def close(self) -> SessionView:
        self._s.closing = True
        return self.session()

    # -- reading ------------------------------------------------------------------------------
    @workflow.query(name="session")
    def session(self) -> SessionView:
        s = self._s
        state = "ended" if s.ended is not None else "closing" if s.closing else "open"
        return SessionView(
            session_id=s.session_id, team=s.team.name, state=state, ended=s.ended,
            turns=s.turns, queued=len(s.queue), recent=s.recent, usage=s.budget.usage,
            cost_usd=round(s.budget.cost_usd, 6), idle_timeout_s=s.input.idle_timeout_s,
            previous_runs=s.previous_runs)

    @workflow.query(name="status")
    def status(self) -> AgentStatus:
        s = self._s
        last = s.log.events[-1].kind if s.log.events else None
        return AgentStatus(
            run_id=s.session_id, team=s.team.name, agent=SESSION_AGENT, status=s.status,
            step=s.turns, max_steps=0, usage=s.budget.usage,
            cost_usd=round(s.budget.cost_usd, 6), last_event=last,
            previous_runs=s.previous_runs)

    @workflow.query(name="run_log")
    def run_log(self, page: PageRequest) -> RunLogPage:
        log = self._s.log
        return RunLogPage(offset=page.offset, total=len(log.events),
                          events=log.page(page.offset, page.limit))

    def _admitted(self) -> Admission | None:
        return self._s.admission

    def _approvals(self) -> tuple[ApprovalGate, ApprovalRelay]:
        return self._s.gate, self._s.relay

    def _event_log(self) -> RunLog:
        return self._s.log
