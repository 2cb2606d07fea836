"""Member runs as their parent's history shows them: started (with the member's input) and
ended (with its typed ``RunResult``, also when the member's workflow closed failed).

Everything here is what the parent itself knew, so a pattern run read from one history file
still tells who was asked what and how each member ended, with its usage and cost.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.history.v1 import HistoryEvent

from baton.client._history.state import MemberFacts, WalkState, at, host_of, jdict, text
from baton.runs import ChildEvent, RunResult, RunStatus
from baton.sessions import SESSION_AGENT

__all__ = ["MemberEvents"]


class MemberEvents(WalkState):
    async def _on_start_child_workflow_execution_initiated_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        value = await self.decoder.first(attrs.input.payloads,
                                         f"member input (event {event.event_id})")
        run, child_id, child_type = jdict(value), attrs.workflow_id, attrs.workflow_type.name
        # Member runs are ``<parent>.<member>.<n>``, and a member's name has no dots; a
        # session's turns are ``<session>.turn.<n>``, runs of its team (or of its one agent).
        parts = child_id.rsplit(".", 2)
        member = parts[1] if len(parts) == 3 and self.host != SESSION_AGENT else str(
            run.get("agent") or jdict(run.get("team")).get("name") or child_id)
        # A member agent runs with ``agent`` set; a sub-team without (and in its own pattern).
        is_agent = bool(run.get("agent")) if run else child_type == "AgentWorkflow"
        facts = MemberFacts(
            workflow_id=child_id, member=member, kind="agent" if is_agent else "team",
            task=str(run.get("input") or ""), workflow_type=child_type,
            team=text(jdict(run.get("team")).get("name")),
            agent=host_of(child_type, run) if run else member, tenant=text(run.get("tenant")),
            initiated_at=at(event), sees=text(run.get("sees")))
        self.children[event.event_id] = facts
        self.members.append(facts)
        # The hosting agent's step (a supervisor's router), else the member's start order.
        facts.step = self.step if self.host in self.steps else len(self.members)
        self.emit(ChildEvent, at(event), agent=self.host, step=facts.step,
                  action="started", member=facts.member, member_kind=facts.kind,
                  workflow_id=child_id, task=facts.task[:2_000], sees=facts.sees)

    async def _on_child_workflow_execution_started_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        facts = self.children.get(attrs.initiated_event_id)
        if facts is not None:
            facts.started_at = at(event)

    async def _on_child_workflow_execution_completed_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        facts = self.children.get(attrs.initiated_event_id)
        if facts is None:
            return
        value = await self.decoder.first(attrs.result.payloads,
                                         f"{facts.member}'s result (event {event.event_id})")
        result = self.run_result(value, agent=facts.member)
        self._member_ended(event, facts, "COMPLETED",
                    result or self._member_failed(facts, "its result could not be read"))

    async def _on_child_workflow_execution_failed_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        facts = self.children.get(attrs.initiated_event_id)
        if facts is not None:
            typed = await self.typed_result(attrs.failure, facts.member)
            _, message = await self.failure(attrs.failure)
            self._member_ended(event, facts, "FAILED", typed or self._member_failed(facts, message))

    async def _on_child_workflow_execution_canceled_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        facts = self.children.get(attrs.initiated_event_id)
        if facts is not None:
            self._member_ended(event, facts, "CANCELED", RunResult(
                run_id=self.team_run_id, team=self.team, agent=facts.member,
                status=RunStatus.CANCELLED, reason=f"{facts.member} was cancelled"))

    async def _on_child_workflow_execution_terminated_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        facts = self.children.get(attrs.initiated_event_id)
        if facts is not None:
            self._member_ended(event, facts, "TERMINATED", self._member_failed(facts, "terminated"))

    async def _on_child_workflow_execution_timed_out_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        facts = self.children.get(attrs.initiated_event_id)
        if facts is not None:
            self._member_ended(event, facts, "TIMED_OUT", self._member_failed(facts, "timed out"))

    async def _on_start_child_workflow_execution_failed_event_attributes(
            self, event: HistoryEvent, attrs: Any) -> None:
        facts = self.children.get(attrs.initiated_event_id)
        if facts is not None:
            self._member_ended(event, facts, "FAILED",
                               self._member_failed(facts, "it could not be started"))

    def _member_failed(self, facts: MemberFacts, why: str) -> RunResult:
        """What the parent makes of a member that ended without a typed result."""
        return RunResult(run_id=self.team_run_id, team=self.team, agent=facts.member,
                         status=RunStatus.FAILED, error_type="child_failed",
                         reason=f"{facts.member} failed: {why}")

    def _member_ended(self, event: HistoryEvent, facts: MemberFacts, state: str,
               result: RunResult) -> None:
        facts.closed_at, facts.execution_status, facts.result = at(event), state, result
        self.emit(ChildEvent, at(event), agent=self.host, step=facts.step,
                  action="finished", member=facts.member, member_kind=facts.kind,
                  workflow_id=facts.workflow_id, task=facts.task[:2_000], status=result.status,
                  output=result.output, reason=result.reason, usage=result.usage,
                  cost_usd=result.cost_usd, needs_help=result.needs_help)
