"""Runs: the input that starts one, the typed result that ends one, and the append-only run log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from baton.calls import Catalog
from baton.messages import Message, Usage
from baton.reports import InputContract, NeedsHelp
from baton.specs import TeamSpec

__all__ = [
    "MAX_INPUT_CHARS",
    "RUN_NOT_COMPLETED",
    "Admission",
    "AdmissionProblem",
    "AgentCarry",
    "AgentStatus",
    "ApprovalEvent",
    "ChildEvent",
    "ChildRecord",
    "CompactedEvent",
    "ContinuedEvent",
    "FailoverEvent",
    "FinishedEvent",
    "MembersCarry",
    "MessagesPage",
    "ModelAttemptEvent",
    "ModelCallEvent",
    "ModelStartedEvent",
    "PageRequest",
    "PatternCarry",
    "RecalledEvent",
    "RunEvent",
    "RunInput",
    "RunLogPage",
    "RunResult",
    "RunStatus",
    "StartedEvent",
    "SummarizedEvent",
    "ToolCallEvent",
    "ToolRefusedEvent",
    "Transfer",
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


# The failure type of a workflow closed for a run that did not succeed; its first detail is the
# RunResult, so clients and parent runs still get the typed result.
RUN_NOT_COMPLETED = "BatonRunNotCompleted"


class _Model(BaseModel):
    # Run input, results, events and query answers are wire payloads: unknown fields are
    # ignored, so workers and clients of neighbouring versions read each other's.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ChildRecord(_Model):
    """One member run of a pattern: what the parent delegated and how it ended."""

    member: str
    kind: Literal["agent", "team"]
    workflow_id: str
    status: RunStatus
    task: str
    output: str | None = None
    reason: str | None = None
    steps: int = 0
    usage: Usage = Usage()
    cost_usd: float = 0.0
    sees: str | None = None  # what it was given of earlier work (None: its task only)
    needs_help: NeedsHelp | None = None


class MembersCarry(_Model):
    """What a run with members carries into its next continuation: how many member runs it
    started (their workflow ids stay unique), their records, and the pattern's own state."""

    started: int = 0
    records: list[ChildRecord] = Field(default_factory=list)
    state: dict[str, Any] = Field(default_factory=dict)  # rounds, board, handoffs, routing…


class PatternCarry(_Model):
    """What a pattern run (no agent loop of its own) carries into its next continuation."""

    members: MembersCarry
    step: int
    usage: Usage
    cost_usd: float
    started_at: datetime
    waited_s: float = 0.0
    log_offset: int
    previous_runs: list[str]


class AgentCarry(_Model):
    """What a run carries into its next continuation (continue-as-new)."""

    messages: list[Message]
    step: int
    fix_attempts: int
    usage: Usage
    cost_usd: float
    started_at: datetime
    profile_name: str  # the active profile (it changes after a failover)
    log_offset: int  # sequence number of the next run-log event
    previous_runs: list[str]  # Temporal run ids of earlier continuations, oldest first
    last_answer: str | None = None
    waited_s: float = 0.0  # time spent waiting for people, not counted by the wall clock
    members: MembersCarry | None = None  # a supervisor's router: its delegations so far


MAX_INPUT_CHARS = 1_000_000  # Temporal refuses payloads over 2 MB; leave room for the spec


class RunInput(_Model):
    team: TeamSpec
    input: str
    tenant: str = "default"
    # Whom the run is about (a customer, a repository): long-term memory is kept per tenant and
    # subject (docs/memory.md); members inherit it.
    subject: str | None = Field(default=None, min_length=1, max_length=200)
    agent: str | None = None  # which agent of the team runs (patterns set it for children)
    parent_run_id: str | None = None
    carry: AgentCarry | None = None  # set only by continue-as-new (an agent loop's state)
    pattern_carry: PatternCarry | None = None  # set only by continue-as-new (a pattern's)
    context: list[Message] = Field(default_factory=list)  # history handed over (handoff)
    # handoff: agent → description; adds a transfer_to_<agent> tool per target
    transfer_targets: dict[str, str] = Field(default_factory=dict)
    # handoff: the targets that accept only a validated input (their input_schema)
    transfer_inputs: dict[str, InputContract] = Field(default_factory=dict)
    sees: str | None = None  # what this member was given of earlier work (shown by baton show)
    resume: dict[str, Any] = Field(default_factory=dict)  # pattern-specific resume state
    trace_id: str | None = None  # carried on agent-to-agent messages
    # What the worker serves of the team's names: resolved by the run itself at its start and
    # handed to members and continuations. A top-level run ignores a catalog in its input.
    catalog: Catalog | None = None

    @field_validator("transfer_targets", mode="before")
    @classmethod
    def _targets_from_names(cls, value: Any) -> Any:
        # Runs recorded before descriptions travelled with the targets carry a list of names;
        # in-flight runs must still decode after an upgrade.
        return dict.fromkeys(value, "") if isinstance(value, list | tuple) else value

    @field_validator("input")
    @classmethod
    def _input_fits_a_run(cls, text: str) -> str:
        # Refused here, by the client, with a reason: a payload Temporal rejects later gives an
        # RPC error, and text that cannot be encoded cannot be stored at all.
        if len(text) > MAX_INPUT_CHARS:
            raise ValueError(
                f"the input is {len(text):,} characters; a run takes at most "
                f"{MAX_INPUT_CHARS:,}. Put large material where a tool can read it (a file, a "
                "URL, a document store) and pass a reference")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"the input is not valid Unicode text ({exc.reason} at character "
                             f"{exc.start})") from None
        return text


class AdmissionProblem(_Model):
    """A name in the team the worker does not serve (or an approval override that would relax
    the worker's policy), and where in the team it is."""

    kind: Literal["profile", "tool", "approval"]
    name: str
    location: str  # in YAML terms, e.g. ``agents[0].tools[2]``
    message: str


class Admission(_Model):
    """Answer of the ``admission`` update: whether the run could resolve everything it names.
    A refused run has already ended (status ``failed``, ``error_type`` ``not_served``)."""

    accepted: bool
    problems: list[AdmissionProblem] = Field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(f"{p.location}: {p.message}" for p in self.problems)


class Transfer(_Model):
    """A handoff: control moves to ``to``, with the conversation to pass along."""

    source: str
    to: str
    reason: str
    messages: list[Message] = Field(default_factory=list)
    input: Any = None  # the target's validated input, when it has an input_schema


class RunResult(_Model):
    """How a run ended. Always returned, never raised: ``status`` says which limit or fault ended
    it, ``reason`` explains in words, ``output`` holds the answer or the best partial answer."""

    run_id: str
    team: str
    agent: str
    status: RunStatus
    output: str | None = None
    structured: dict[str, Any] | None = None
    reason: str | None = None
    error_type: str | None = None
    steps: int = 0
    usage: Usage = Usage()
    cost_usd: float = 0.0
    children: list[ChildRecord] = Field(default_factory=list)  # pattern runs: member results
    transfer: Transfer | None = None  # set when status is TRANSFERRED
    # An agent inside a team that ran out of steps or budget: what it tried and lacked.
    needs_help: NeedsHelp | None = None
    details: dict[str, Any] = Field(default_factory=dict)  # pattern-specific (rounds, board, ...)


class _Event(_Model):
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


class AgentStatus(_Model):
    """Answer of the ``status`` query."""

    run_id: str
    team: str
    agent: str
    status: RunStatus
    step: int
    max_steps: int
    usage: Usage
    cost_usd: float
    last_event: str | None = None
    previous_runs: list[str] = Field(default_factory=list)  # continuations, oldest first


class MessagesPage(_Model):
    offset: int
    total: int
    messages: list[Message]


class RunLogPage(_Model):
    offset: int
    total: int
    events: list[RunEvent]


class PageRequest(_Model):
    """Argument of the paginated ``messages`` and ``run_log`` queries."""

    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=200, ge=1, le=1000)
