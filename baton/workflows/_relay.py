"""Approvals of member runs, seen and decided from the run a person has.

Members run as child workflows, so an approval waits in the member that hit it. A person has the
team's run id. The relay makes the team's run the place to look and to decide:

* a member reports each change of its approvals (requested, decided or expired, refused) to its
  parent with the ``member_approvals`` signal, and a parent that is itself a member passes them
  on, so the top-level run knows every approval waiting anywhere below it;
* the run answers ``pending_approvals`` with its own and its members', reports
  ``awaiting_approval`` while any waits, and pauses its wall-clock budget meanwhile;
* a ``decide`` signal or update sent to the run for a member's approval is routed to the member
  holding it; an update waits for the member's report, so its answer is the member's verdict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from baton.approvals import ApprovalChange, DecisionReceipt, PendingApproval

__all__ = ["ApprovalRelay", "report_to_parent"]

MEMBER_APPROVALS = "member_approvals"
_ROUTED_ANSWER = timedelta(seconds=30)


def report_to_parent(change: ApprovalChange) -> None:
    """Tell the parent run (if any) about an approval change here, without waiting for it."""
    parent = workflow.info().parent
    if parent is None:
        return

    async def send() -> None:
        try:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal(
                MEMBER_APPROVALS, change)
        except ApplicationError as exc:  # the parent closed meanwhile: nobody to tell
            workflow.logger.info("approval change not delivered to the parent: %s", exc)

    asyncio.get_running_loop().create_task(send())


class ApprovalRelay:
    """What this run knows of its members' approvals."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self.pending: dict[str, PendingApproval] = {}
        self._outcomes: dict[str, list[ApprovalChange]] = {}
        self._on_change = on_change

    @property
    def waiting(self) -> bool:
        return bool(self.pending)

    def holds(self, approval_id: str) -> bool:
        return approval_id in self.pending

    def receive(self, change: ApprovalChange) -> None:
        """A member's report: keep the view current, record outcomes, and pass it on up."""
        approval = change.approval
        if change.state == "open":
            self.pending[approval.approval_id] = approval
        elif change.state == "closed":
            self.pending.pop(approval.approval_id, None)
        self._outcomes.setdefault(approval.approval_id, []).append(change)
        report_to_parent(change)
        self._on_change()

    async def route(self, approval_id: str, raw: object, *, answer: bool) -> DecisionReceipt:
        """Send a decision to the member holding ``approval_id``; with ``answer`` wait for the
        member's report and answer with its verdict (an update), else return at once (a
        signal: the member audits it)."""
        approval = self.pending[approval_id]
        seen = len(self._outcomes.get(approval_id, []))
        await workflow.get_external_workflow_handle(approval.workflow_id).signal("decide", raw)
        receipt = DecisionReceipt(approval_id=approval_id, decision="routed", by="?",
                                  tool=approval.tool, recorded_at=workflow.now(),
                                  reason=f"routed to {approval.workflow_id}")
        if not answer:
            return receipt
        try:
            await workflow.wait_condition(
                lambda: len(self._outcomes.get(approval_id, [])) > seen, timeout=_ROUTED_ANSWER,
                timeout_summary=f"answer of {approval.workflow_id} on {approval_id}")
        except TimeoutError:
            return receipt.model_copy(update={
                "accepted": False, "reason": f"{approval.workflow_id} did not answer in time; "
                "the decision may still apply there (baton approvals shows its state)"})
        outcome = self._outcomes[approval_id][seen]
        by = outcome.by or "?"
        if outcome.state == "refused":
            return receipt.model_copy(update={"accepted": False, "by": by,
                                              "reason": outcome.reason})
        return receipt.model_copy(update={"decision": outcome.reason or "decided", "by": by,
                                          "reason": None})
