"""Approval payloads: the public ``decide`` signal/update input and the ``pending_approvals``
query output (DESIGN.md decision 6). These names are typed by people in the Temporal UI and CLI:

    temporal workflow signal --workflow-id RUN --name decide \\
        --input '{"approval_id": "apr-1a2b3c4d", "decision": "approve", "by": "alice"}'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["ApprovalDecision", "DecisionReceipt", "PendingApproval"]


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
