"""Approvals as a run's event history shows them.

The workflow keeps its open approvals in its memo (``BatonApprovals``), so every request,
escalation and settlement is a memo upsert in history; decisions arrive as the ``decide``
update (with the workflow's receipt: accepted or refused, and why) or the ``decide`` signal (no
answer recorded). A decision on an approval a member holds is routed to that member, which
records it in its own history, so the run that routed it records nothing.

What history cannot tell exactly: a signal's verdict (taken as applied when its approval was
open and the decider among the allowed ones; a signature check leaves no trace), and the reason
an approval ended without a decision (its expiry timer, the run's wall clock or a cancellation,
read from the timer that fired). Histories recorded before approvals were kept in the memo hold
only the decisions; the request is inferred from the decision.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from baton.runs import ApprovalEvent

__all__ = ["Approvals"]

_ACTIONS = {"approve": "approved", "reject": "rejected", "edit": "edited"}
# Receipts of decisions routed to a member: "routed" while in flight, then the member's verdict.
_ROUTED = {"routed", "approved", "rejected", "edited", "decided"}

Emit = Callable[..., None]  # emit(event type, at, agent=..., step=..., **fields)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class Approvals:
    """Turns memo upserts, decisions, timers and cancellation into ``approval`` events."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._open: dict[str, dict[str, Any]] = {}  # approval id → PendingApproval JSON
        self._known: dict[str, dict[str, Any]] = {}
        self._decided: set[str] = set()
        self._members: set[str] = set()  # approvals a member holds (reported to this run)
        self._memo_seen = False
        self._timers: dict[str, str] = {}  # timer id → its summary
        self._fired: str = ""
        self._cancelled = False
        self._awaiting_since: datetime | None = None

    # -- what the walker reports --------------------------------------------------------------
    def timer_started(self, timer_id: str, summary: str) -> None:
        self._timers[timer_id] = summary

    def timer_fired(self, timer_id: str) -> None:
        self._fired = self._timers.get(timer_id, "")

    def cancel_requested(self) -> None:
        self._cancelled = True

    def status(self, at: datetime, value: str) -> None:
        if value == "awaiting_approval":
            self._awaiting_since = at

    def member_change(self, change: Any) -> None:
        """A member's ``member_approvals`` report: decisions on these are routed to it."""
        approval_id = _dict(_dict(change).get("approval")).get("approval_id")
        if isinstance(approval_id, str):
            if _dict(change).get("state") == "closed":
                self._members.discard(approval_id)
            else:
                self._members.add(approval_id)

    def memo(self, at: datetime, value: Any, *, agent: str, step: int) -> None:
        """A ``BatonApprovals`` memo upsert: requests, escalations, approvals that went away."""
        if not isinstance(value, list):
            return
        self._memo_seen = True
        now = {str(a["approval_id"]): a for a in value
               if isinstance(a, dict) and isinstance(a.get("approval_id"), str)}
        for approval_id, pending in now.items():
            before = self._open.get(approval_id)
            if before is None and approval_id not in self._known:
                self._known[approval_id] = pending
                args = pending.get("args")
                self._add(at, pending, "requested", agent, step, reason=pending.get("reason"),
                          arguments=args if isinstance(args, dict) else None)
            elif before is not None and pending.get("escalated") and not before.get("escalated"):
                people = ", ".join(str(p) for p in pending.get("allowed_deciders") or [])
                self._add(at, pending, "escalated", agent, step, by="baton",
                          reason=f"no decision in time; escalated to {people or 'nobody'}")
            self._known[approval_id] = pending
        for approval_id, pending in self._open.items():
            if approval_id not in now and approval_id not in self._decided:
                self._ended(at, pending, agent, step)
        self._open = now

    def decision(self, at: datetime, raw: Any, receipt: Any | None, *, agent: str,
                 step: int) -> None:
        """A ``decide`` update (``receipt``: the workflow's answer) or signal (None)."""
        decision = _dict(raw)
        approval_id = str(decision.get("approval_id") or "?")
        pending = self._known.get(approval_id)
        if approval_id in self._members and approval_id not in self._open:
            return  # routed to the member holding it, which records it
        if receipt is not None:
            answer = _dict(receipt)
            if answer.get("decision") in _ROUTED:
                return
            if answer.get("accepted", True) is False:
                self._refused(at, decision, pending, tool=str(answer.get("tool") or "?"),
                              reason=answer.get("reason"), agent=agent)
                return
            self._apply(at, decision, pending, tool=str(answer.get("tool") or "?"), agent=agent,
                        step=step)
            return
        problem = self._signal_problem(approval_id, decision)
        if problem is not None:
            self._refused(at, decision, pending, tool="?", reason=problem, agent=agent)
            return
        self._apply(at, decision, pending, tool="?", agent=agent, step=step)

    # -- helpers ------------------------------------------------------------------------------
    def _signal_problem(self, approval_id: str, decision: dict[str, Any]) -> str | None:
        """Why the workflow would have refused a signalled decision, as far as history shows."""
        if decision.get("decision") not in _ACTIONS:
            return f"malformed decision: {decision.get('decision')!r} is not approve, reject " \
                   "or edit"
        if not self._memo_seen:
            return None  # recorded before the memo: nothing to check against
        if approval_id in self._decided:
            return f"approval {approval_id} is already decided"
        pending = self._open.get(approval_id)
        if pending is None:
            return f"unknown approval id {approval_id!r}"
        allowed = [str(p) for p in pending.get("allowed_deciders") or []]
        by = str(decision.get("by"))
        if allowed and by not in allowed:
            return f"{by!r} may not decide {approval_id}; allowed: {', '.join(allowed)}"
        return None

    def _apply(self, at: datetime, decision: dict[str, Any], pending: dict[str, Any] | None, *,
               tool: str, agent: str, step: int) -> None:
        approval_id = str(decision.get("approval_id") or "?")
        action = _ACTIONS.get(str(decision.get("decision")))
        if action is None:
            return
        if pending is None:  # an older release's history: the decision proves the request
            pending = {"approval_id": approval_id, "tool": tool, "agent": agent, "step": step}
            self._known[approval_id] = pending
            self._add(self._awaiting_since or at, pending, "requested", agent, step)
        self._decided.add(approval_id)
        args = None
        if action == "edited":
            args = {**_dict(pending.get("args")), **_dict(decision.get("args"))}
        self._add(at, pending, action, agent, step, by=decision.get("by"),
                  reason=decision.get("reason"), arguments=args,
                  signed=decision.get("signature") is not None, tool=tool)

    def _refused(self, at: datetime, decision: dict[str, Any], pending: dict[str, Any] | None,
                 *, tool: str, reason: Any, agent: str) -> None:
        approval_id = str(decision.get("approval_id") or "?")
        found = pending or {"approval_id": approval_id, "tool": tool, "agent": agent, "step": 0}
        self._add(at, found, "refused", agent, 0,
                  by=str(decision.get("by") or "?"), reason=str(reason) if reason else None,
                  tool=tool)

    def _ended(self, at: datetime, pending: dict[str, Any], agent: str, step: int) -> None:
        """An approval left the memo without a decision: how the wait ended."""
        if self._cancelled:
            action, reason = "closed", "the run was cancelled while waiting"
        elif self._fired.startswith("wall-clock budget"):
            action, reason = "closed", "the run's wall-clock budget ran out while waiting"
        else:
            action, reason = "expired", "expired without a decision"
        self._add(at, pending, action, agent, step, by="baton", reason=reason)

    def _add(self, at: datetime, pending: dict[str, Any], action: str, agent: str, step: int,
             *, tool: str = "?", **fields: Any) -> None:
        """Emit one event; the approval's own agent and step when the memo named them."""
        known = pending.get("step")
        self._emit(ApprovalEvent, at, agent=str(pending.get("agent") or agent),
                   step=known if isinstance(known, int) else step,
                   approval_id=str(pending.get("approval_id") or "?"), action=action,
                   tool=str(pending.get("tool") or tool), **fields)
