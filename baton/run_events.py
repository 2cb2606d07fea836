"""The run log's vocabulary: the events a run appends as it goes (one model per ``kind``, all
in the ``RunEvent`` union) and ``RunStatus``, how a run ends, which its ``finished`` event and
a member's ``child`` event report.

Pure data, like ``baton.runs``, which re-exports everything here; the sandbox passes this module
through as it does that one.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from baton.messages import Usage
from baton.reports import NeedsHelp

__all__ = [
    "ApprovalEvent",
    "ChildEvent",
    "CompactedEvent",
    "ContinuedEvent",
    "FailoverEvent",
    "FinishedEvent",
    "ModelAttemptEvent",
    "ModelCallEvent",
    "ModelStartedEvent",
    "RecalledEvent",
    "RunEvent",
    "RunStatus",
    "StartedEvent",
    "SummarizedEvent",
    "ToolCallEvent",
    "ToolRefusedEvent",
    "ValidationEvent",
]


class RunStatus(StrEnum):
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    MAX_STEPS = "max_steps"
    MAX_ROUNDS = "max_rounds"  # a pattern's bound: supervisor rounds, debate rounds, turns
    ROUTING_LOOP = "routing_loop"  # a supervisor kept sending the same sub-task to one worker
    MAX_HANDOFFS = "max_handoffs"  # agents kept transferring control (ping-pong)
    TRANSFERRED = "transferred"  # an agent handed the conversation to another (handoff child)
    STALLED = "stalled"  # nobody can make progress (blackboard: no rule applies, scheduler done)
    BUDGET_EXHAUSTED = "budget_exhausted"
    # The tenant's budget for the day or month (the operator's, across runs) has no room left.
    TENANT_BUDGET_EXHAUSTED = "tenant_budget_exhausted"
    OUTPUT_INVALID = "output_invalid"  # no valid answer (schema, empty) after the fix attempts
    INPUT_INVALID = "input_invalid"  # a member's input never matched its input_schema
    REFUSED = "refused"  # the model declined the task (a provider-reported refusal)
    CONTEXT_EXCEEDED = "context_exceeded"  # the conversation outgrew the model's context window
    FAILED = "failed"  # a non-retryable infrastructure/provider failure; see reason
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.RUNNING, RunStatus.AWAITING_APPROVAL)

    @property
    def succeeded(self) -> bool:
        """What Temporal is told: a run that did not succeed closes its workflow as failed
        (or cancelled), so Temporal's UI, metrics and alerts see what Baton sees. A transfer is
        a handoff member doing its job."""
        return self in (RunStatus.COMPLETED, RunStatus.TRANSFERRED)


class _Event(BaseModel):
    # Wire payloads, like everything in baton.runs: unknown fields are ignored, so workers and
    # clients of neighbouring versions read each other's run logs.
    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: int
    at: datetime
    agent: str
    step: int


class StartedEvent(_Event):
    kind: Literal["started"] = "started"
    input: str
    team: str
    tenant: str


class ModelStartedEvent(_Event):
    """A model call's attempt was sent to a worker: what live clients show while it runs. Its
    answer is the ``model_call`` (or a failed ``model_attempt``) of the same step."""

    kind: Literal["model_started"] = "model_started"
    profile: str
    model: str
    attempt: int = 1


class ModelCallEvent(_Event):
    """A model call that was answered. ``latency_ms`` is the answering attempt's; the step's
    model call began at ``started_at`` and took ``duration_ms`` over ``attempt`` attempts (the
    failed ones are ``ModelAttemptEvent``s)."""

    kind: Literal["model_call"] = "model_call"
    profile: str
    model: str
    provider: str
    usage: Usage
    cost_usd: float
    latency_ms: float
    finish_reason: str | None
    content: str | None
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    attempt: int = 1
    started_at: datetime | None = None
    duration_ms: float | None = None
    request_id: str | None = None  # the provider's id of the call
    refusal: str | None = None  # the model declined; the run ends ``refused``
    recovered_tool_calls: int = 0  # tool calls the model wrote as text, recognised as calls


class ModelAttemptEvent(_Event):
    """One attempt of a model call that failed; ``retry_in_s`` is the wait before the next
    attempt (None: no next attempt on this profile: a failover, a compaction or the end)."""

    kind: Literal["model_attempt"] = "model_attempt"
    profile: str
    model: str
    attempt: int
    status: Literal["failed", "timed_out"]
    error_type: str
    error: str
    http_status: int | None = None
    request_id: str | None = None
    started_at: datetime
    duration_ms: float
    retry_in_s: float | None = None


class ToolCallEvent(_Event):
    kind: Literal["tool_call"] = "tool_call"
    call_id: str
    tool: str
    effect: Literal["read", "write", "workflow"]  # workflow: delegation/transfer, not an activity
    arguments: dict[str, Any]
    status: Literal["ok", "error"]
    result: Any = None
    content: str
    error_type: str | None = None
    idempotency_key: str
    cache_hit: bool = False
    ledger_hit: bool = False
    duration_ms: float = 0.0
    # What running the tool itself cost, as the tool reported it (a paid API, a model it calls).
    # On a cache hit the tool did not run: these are what the call that filled the cache cost,
    # i.e. what the hit saved, and ``original_ms`` how long that call took.
    tool_tokens: int = 0
    tool_cost_usd: float = 0.0
    original_ms: float | None = None


class ToolRefusedEvent(_Event):
    kind: Literal["tool_refused"] = "tool_refused"
    call_id: str
    tool: str
    reason: str


class ChildEvent(_Event):
    """A pattern started or finished a member run (child workflow)."""

    kind: Literal["child"] = "child"
    action: Literal["started", "finished"]
    member: str
    member_kind: Literal["agent", "team"]
    workflow_id: str
    task: str
    status: RunStatus | None = None
    output: str | None = None
    reason: str | None = None
    usage: Usage = Usage()
    cost_usd: float = 0.0
    sees: str | None = None  # started: what the member was given of earlier work
    needs_help: NeedsHelp | None = None  # finished: the member's needs-help report


class FailoverEvent(_Event):
    kind: Literal["failover"] = "failover"
    from_profile: str
    to_profile: str
    reason: str


class ContinuedEvent(_Event):
    kind: Literal["continued"] = "continued"
    previous_run: str
    history_events: int
    history_bytes: int
    compacted_messages: int


class CompactedEvent(_Event):
    """The conversation was compacted in place (it no longer fit the model's context window)."""

    kind: Literal["compacted"] = "compacted"
    compacted_messages: int
    reason: str


class SummarizedEvent(_Event):
    """Working memory: older messages were folded into a summary before this step's model call
    (``error``: the summariser failed and a mechanical summary was used instead)."""

    kind: Literal["summarized"] = "summarized"
    profile: str
    model: str
    folded_messages: int
    kept_messages: int
    tokens_before: int  # the prompt, as estimated before the fold
    tokens_after: int  # estimated, after it
    summary: str
    usage: Usage = Usage()
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    error: str | None = None


class RecalledEvent(_Event):
    """Long-term memory at a run's start: what was recalled for the task, or why nothing was
    (``nothing_relevant``, ``too_old``), and a person's answer when the policy asked one."""

    kind: Literal["recalled"] = "recalled"
    subject: str
    outcome: Literal["recalled", "nothing_relevant", "too_old", "answered"]
    mode: str = "text"
    memories: list[dict[str, Any]] = Field(default_factory=list)  # id, kind, source_run, age_s
    approval_id: str | None = None  # the question put to a person


class ValidationEvent(_Event):
    kind: Literal["output_invalid"] = "output_invalid"
    attempt: int
    error: str
    error_type: str = "output_invalid"  # or empty_answer


class ApprovalEvent(_Event):
    kind: Literal["approval"] = "approval"
    approval_id: str
    action: Literal["requested", "approved", "rejected", "edited", "expired", "escalated",
                    "refused", "closed"]
    tool: str
    by: str | None = None
    reason: str | None = None
    arguments: dict[str, Any] | None = None
    signed: bool | None = None  # for decisions: whether a signature proved the decider


class FinishedEvent(_Event):
    kind: Literal["finished"] = "finished"
    status: RunStatus
    reason: str | None = None


RunEvent = Annotated[
    StartedEvent | ModelStartedEvent | ModelCallEvent | ModelAttemptEvent | ToolCallEvent
    | ToolRefusedEvent | ValidationEvent | ApprovalEvent | FailoverEvent | CompactedEvent
    | ContinuedEvent | ChildEvent | FinishedEvent | SummarizedEvent | RecalledEvent,
    Field(discriminator="kind"),
]
