"""Checking one approval decision: well-formed, for an open approval, by someone allowed, proven.

Every decision — a ``decide`` signal typed into the Temporal UI, an update from ``baton
approve``, a routed decision from a parent run — goes through :func:`refusal_of`. A refused one
is recorded in the run log with who and why (see ``ApprovalGate.receive``); it never fails the
workflow task, whatever bytes arrived.
"""

from __future__ import annotations

from typing import Any

from baton.approvals import ApprovalAuthority, ApprovalDecision, PendingApproval
from baton.schemas import schema_error
from baton.signing import decision_message, verify_decision
from baton.specs import ToolSpec

__all__ = ["edited_args", "refusal_of"]


def edited_args(pending: PendingApproval, decision: ApprovalDecision) -> dict[str, Any]:
    """An edit is a partial object merged over the call's original arguments."""
    return {**pending.args, **(decision.args or {})}


def refusal_of(decision: ApprovalDecision, pending: PendingApproval, spec: ToolSpec,
               authority: ApprovalAuthority) -> str | None:
    """Why ``decision`` cannot decide ``pending``, or None when it may."""
    allowed = pending.allowed_deciders
    if allowed and decision.by not in allowed:
        return f"{decision.by!r} may not decide {pending.approval_id}; allowed: " \
               f"{', '.join(allowed)}"
    unproven = _unproven(decision, pending, authority)
    if unproven:
        return unproven
    if decision.decision == "edit":
        if not decision.args:
            return "an edit needs args: the arguments to change"
        problem = schema_error(edited_args(pending, decision), spec.parameters)
        if problem is not None:
            return f"edited args do not fit {spec.name}'s schema {problem}"
    return None


def _unproven(decision: ApprovalDecision, pending: PendingApproval,
              authority: ApprovalAuthority) -> str | None:
    if decision.signature is None:
        if authority.allow_unsigned:
            return None
        return ("unsigned decision refused: this deployment accepts only decisions signed by "
                "an approver's key (baton approve signs with BATON_DECIDER_KEY_FILE)")
    keys = authority.signer_keys(decision.by, decision.signer)
    if not keys:
        return (f"{decision.by!r} has no public key configured in this deployment"
                if decision.signer is None else f"approvals service {decision.signer!r} may "
                f"not sign for {decision.by!r} in this deployment")
    if decision.signed_at is None:
        return "a signed decision needs signed_at"
    message = decision_message(
        run_id=pending.run_id, approval_id=decision.approval_id, decision=decision.decision,
        args=decision.args, by=decision.by, reason=decision.reason, signed_at=decision.signed_at,
        signer=decision.signer)
    if not verify_decision(list(keys), message, decision.signature):
        return (f"the signature does not prove {decision.by!r} made this decision on "
                f"{pending.approval_id} of run {pending.run_id}")
    return None
