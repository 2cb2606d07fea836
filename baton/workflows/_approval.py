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
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow

from baton.approvals import (
    ApprovalAuthority,
    ApprovalChange,
    ApprovalDecision,
    DecisionReceipt,
    PendingApproval,
    parse_decision,
)
from baton.conditions import ConditionError, evaluate_condition
from baton.messages import ToolCall
from baton.runs import ApprovalEvent
from baton.specs import ApprovalPolicy, ToolSpec
from baton.workflow_records import ApprovalResolution as Resolution
from baton.workflow_records import OpenApproval as _Open
from baton.workflows._decisions import edited_args, refusal_of
from baton.workflows._relay import report_to_parent
from baton.workflows._runlog import RunLog

__all__ = ["MEMO_KEY", "ApprovalGate", "Resolution", "awaiting_details"]

MEMO_KEY = "BatonApprovals"  # the run's open approvals, in its memo

_ACTION = {"approve": "approved", "reject": "rejected", "edit": "edited"}
# Refused decisions are audited one by one up to this many per run; beyond it the update
# validator turns them away unrecorded, so nobody can grow a run's history without bound.
MAX_AUDITED_REFUSALS = 50


def awaiting_details(waiting: list[PendingApproval], now: datetime) -> str:
    """The UI's current-details line while people are needed: who waits for what, how long."""
    first = waiting[0]
    args = ", ".join(f"{k}={v}" for k, v in list(first.args.items())[:3])
    left = ""
    if first.expires_at is not None:
        hours = max((first.expires_at - now).total_seconds(), 0) / 3600
        left = f", {hours:.0f} h left" if hours >= 1 else f", {hours * 60:.0f} min left"
    more = f" (+{len(waiting) - 1} more)" if len(waiting) > 1 else ""
    return (f"awaiting approval: {first.agent} → {first.tool}({args}){left}; "
            f"decide with: baton approve {first.run_id} {first.approval_id}{more}")


class ApprovalGate:
    def __init__(self, log: RunLog, authority: ApprovalAuthority,
                 on_change: Callable[[], None]) -> None:
        self._log = log
        self.authority = authority  # replaced at admission with the worker's
        self._on_change = on_change
        self._open: dict[str, _Open] = {}
        self._ended: dict[str, str] = {}  # approval id → how it ended, for refusal messages
        self.refusals = 0

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
        return self.authority.expand(names)

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
        report_to_parent(ApprovalChange(approval=entry.pending, state="open"))
        self._record_in_memo()
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

    def _record_in_memo(self) -> None:
        """The open approvals in the workflow's memo: a history event when one is requested
        or settled (the Temporal UI shows it, and a closed run's history alone tells it)."""
        workflow.upsert_memo({MEMO_KEY: [
            entry.pending.model_dump(mode="json") for entry in self._open.values()]})

    def _forget(self, approval_id: str) -> None:
        entry = self._open.pop(approval_id, None)
        if entry is not None:
            self._record_in_memo()
        if entry is not None:
            decision = entry.decision
            report_to_parent(ApprovalChange(
                approval=entry.pending, state="closed",
                by=decision.by if decision else "baton",
                reason=_ACTION[decision.decision] if decision else self._ended.get(approval_id)))
        self._on_change()

    async def _wait(self, entry: _Open, deadline: datetime | None) -> Resolution:
        while True:
            until = [t for t in (entry.pending.expires_at, deadline) if t is not None]
            timeout = max(min(until) - workflow.now(), timedelta(0)) if until else None
            what = ("approval " + entry.pending.approval_id + " expires"
                    if until and entry.pending.expires_at == min(until) else "wall-clock budget")
            try:
                await workflow.wait_condition(lambda: entry.decision is not None, timeout=timeout,
                                              timeout_summary=f"{what} ({entry.pending.tool})")
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
            args = edited_args(entry.pending, decision) if decision.decision == "edit" else (
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
        report_to_parent(ApprovalChange(approval=pending, state="open"))
        self._on_change()

    def _expire(self, entry: _Open) -> Resolution:
        # A write tool runs unapproved only when its own code opted in (checked at admission
        # too; checked again here because a side effect nobody approved cannot be undone).
        may = entry.spec.effect != "write" or entry.spec.expiry_may_approve
        pending, approve = entry.pending, entry.policy.on_expiry == "approve" and may
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
    def receive(self, raw: object) -> DecisionReceipt:
        """Apply a decision from a signal or an update, or record why it was refused."""
        decision = parse_decision(raw)
        if isinstance(decision, str):
            approval_id = raw.get("approval_id") if isinstance(raw, dict) else None
            by = raw.get("by") if isinstance(raw, dict) else None
            return self._refuse(str(approval_id or "?"), str(by or "?"), "?", decision)
        entry = self._open.get(decision.approval_id)
        if entry is None or entry.decision is not None:
            ended = "decided" if entry else self._ended.get(decision.approval_id)
            known = ", ".join(self._open) or "none pending"
            why = (f"approval {decision.approval_id} is already {ended}" if ended else
                   f"unknown approval id {decision.approval_id!r} (pending: {known})")
            return self._refuse(decision.approval_id, decision.by, decision.decision, why)
        problem = refusal_of(decision, entry.pending, entry.spec, self.authority)
        if problem is not None:
            return self._refuse(decision.approval_id, decision.by, decision.decision, problem)
        return self._apply(entry, decision)

    def holds(self, approval_id: str) -> bool:
        return approval_id in self._open or approval_id in self._ended

    def _apply(self, entry: _Open, decision: ApprovalDecision) -> DecisionReceipt:
        entry.decision = decision
        pending = entry.pending
        action: Literal["approved", "rejected", "edited"] = _ACTION[decision.decision]  # type: ignore[assignment]
        self._log.add(ApprovalEvent, step=pending.step, approval_id=pending.approval_id,
                      action=action, tool=pending.tool, by=decision.by, reason=decision.reason,
                      arguments=edited_args(pending, decision)
                      if decision.decision == "edit" else None,
                      signed=decision.signature is not None)
        return DecisionReceipt(approval_id=pending.approval_id, decision=decision.decision,
                               by=decision.by, tool=pending.tool, recorded_at=workflow.now())

    def _refuse(self, approval_id: str, by: str, decision: str, reason: str) -> DecisionReceipt:
        """Audit a refused decision (who, when, why) and answer with the refusal."""
        self.refusals += 1
        entry = self._open.get(approval_id)
        tool = entry.pending.tool if entry else "?"
        self._log.add(ApprovalEvent, step=entry.pending.step if entry else 0,
                      approval_id=approval_id, action="refused", tool=tool, by=by,
                      reason=reason)
        workflow.logger.warning("refused decision on %s by %s: %s", approval_id, by, reason)
        if entry is not None:  # the run that routed it here waits for this answer
            report_to_parent(ApprovalChange(approval=entry.pending, state="refused", by=by,
                                            reason=reason))
        return DecisionReceipt(approval_id=approval_id, decision=decision, by=by, tool=tool,
                               recorded_at=workflow.now(), accepted=False, reason=reason)

    def admits_more_refusals(self) -> bool:
        return self.refusals < MAX_AUDITED_REFUSALS

    def refusal_without_audit(self, raw: object) -> str | None:
        """What ``receive`` would refuse, without recording it (for the update validator once
        the audit budget is spent)."""
        decision = parse_decision(raw)
        if isinstance(decision, str):
            return decision
        entry = self._open.get(decision.approval_id)
        if entry is None or entry.decision is not None:
            return f"approval {decision.approval_id} is not open"
        return refusal_of(decision, entry.pending, entry.spec, self.authority)
