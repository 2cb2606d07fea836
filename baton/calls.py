"""Activity payloads: what the workflow sends to the catalog, llm and tool activities and gets
back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from baton.approvals import ApprovalAuthority
from baton.budgets import TenantBudget
from baton.messages import AssistantMessage, CompactModel, ConversationRef, Message, Usage
from baton.specs import ServedProfile, ToolSpec

__all__ = [
    "RETRY_AFTER_CAP_S",
    "Catalog",
    "CatalogRequest",
    "CatalogResolution",
    "ChatRequest",
    "ChatResponse",
    "ToolInvocation",
    "ToolOutcome",
    "ToolSchema",
]


# The longest wait a provider's Retry-After is honoured for, as the vendors' SDKs honour 0-60 s;
# a longer wish still counts against the run's remaining wall clock (baton.workflows._retry).
RETRY_AFTER_CAP_S = 60.0


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


class ToolSchema(_Payload):
    """The part of a tool the model sees."""

    name: str
    description: str
    parameters: dict[str, Any]


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
    attempt: int = 1  # of this call on this profile: the workflow retries, one attempt each
    # What the run's budget leaves for this call's answer (never above the profile's own cap).
    max_output_tokens: int | None = None


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


class ToolOutcome(_Payload):
    """Tagged result of a tool call. ``ok`` and ``error`` both go back to the model; only
    infrastructure failures raise (and are retried by Temporal)."""

    status: Literal["ok", "error"]
    content: str  # what the model reads (possibly truncated)
    value: Any = None  # JSON value returned by the tool, for the run log
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
