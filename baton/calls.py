"""Activity payloads: what the workflow sends to the catalog, llm and tool activities and gets
back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from baton.approvals import ApprovalAuthority
from baton.messages import AssistantMessage, ConversationRef, Message, Usage
from baton.specs import ServedProfile, ToolSpec

__all__ = [
    "Catalog",
    "CatalogRequest",
    "CatalogResolution",
    "ChatRequest",
    "ChatResponse",
    "ToolInvocation",
    "ToolOutcome",
    "ToolSchema",
]


class _Payload(BaseModel):
    # Unknown fields are ignored: during a deploy an old worker may decode what a new one sent.
    model_config = ConfigDict(extra="ignore", frozen=True)


class CatalogRequest(_Payload):
    """The model profiles and tools a run names (see ``TeamSpec.references``)."""

    profiles: tuple[str, ...]
    tools: tuple[str, ...]


class Catalog(_Payload):
    """The model profiles and tools of one run as the worker serves them: resolved once when the
    run starts, recorded in its history, handed to its members and carried into continuations.
    The workflow decides everything from it (timeouts, retries, prices, fallback, schemas)."""

    profiles: dict[str, ServedProfile] = Field(default_factory=dict)
    tools: dict[str, ToolSpec] = Field(default_factory=dict)
    approvals: ApprovalAuthority = ApprovalAuthority()


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


class ChatResponse(_Payload):
    message: AssistantMessage
    usage: Usage
    model: str  # the model that actually answered (providers may route)
    provider: str
    finish_reason: str | None = None
    latency_ms: float = 0.0


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
