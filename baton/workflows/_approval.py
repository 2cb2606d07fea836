"""``ApprovalGate``: the orchestrator's checkpoint for risky tool calls
(docs/architecture.md#approvals).

The model cannot skip it: the workflow decides from the tool's policy, records the request,
and waits on a durable condition released by the ``decide`` signal or update, with a durable
timer for expiry and escalation. Nothing re-executes on resume: the wait is a point in the
workflow's history, so the tool runs once, after the decision, with the same idempotency key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.conditions import ConditionError, evaluate_condition
from baton.messages import ToolCall
from baton.runs import ApprovalEvent
from baton.schemas import schema_error
from baton.specs import ApprovalPolicy, ToolSpec
from baton.workflows._runlog import RunLog

__all__ = ["ApprovalGate", "Resolution"]

_ACTION = {"approve": "approved", "reject": "rejected", "edit": "edited"}


@dataclass
class Resolution:
    """How a gated call ended: run it (with these args) or tell the model why not."""

    run: bool
    args: dict[str, Any]
    by: str
    reason: str | None


@dataclass
class _Open:
    pending: PendingApproval
    policy: ApprovalPolicy
    spec: ToolSpec
    decision: ApprovalDecision | None = None


class ApprovalGate:
    def __init__(self, log: RunLog, groups: dict[str, tuple[str, ...]],
                 on_change: Callable[[], None]) -> None:
        self._log = log
        self._groups = groups
        self._on_change = on_change
        self._open: dict[str, _Open] = {}
        self._ended: dict[str, str] = {}  # approval id → how it ended, for refusal messages

    # -- policy -------------------------------------------------------------------------------
    @staticmethod
    def reason_for(policy: ApprovalPolicy, args: dict[str, Any]) -> str | None:
        """Why this call needs a person, or None. An unevaluable condition fails safe."""
        if policy.mode == "never":
            return None
        if policy.mode == "always":
            return "the tool's policy requires approval for every call"
        assert policy.condition is not None
        try:
            holds = evaluate_condition(policy.condition, args)
        except ConditionError as exc:
            return f"approval required: {exc}"
        return f"condition holds: {policy.condition}" if holds else None

    def _deciders(self, names: tuple[str, ...]) -> list[str]:
        people: list[str] = []
        for name in names:
            people += [name, *self._groups.get(name, ())]
        return sorted(set(people))

    # -- waiting ------------------------------------------------------------------------------
    @property
    def waiting(self) -> bool:
        return bool(self._open)

    def pending(self) -> list[PendingApproval]:
        return [entry.pending for entry in self._open.values()]

    async def request(self, *, call: ToolCall, spec: ToolSpec, policy: ApprovalPolicy, step: int,
                      run_id: str, reason: str, deadline: datetime | None) -> Resolution:
        """Wait for a decision. ``deadline`` is the run's wall-clock budget end, if any."""
        now = workflow.now()
        approval_id = f"apr-{workflow.uuid4().hex[:8]}"
        expires = now + timedelta(seconds=policy.expires_in_s) if policy.expires_in_s else None
        entry = _Open(
            pending=PendingApproval(
                approval_id=approval_id, run_id=run_id, workflow_id=workflow.info().workflow_id,
                agent=self._log.agent, step=step, call_id=call.id, tool=call.name,
                args=call.arguments, reason=reason, requested_at=now, expires_at=expires,
                allowed_deciders=self._deciders(policy.approvers)),
            policy=policy, spec=spec)
        self._open[approval_id] = entry
        self._log.add(ApprovalEvent, step=step, approval_id=approval_id, action="requested",
                      tool=call.name, reason=reason, arguments=call.arguments)
        self._on_change()
        # No try/finally: when the worker evicts the workflow from its cache the coroutine is
        # closed (GeneratorExit) outside the workflow event loop, where nothing may be recorded.
        try:
            resolution = await self._wait(entry, deadline)
        except asyncio.CancelledError:
            self._close(entry, "the run was cancelled while waiting")
            self._forget(approval_id)
            raise
        self._forget(approval_id)
        return resolution

    def _forget(self, approval_id: str) -> None:
        self._open.pop(approval_id, None)
        self._on_change()

    async def _wait(self, entry: _Open, deadline: datetime | None) -> Resolution:
        while True:
            until = [t for t in (entry.pending.expires_at, deadline) if t is not None]
            timeout = max(min(until) - workflow.now(), timedelta(0)) if until else None
            try:
                await workflow.wait_condition(lambda: entry.decision is not None, timeout=timeout)
            except TimeoutError:
                if deadline is not None and workflow.now() >= deadline:
                    return self._close(entry, "the run's wall-clock budget ran out while waiting")
                if entry.policy.on_expiry == "escalate" and not entry.pending.escalated:
                    self._escalate(entry)
                    continue
                return self._expire(entry)
            decision = entry.decision
            assert decision is not None
            ended = f"{_ACTION[decision.decision]} by {decision.by}"
            self._ended[entry.pending.approval_id] = ended
            args = decision.args if decision.decision == "edit" and decision.args else (
                entry.pending.args)
            return Resolution(run=decision.decision != "reject", args=args, by=decision.by,
                              reason=decision.reason)

    def _escalate(self, entry: _Open) -> None:
        policy = entry.policy
        seconds = policy.escalation_expires_in_s or policy.expires_in_s
        pending = entry.pending.model_copy(update={
            "escalated": True, "allowed_deciders": self._deciders(policy.escalate_to),
            "expires_at": workflow.now() + timedelta(seconds=seconds) if seconds else None,
        })
        entry.pending = pending
        self._log.add(ApprovalEvent, step=pending.step, approval_id=pending.approval_id,
                      action="escalated", tool=pending.tool, by="baton",
                      reason=f"no decision in time; escalated to {', '.join(policy.escalate_to)}")

    def _expire(self, entry: _Open) -> Resolution:
        pending, approve = entry.pending, entry.policy.on_expiry == "approve"
        verdict = "approved" if approve else "rejected"
        reason = f"expired without a decision; policy on_expiry={entry.policy.on_expiry}: {verdict}"
        self._ended[pending.approval_id] = "expired"
        self._log.add(ApprovalEvent, step=pending.step, approval_id=pending.approval_id,
                      action="expired", tool=pending.tool, by="baton", reason=reason)
        return Resolution(run=approve, args=pending.args, by="baton (expiry)", reason=reason)

    def _close(self, entry: _Open, reason: str) -> Resolution:
        pending = entry.pending
        self._ended[pending.approval_id] = "closed"
        self._log.add(ApprovalEvent, step=pending.step, approval_id=pending.approval_id,
                      action="closed", tool=pending.tool, by="baton", reason=reason)
        return Resolution(run=False, args=pending.args, by="baton", reason=reason)

    # -- deciding -----------------------------------------------------------------------------
    def validate(self, decision: ApprovalDecision) -> None:
        """Refuse, with a message for the person, any decision that cannot apply."""
        entry = self._open.get(decision.approval_id)
        if entry is None:
            ended = self._ended.get(decision.approval_id)
            if ended:
                raise _refusal(f"approval {decision.approval_id} is already {ended}")
            known = ", ".join(self._open) or "none pending"
            raise _refusal(f"unknown approval id {decision.approval_id!r} (pending: {known})")
        if entry.decision is not None:
            raise _refusal(f"approval {decision.approval_id} is already decided")
        allowed = entry.pending.allowed_deciders
        if allowed and decision.by not in allowed:
            raise _refusal(f"{decision.by!r} may not decide {decision.approval_id}; "
                           f"allowed: {', '.join(allowed)}")
        if decision.decision == "edit":
            if not decision.args:
                raise _refusal("an edit needs args: the arguments the tool should run with")
            problem = schema_error(decision.args, entry.spec.parameters)
            if problem is not None:
                raise _refusal(f"edited args do not fit {entry.spec.name}'s schema {problem}")

    def apply(self, decision: ApprovalDecision) -> DecisionReceipt:
        entry = self._open[decision.approval_id]
        entry.decision = decision
        pending = entry.pending
        action: Literal["approved", "rejected", "edited"] = _ACTION[decision.decision]  # type: ignore[assignment]
        self._log.add(ApprovalEvent, step=pending.step, approval_id=pending.approval_id,
                      action=action, tool=pending.tool, by=decision.by, reason=decision.reason,
                      arguments=decision.args if decision.decision == "edit" else None)
        return DecisionReceipt(approval_id=pending.approval_id, decision=decision.decision,
                               by=decision.by, tool=pending.tool, recorded_at=workflow.now())

    def on_signal(self, decision: ApprovalDecision) -> None:
        """Signals cannot answer back: a refused one is recorded in the run log and ignored."""
        try:
            self.validate(decision)
        except ApplicationError as exc:
            entry = self._open.get(decision.approval_id)
            self._log.add(ApprovalEvent, step=entry.pending.step if entry else 0,
                          approval_id=decision.approval_id, action="refused",
                          tool=entry.pending.tool if entry else "?", by=decision.by,
                          reason=exc.message)
            workflow.logger.warning("refused decide signal: %s", exc.message)
            return
        self.apply(decision)


def _refusal(message: str) -> ApplicationError:
    return ApplicationError(message, type="ApprovalRefused", non_retryable=True)
