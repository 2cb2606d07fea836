"""Runs: the input that starts one, the typed result that ends one, what a run carries into its
continuations, and the answers of its queries (status, messages and run-log pages).

The run log's events and ``RunStatus`` are defined in ``baton.run_events`` and re-exported
here: ``from baton.runs import ModelCallEvent`` is the usual way to name them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from baton.calls import Catalog
from baton.messages import Message, Usage
from baton.reports import InputContract, NeedsHelp
from baton.run_events import (
    ApprovalEvent,
    ChildEvent,
    CompactedEvent,
    ContinuedEvent,
    FailoverEvent,
    FinishedEvent,
    ModelAttemptEvent,
    ModelCallEvent,
    ModelStartedEvent,
    RecalledEvent,
    RunEvent,
    RunStatus,
    StartedEvent,
    SummarizedEvent,
    ToolCallEvent,
    ToolRefusedEvent,
    ValidationEvent,
)
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


# The failure type of a workflow closed for a run that did not succeed; its first detail is the
# RunResult, so clients and parent runs still get the typed result.
RUN_NOT_COMPLETED = "BatonRunNotCompleted"


class _Model(BaseModel):
    # Run input, results, carries and query answers are wire payloads (as are the run log's
    # events): unknown fields are ignored, so workers and clients of neighbouring versions read
    # each other's.
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
