"""Approvals (docs/architecture.md#approvals): a tool's ``ApprovalPolicy``, the public ``decide``
signal/update input and the ``pending_approvals`` query output. These names are typed by people
in the Temporal UI and CLI:

    temporal workflow signal --workflow-id RUN --name decide \\
        --input '{"approval_id": "apr-1a2b3c4d", "decision": "approve", "by": "alice"}'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from baton.conditions import check_condition

__all__ = ["ApprovalDecision", "ApprovalPolicy", "DecisionReceipt", "PendingApproval"]


class ApprovalPolicy(BaseModel):
    """When a tool call must wait for a person (docs/architecture.md#approvals).

    ``mode``: ``never``, ``always`` or ``when`` (then ``condition`` is a small safe expression on
    the arguments, e.g. ``amount > 100``). ``approvers`` names people or groups allowed to decide
    (empty: anyone). ``expires_in_s`` and ``on_expiry`` decide what happens when nobody answers.
    """

    # Unknown keys are errors, as everywhere in a team YAML.
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["never", "always", "when"] = "never"
    condition: str | None = None
    approvers: tuple[str, ...] = ()
    expires_in_s: float | None = Field(default=None, gt=0)
    on_expiry: Literal["reject", "approve", "escalate"] = "reject"
    escalate_to: tuple[str, ...] = ()
    escalation_expires_in_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _condition_matches_mode(self) -> ApprovalPolicy:
        if self.mode == "when" and not self.condition:
            raise ValueError("approval mode 'when' needs a condition, e.g. 'amount > 100'")
        if self.condition:
            check_condition(self.condition)  # ConditionError is a ValueError: a spec error
        if self.mode != "when" and self.condition:
            raise ValueError(f"approval mode {self.mode!r} takes no condition (use mode 'when')")
        if self.on_expiry == "escalate" and not self.escalate_to:
            raise ValueError("on_expiry 'escalate' needs escalate_to (who to escalate to)")
        return self


class ApprovalDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    approval_id: str
    decision: Literal["approve", "reject", "edit"]
    by: str
    reason: str | None = None
    args: dict[str, Any] | None = None


class DecisionReceipt(BaseModel):
    """What the ``decide`` update answers once the decision is recorded."""

    model_config = ConfigDict(frozen=True)

    approval_id: str
    decision: Literal["approve", "reject", "edit"]
    by: str
    tool: str
    recorded_at: datetime


class PendingApproval(BaseModel):
    model_config = ConfigDict(frozen=True)

    approval_id: str
    run_id: str
    workflow_id: str
    agent: str
    step: int
    call_id: str
    tool: str
    args: dict[str, Any]
    reason: str  # why the policy asked for a person ("always", "amount > 100 holds")
    requested_at: datetime
    expires_at: datetime | None
    allowed_deciders: list[str]  # empty: anyone
    escalated: bool = False
