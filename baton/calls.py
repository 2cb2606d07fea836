"""Activity payloads: what the workflow sends to the catalog, llm and tool activities and gets
back."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from baton.approvals import ApprovalAuthority
from baton.budgets import TenantBudget
from baton.memory import LongTermMemorySpec
from baton.messages import (
    AssistantMessage,
    CompactModel,
    ConversationRef,
    Message,
    ToolResultMessage,
    Usage,
    digest_of,
)
from baton.specs import ServedProfile, ToolSpec

__all__ = [
    "PAST_DEADLINE",
    "RETRY_AFTER_CAP_S",
    "CallSchemas",
    "Catalog",
    "CatalogRequest",
    "CatalogResolution",
    "ChatAttempt",
    "ChatRequest",
    "ChatResponse",
    "ToolInvocation",
    "ToolOutcome",
    "ToolSchema",
    "read_attempts",
]


# The longest wait a provider's Retry-After is honoured for, as the vendors' SDKs honour 0-60 s;
# a longer wish still counts against the run's remaining wall clock (baton.activities.llm.attempts).
RETRY_AFTER_CAP_S = 60.0
# The failure type of a retryable model call whose wait would pass the run's wall-clock deadline
# (``baton.errors.ProviderRetryPastDeadlineError``): not retried, the run fails over or stops.
PAST_DEADLINE = "ProviderRetryPastDeadlineError"


class _Payload(CompactModel):
    # Unknown fields are ignored: during a deploy an old worker may decode what a new one sent.
    model_config = ConfigDict(extra="ignore", frozen=True)


class CatalogRequest(_Payload):
    """The model profiles and tools a run names (see ``TeamSpec.references``)."""

    profiles: tuple[str, ...]
    tools: tuple[str, ...]
    tenant: str | None = None  # whose budget applies, if the operator set one


class Catalog(_Payload):
    """The model profiles and tools of one run as the worker serves them: resolved once when the
    run starts, recorded in its history, handed to its members and carried into continuations.
    The workflow decides everything from it (timeouts, retries, prices, fallback, schemas)."""

    profiles: dict[str, ServedProfile] = Field(default_factory=dict)
    tools: dict[str, ToolSpec] = Field(default_factory=dict)
    approvals: ApprovalAuthority = ApprovalAuthority()
    # The run's tenant has a budget: each model call reserves room with its authority first.
    tenant_budget: TenantBudget | None = None


class CatalogResolution(_Payload):
    """The worker's answer: what it serves of the request, and the names it does not serve."""

    catalog: Catalog
    unknown_profiles: tuple[str, ...] = ()
    unknown_tools: tuple[str, ...] = ()
    served_profiles: tuple[str, ...] = ()  # for the refusal message: what could be used instead
    served_tools: tuple[str, ...] = ()
    # Tools the worker would serve but cannot now (an MCP server that is down): name → why.
    unavailable_tools: dict[str, str] = Field(default_factory=dict)


class ToolSchema(_Payload):
    """The part of a tool the model sees."""

    name: str
    description: str
    parameters: dict[str, Any]


class CallSchemas(_Payload):
    """What an agent's model calls show besides the conversation: its tools and output schema.
    They stay the same call after call, so a workflow run sends them in full once and by
    reference (:meth:`digest`) after that; the worker keeps them, or asks the workflow's
    ``call_schemas`` query, as it does for a conversation's prefix."""

    tools: tuple[ToolSchema, ...] = ()
    output_schema: dict[str, Any] | None = None

    def digest(self) -> str:
        """128 bits of the canonical JSON's SHA-256 ("" when there is nothing to refer to)."""
        return digest_of(self)[:32] if self.tools or self.output_schema is not None else ""


class ChatRequest(_Payload):
    """One model call. The conversation arrives as ``prefix`` (the worker already holds it, or
    rebuilds it from the ``messages`` query of ``workflow_id``) plus ``delta``, the messages added
    since this agent's previous call, so each message enters workflow history once."""

    workflow_id: str
    run_id: str  # the team run, for headers and logs
    agent: str
    profile_name: str
    profile: ServedProfile  # as recorded in the run's catalog; the worker adds the connection
    prefix: ConversationRef
    delta: tuple[Message, ...]
    tools: tuple[ToolSchema, ...] = ()
    tool_choice: Literal["auto", "none", "required"] = "auto"
    output_schema: dict[str, Any] | None = None
    step: int = 0
    # What the run's budget leaves for this call's answer (never above the profile's own cap).
    max_output_tokens: int | None = None
    # Working memory: a summariser call folding messages [start, end) of the conversation the
    # prefix and delta make; the worker builds the summariser's prompt from them, so no message
    # enters history a second time (baton.activities.llm.summarize).
    summarize: tuple[int, int] | None = None
    # The digest of ``CallSchemas(tools, output_schema)``: set on every call that has any; when
    # the two fields are empty, the worker finds them by it (``LlmActivities`` resolves them).
    schemas_digest: str = ""

    @property
    def schemas(self) -> CallSchemas:
        return CallSchemas(tools=self.tools, output_schema=self.output_schema)

    @property
    def schemas_by_reference(self) -> bool:
        return bool(self.schemas_digest) and not self.tools and self.output_schema is None


class ChatAttempt(_Payload):
    """One failed attempt of a ``chat`` activity. Temporal retries the activity; each attempt
    reads the records of the earlier ones from its heartbeat details, heartbeats its own and,
    when it fails, completes it right before raising. ``status`` None: the attempt recorded no
    outcome (its worker died, or it outlived its timeout): whoever reads it next calls it
    ``timed_out`` (:meth:`lost`). ``retry_in_s`` is the wait before the next attempt (None:
    none followed). Times are the server's clock (as Temporal recorded the attempt)."""

    attempt: int
    started_at: datetime
    status: Literal["failed", "timed_out"] | None = None
    error_type: str | None = None
    error: str | None = None
    http_status: int | None = None
    request_id: str | None = None
    duration_ms: float = 0.0  # without an outcome: how long its last heartbeat knew it ran
    retry_in_s: float | None = None
    # When Temporal times the attempt out at the latest: its start-to-close timeout, or the
    # run's deadline (the call's schedule-to-close) when that comes first.
    times_out_at: datetime | None = None

    def event_fields(self) -> dict[str, Any]:
        """The fields of this attempt's ``model_attempt`` run-log event."""
        return {"attempt": self.attempt, "status": self.status or "timed_out",
                "error_type": self.error_type or "timeout", "error": self.error or "",
                "http_status": self.http_status, "request_id": self.request_id,
                "started_at": self.started_at, "duration_ms": self.duration_ms,
                "retry_in_s": self.retry_in_s}

    def lost(self, how: str, *, ended_at: datetime | None = None,
             retry_in_s: float | None = None) -> ChatAttempt:
        """This record as timed out ``how`` (at ``ended_at``, when known) when it has no
        outcome, else unchanged."""
        if self.status is not None:
            return self
        ran = self.duration_ms if ended_at is None else max(
            self.duration_ms, round((ended_at - self.started_at).total_seconds() * 1000, 1))
        return self.model_copy(update={
            "status": "timed_out", "error_type": "timeout", "duration_ms": ran,
            "error": f"the attempt timed out ({how})", "retry_in_s": retry_in_s})


def read_attempts(value: Any) -> list[ChatAttempt]:
    """The attempt records in a heartbeat's or a failure's details (a list of JSON objects);
    a record this release cannot read is left out."""
    out = []
    for raw in value if isinstance(value, list | tuple) else ():
        try:
            out.append(ChatAttempt.model_validate(raw))
        except ValidationError:
            continue
    return out


class ChatResponse(_Payload):
    message: AssistantMessage
    usage: Usage
    model: str  # the model that actually answered (providers may route)
    provider: str
    finish_reason: str | None = None
    latency_ms: float = 0.0
    refusal: str | None = None  # the model declined (OpenAI ``refusal``, Anthropic "refusal")
    request_id: str | None = None  # the provider's id of the call, for a support ticket
    # Tool calls the model wrote into its text (some vLLM and Ollama models) and the adapter
    # recognised: they are in ``message.tool_calls``, and the text is gone.
    recovered_tool_calls: int = 0
    # Which attempt of the activity answered, when it started (the server's clock) and how long
    # it took; the attempts that failed before it, oldest first.
    attempt: int = 1
    started_at: datetime | None = None
    duration_ms: float | None = None
    attempts: tuple[ChatAttempt, ...] = ()

    def call_time(self, began: datetime | None) -> tuple[datetime | None, float | None]:
        """When the step's model call began and how long it took until this answer: from
        ``began`` (its first attempt, on a profile it failed over from or before a compaction)
        or else this call's first attempt. Unknown (None) from a worker that did not say."""
        first = began or (self.attempts[0].started_at if self.attempts else self.started_at)
        if first is None or self.started_at is None or self.duration_ms is None:
            return first, None
        return first, round((self.started_at - first).total_seconds() * 1000
                            + self.duration_ms, 1)


class ToolInvocation(_Payload):
    tool: ToolSpec
    call_id: str
    arguments: dict[str, Any]
    raw_arguments: str | None = None
    idempotency_key: str
    run_id: str
    workflow_id: str
    agent: str
    step: int
    # Part of every ledger and read-cache key: one tenant never sees another's recorded
    # outcomes or cached reads. "default" also for payloads scheduled before it existed.
    tenant: str = "default"
    subject: str | None = None  # the run's subject: cached reads are tagged with it (forgetting)
    memory: LongTermMemorySpec | None = None  # the policy, for the built-in memory tools


class ToolOutcome(_Payload):
    """Tagged result of a tool call. ``ok`` and ``error`` both go back to the model; only
    infrastructure failures raise (and are retried by Temporal)."""

    status: Literal["ok", "error"]
    content: str  # what the model reads (possibly truncated)
    value: Any = None  # JSON value returned by the tool, for the run log (see ``result``)
    # The tool returned the string ``content`` (not truncated): stored once, not twice.
    content_is_value: bool = False
    error_type: str | None = None  # invalid_arguments | tool_raised | unknown_tool | ...
    cache_hit: bool = False
    ledger_hit: bool = False  # the side effect had already happened; recorded result returned
    duration_ms: float = 0.0
    truncated: bool = False
    extra: dict[str, Any] = Field(default_factory=dict)
    # What running the tool cost beyond its time, as the tool reported (ToolContext.report_cost);
    # a cached outcome keeps the figures of the call that filled the cache.
    tool_tokens: int = 0
    tool_cost_usd: float = 0.0
    original_ms: float | None = None  # a cache hit: how long the call that filled it took

    @property
    def result(self) -> Any:
        """The JSON value the tool returned (None when it was too large to keep)."""
        return self.content if self.content_is_value else self.value

    def message(self, call_id: str, name: str) -> ToolResultMessage:
        """What the model reads of this outcome. The workflow and the worker that ran the call
        both build it here, so the next model call can refer to it instead of carrying it."""
        return ToolResultMessage(tool_call_id=call_id, name=name, content=self.content,
                                 is_error=self.status == "error")
