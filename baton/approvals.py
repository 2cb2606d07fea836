"""Approvals (docs/architecture.md#approvals): a tool's ``ApprovalPolicy``, the public ``decide``
signal/update input and the ``pending_approvals`` query output. These names are typed by people
in the Temporal UI and CLI:

    temporal workflow signal --workflow-id RUN --name decide \\
        --input '{"approval_id": "apr-1a2b3c4d", "decision": "approve", "by": "alice"}'

Who may decide is deployment configuration (``ApprovalAuthority``: approvers, their public keys,
groups), never run input; a decision proves its decider with a signature (``baton.signing``)
unless the deployment accepts unsigned decisions (a development stack).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from baton.conditions import check_condition
from baton.messages import CompactModel

__all__ = [
    "ApprovalAuthority",
    "ApprovalChange",
    "ApprovalDecision",
    "ApprovalPolicy",
    "DecisionReceipt",
    "PendingApproval",
    "parse_decision",
    "relaxation",
]

_STRICTNESS = {"never": 0, "when": 1, "always": 2}


class ApprovalPolicy(CompactModel):
    """When a tool call must wait for a person (docs/architecture.md#approvals).

    ``mode``: ``never``, ``always`` or ``when`` (then ``condition`` is a small safe expression on
    the arguments, e.g. ``amount > 100``). ``approvers`` names people or groups allowed to decide
    (empty: anyone). ``expires_in_s`` and ``on_expiry`` decide what happens when nobody answers.
    """

    # Part of a team spec: wire-tolerant, and the loader refuses unknown keys in a team file.
    model_config = ConfigDict(extra="ignore", frozen=True)

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
    """The input of the ``decide`` signal and update. ``args`` (for ``edit``) is merged over the
    call's original arguments. ``signature`` (base64 Ed25519, see ``baton.signing``) over the
    decision and ``signed_at`` proves ``by``; a deployment that requires it refuses (and audits)
    a decision without it."""

    # A wire payload like the others: a field a newer client adds is ignored (the signature
    # covers the fields this version knows, see baton.signing).
    model_config = ConfigDict(extra="ignore", frozen=True)

    approval_id: str
    decision: Literal["approve", "reject", "edit"]
    by: str
    reason: str | None = None
    args: dict[str, Any] | None = None
    signed_at: datetime | None = None
    signature: str | None = None
    signer: str | None = None  # an approvals service that authenticated ``by`` and signed


def parse_decision(value: Any) -> ApprovalDecision | str:
    """The decision, or why it is not one (in words a person can act on)."""
    if not isinstance(value, dict):
        return f"a decision is a JSON object, not {type(value).__name__}"
    try:
        return ApprovalDecision.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(decision)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        return f"malformed decision: {where}: {first['msg']}{more}"



class DecisionReceipt(BaseModel):
    """What the ``decide`` update answers: the decision was recorded, or refused with the
    reason (a refusal is recorded in the run log too)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    approval_id: str
    decision: str
    by: str
    tool: str
    recorded_at: datetime
    accepted: bool = True
    reason: str | None = None


class ApprovalAuthority(CompactModel):
    """Who may decide, as the deployment configures it: approvers with their public keys,
    groups of approvers, and whether unsigned decisions are accepted. A run receives it from
    the worker at its start (recorded in history); run input never defines it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    keys: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # approver → public keys
    groups: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # group → approvers
    allow_unsigned: bool = False
    # approvals service (a console behind the deployment's login) → its public keys, and the
    # approvers it may sign for ("*": any configured approver)
    services: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = Field(default_factory=dict)

    def expand(self, names: tuple[str, ...] | list[str]) -> list[str]:
        """People and groups → the people, sorted."""
        people: set[str] = set()
        for name in names:
            people.update(self.groups.get(name, (name,)))
        return sorted(people)

    def signer_keys(self, by: str, signer: str | None) -> tuple[str, ...]:
        """The public keys that may prove a decision by ``by`` signed by ``signer``."""
        if signer is None:
            return self.keys.get(by, ())
        keys, may_sign_for = self.services.get(signer, ((), ()))
        allowed = ("*" in may_sign_for and self.knows(by)) or by in self.expand(may_sign_for)
        return keys if allowed else ()

    def knows(self, name: str) -> bool:
        return name in self.keys or name in self.groups or any(
            name in members for members in self.groups.values())


def relaxation(tool: ApprovalPolicy, team: ApprovalPolicy, authority: ApprovalAuthority, *,
               write: bool, expiry_may_approve: bool) -> str | None:
    """Why a team's override ``team`` would weaken the worker's policy ``tool`` for that tool,
    or None. A team (run input) may make approval stricter, never looser."""
    return next(_relaxations(tool, team, authority, write=write,
                             expiry_may_approve=expiry_may_approve), None)


def _relaxations(tool: ApprovalPolicy, team: ApprovalPolicy, authority: ApprovalAuthority, *,
                 write: bool, expiry_may_approve: bool) -> Iterator[str]:
    if _STRICTNESS[team.mode] < _STRICTNESS[tool.mode]:
        yield f"the worker requires approval {tool.mode!r}; a team may not relax it to " \
              f"{team.mode!r}"
    if tool.mode == team.mode == "when" and team.condition != tool.condition:
        yield "a team may not replace the worker's approval condition " \
              f"({tool.condition!r}); use mode 'always' to be stricter"
    if tool.approvers:
        allowed = set(authority.expand(tool.approvers))
        for field, names in (("approvers", team.approvers), ("escalate_to", team.escalate_to)):
            outside = set(authority.expand(names)) - allowed
            if outside:
                yield f"{field} {sorted(outside)} may not decide this tool (the worker allows " \
                      f"{sorted(allowed)})"
    if team.on_expiry == "approve" and tool.on_expiry != "approve":
        yield "a team may not approve on expiry what the worker's policy does not"
    if team.on_expiry == "approve" and write and not expiry_may_approve:
        yield "a write tool is approved on expiry only when the tool opts in " \
              "(@tool(expiry_may_approve=True))"
    unknown = [n for n in (*team.approvers, *team.escalate_to) if not authority.knows(n)]
    if unknown:
        yield f"{unknown} are neither approvers nor approver groups of this deployment"


class PendingApproval(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

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


class ApprovalChange(BaseModel):
    """The ``member_approvals`` signal: an approval of a member run changed. ``state`` open (a
    new or escalated approval), closed (decided, expired or withdrawn; ``reason`` says how) or
    refused (a decision was refused; ``reason`` says why)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    approval: PendingApproval
    state: Literal["open", "closed", "refused"]
    by: str | None = None
    reason: str | None = None
