"""People and the end of a run as its history shows them: ``decide`` signals and updates, the
approvals memo, the ``BatonStatus`` search attribute, timers and cancellation (handed to
``approvals``), continue-as-new, and how the workflow closed.

A run that did not complete closes its workflow failed with its typed ``RunResult`` as the
failure's first detail (``baton.workflows._ending``), so the result reads from history either
way; a workflow that crashed, was terminated or timed out gets a ``failed`` result saying so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from temporalio.api.history.v1 import HistoryEvent

from baton.client._history.decode import MISSING
from baton.client._history.state import WalkState, at, jdict
from baton.runs import (
    ChildEvent,
    ContinuedEvent,
    FinishedEvent,
    RunResult,
    RunStatus,
    StartedEvent,
)
from baton.visibility import STATUS
from baton.workflows._approval import MEMO_KEY
from baton.workflows._workflow_tools import TRANSFER_PREFIX

__all__ = ["RunEvents"]

_COMPACTED = re.compile(r"\[Summary of (\d+) earlier messages")  # see workflows._history


class RunEvents(WalkState):
    # -- people -------------------------------------------------------------------------------
    async def _on_workflow_execution_signaled_event_attributes(self, event: HistoryEvent,
                                                               attrs: Any) -> None:
        name = attrs.signal_name
        if name not in ("decide", "member_approvals"):
            return
        value = await self.decoder.first(attrs.input.payloads,
                                         f"the {name} signal (event {event.event_id})")
        if value is MISSING:
            return
        if name == "decide":
            self.approvals.decision(at(event), value, None, agent=self.host, step=self.step)
        else:
            self.approvals.member_change(value)

    async def _on_workflow_execution_update_accepted_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        request = attrs.accepted_request
        if request.input.name == "decide":
            self.updates[request.meta.update_id] = await self.decoder.first(
                request.input.args.payloads, f"the decide update (event {event.event_id})")

    async def _on_workflow_execution_update_completed_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        decision = self.updates.pop(attrs.meta.update_id, MISSING)
        if decision is MISSING:
            return
        if attrs.outcome.HasField("success"):
            receipt = await self.decoder.first(
                attrs.outcome.success.payloads, f"the decide update's answer (event "
                                                f"{event.event_id})")
        else:
            _, message = await self.failure(attrs.outcome.failure)
            receipt = {"accepted": False, "reason": message}
        if receipt is not MISSING:
            self.approvals.decision(at(event), decision, receipt, agent=self.host,
                                    step=self.step)

    async def _on_workflow_properties_modified_event_attributes(self, event: HistoryEvent,
                                                                attrs: Any) -> None:
        fields = attrs.upserted_memo.fields
        if MEMO_KEY in fields:
            value = await self.decoder.value(fields[MEMO_KEY],
                                             f"the approvals memo (event {event.event_id})")
            self.approvals.memo(at(event), value, agent=self.host, step=self.step)

    async def _on_upsert_workflow_search_attributes_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        fields = attrs.search_attributes.indexed_fields
        if STATUS.name not in fields:
            return
        try:  # search attributes are never encoded by a codec: Temporal indexes them
            value = json.loads(fields[STATUS.name].data)
        except ValueError:
            return
        if isinstance(value, str):
            self.run_status = value
            self.approvals.status(at(event), value)

    async def _on_timer_started_event_attributes(self, event: HistoryEvent, attrs: Any) -> None:
        summary: Any = ""
        if event.HasField("user_metadata") and event.user_metadata.HasField("summary"):
            summary = await self.decoder.value(event.user_metadata.summary,
                                               f"a timer's summary (event {event.event_id})")
        self.approvals.timer_started(attrs.timer_id, summary if isinstance(summary, str) else "")

    async def _on_timer_fired_event_attributes(self, event: HistoryEvent, attrs: Any) -> None:
        self.approvals.timer_fired(attrs.timer_id)

    async def _on_workflow_execution_cancel_requested_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        self.approvals.cancel_requested()

    # -- continuation and end -----------------------------------------------------------------
    async def _on_workflow_execution_continued_as_new_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        value = await self.decoder.first(attrs.input.payloads,
                                         f"the continuation's input (event {event.event_id})")
        carry = jdict(jdict(value).get("carry")) or jdict(jdict(value).get("pattern_carry"))
        compacted = 0
        for message in carry.get("messages") or []:
            found = _COMPACTED.match(str(jdict(message).get("content") or ""))
            compacted = int(found.group(1)) if found else compacted
        step = carry.get("step")
        self.emit(ContinuedEvent, at(event), agent=self.host,
                  step=step if isinstance(step, int) else self.step, previous_run=self.run_id,
                  history_events=event.event_id, history_bytes=self.size,
                  compacted_messages=compacted)
        self.execution_status, self.closed_at = "CONTINUED_AS_NEW", at(event)

    async def _on_workflow_execution_completed_event_attributes(self, event: HistoryEvent,
                                                                attrs: Any) -> None:
        value = await self.decoder.first(attrs.result.payloads, "the run's result")
        self._close(event, "COMPLETED", self.run_result(value, agent=self.host), logged=True)

    async def _on_workflow_execution_failed_event_attributes(self, event: HistoryEvent,
                                                             attrs: Any) -> None:
        typed = await self.typed_result(attrs.failure, self.host)
        if typed is not None:
            self._close(event, "FAILED", typed, logged=True)
            return
        error_type, message = await self.failure(attrs.failure)  # a crash, not a Baton ending
        self._close(event, "FAILED", self._crashed(f"workflow failed: {message}", error_type),
                    logged=False)

    async def _on_workflow_execution_canceled_event_attributes(self, event: HistoryEvent,
                                                               attrs: Any) -> None:
        usage, cost = self.spent()  # Temporal keeps no result for a cancellation
        self._close(event, "CANCELED", RunResult(
            run_id=self.team_run_id, team=self.team, agent=self.host,
            status=RunStatus.CANCELLED, reason="the run was cancelled", steps=self.step,
            usage=usage, cost_usd=cost), logged=True)

    async def _on_workflow_execution_terminated_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        reason = attrs.reason or "no reason given"
        self._close(event, "TERMINATED",
                    self._crashed(f"workflow terminated: {reason}", "TerminatedError"),
                    logged=False)

    async def _on_workflow_execution_timed_out_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        self._close(event, "TIMED_OUT", self._crashed("workflow timed out", "TimeoutError"),
                    logged=False)

    def _crashed(self, reason: str, error_type: str) -> RunResult:
        usage, cost = self.spent()
        return RunResult(run_id=self.team_run_id, team=self.team, agent=self.host,
                         status=RunStatus.FAILED, reason=reason, error_type=error_type,
                         steps=self.step, usage=usage, cost_usd=cost)

    def _close(self, event: HistoryEvent, state: str, result: RunResult | None, *,
               logged: bool) -> None:
        """The workflow closed; ``logged``: its code ended the run (the live log says so)."""
        self.execution_status, self.closed_at, self.result = state, at(event), result
        if result is None:
            return  # its payload could not be decoded; the notes say so
        for call in [c for c in self.calls.values() if c.name.startswith(TRANSFER_PREFIX)]:
            # A transfer ends the agent's turn: no later model call carries its result.
            target = call.name.removeprefix(TRANSFER_PREFIX)
            self.workflow_tool(event, call, f"Transferred to {target}.", is_error=False)
            del self.calls[call.call_id]
        started = {m.workflow_id for m in self.members}
        for record in result.children:  # members a budget refused: never started, still told
            if record.workflow_id not in started:
                self.emit(ChildEvent, at(event), agent=self.host, step=self.step,
                          action="finished", member=record.member, member_kind=record.kind,
                          workflow_id=record.workflow_id, task=record.task,
                          status=record.status, output=record.output, reason=record.reason,
                          usage=record.usage, cost_usd=record.cost_usd,
                          needs_help=record.needs_help)
        if logged:
            self.emit(FinishedEvent, at(event), agent=self.host, step=result.steps,
                      status=result.status, reason=result.reason)
        if result.error_type == "not_served":  # refused at admission: it never started
            self.out = [entry for entry in self.out if entry[0] is not StartedEvent]
