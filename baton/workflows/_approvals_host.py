"""The approval handlers every Baton workflow has, whether it hosts an agent loop or not.

``pending_approvals`` lists this run's approvals and its members'; ``decide`` (signal or
update) settles one here or routes it to the member holding it; ``member_approvals`` receives
members' reports. ``decide`` takes the raw payload and validates it itself: a malformed decision
is refused and recorded in the run log, never dropped by the SDK or failing a workflow task.
"""

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from baton.approvals import ApprovalChange, DecisionReceipt, PendingApproval
from baton.workflows._approval import ApprovalGate
from baton.workflows._relay import ApprovalRelay

__all__ = ["ApprovalsHost", "decoded"]


def decoded(raw: RawValue) -> object:
    """A raw signal/update payload as plain JSON, or a marker a decision check refuses."""
    try:
        return workflow.payload_converter().from_payload(raw.payload)
    except Exception as exc:  # any bytes may arrive: never fail the workflow task on them
        return f"an undecodable payload ({type(exc).__name__})"


def _routed(value: object, gate: ApprovalGate, relay: ApprovalRelay) -> str | None:
    """The approval id when a member holds it (and this run does not)."""
    approval_id = value.get("approval_id") if isinstance(value, dict) else None
    if isinstance(approval_id, str) and relay.holds(approval_id) and not gate.holds(approval_id):
        return approval_id
    return None


class ApprovalsHost:
    def _approvals(self) -> tuple[ApprovalGate, ApprovalRelay]:
        raise NotImplementedError  # the host's run state holds them

    @workflow.query(name="pending_approvals")
    def pending_approvals(self) -> list[PendingApproval]:
        gate, relay = self._approvals()
        return [*gate.pending(), *relay.pending.values()]

    @workflow.signal(name="member_approvals")
    def member_approvals(self, change: ApprovalChange) -> None:
        self._approvals()[1].receive(change)

    @workflow.signal(name="decide")
    async def decide_by_signal(self, decision: RawValue) -> None:
        gate, relay = self._approvals()
        value = decoded(decision)
        approval_id = _routed(value, gate, relay)
        if approval_id is None:
            gate.receive(value)
        else:  # the member audits it
            await relay.route(approval_id, value, answer=False)

    @workflow.update(name="decide")
    async def decide(self, decision: RawValue) -> DecisionReceipt:
        gate, relay = self._approvals()
        value = decoded(decision)
        approval_id = _routed(value, gate, relay)
        if approval_id is None:
            return gate.receive(value)
        return await relay.route(approval_id, value, answer=True)

    @decide.validator
    def _validate_decide(self, decision: RawValue) -> None:
        gate, relay = self._approvals()
        value = decoded(decision)
        if _routed(value, gate, relay) is None and not gate.admits_more_refusals():
            problem = gate.refusal_without_audit(value)
            if problem is not None:
                raise ApplicationError(problem, type="ApprovalRefused", non_retryable=True)
