"""Baton: durable orchestration of AI-agent teams on Temporal.

The public surface is what ``__all__`` lists; modules starting with ``_`` are private.
The exception tree is documented in :mod:`baton.errors`.

Names are imported on first use (PEP 562): workflow code runs in Temporal's sandbox, which
re-imports a package's ``__init__`` for every workflow run, and loading the configuration and
YAML machinery there for every run would cost more than the run's first step.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from baton.calls import ChatRequest, ChatResponse, ToolInvocation, ToolOutcome, ToolSchema
    from baton.errors import (
        BatonError,
        ConversationMismatchError,
        ProviderAuthError,
        ProviderContextError,
        ProviderError,
        ProviderQuotaError,
        ProviderRequestError,
        ProviderResponseError,
        ProviderRetryableError,
        ProviderUnavailableError,
        RunNotFoundError,
        SpecError,
        StackError,
        ToolDefinitionError,
        UnknownToolError,
    )
    from baton.loader import load_team, parse_team
    from baton.messages import (
        AgentMessage,
        AssistantMessage,
        ConversationRef,
        Message,
        SystemMessage,
        ToolCall,
        ToolResultMessage,
        Usage,
        UserMessage,
    )
    from baton.runs import AgentStatus, RunEvent, RunInput, RunResult, RunStatus
    from baton.settings import BatonSettings
    from baton.specs import (
        AgentSpec,
        ApprovalPolicy,
        Budget,
        ModelProfile,
        RetrySpec,
        TeamSpec,
        ToolSpec,
    )
    from baton.tools import ToolContext, ToolRegistry, default_registry, tool

__all__ = [
    "AgentMessage",
    "AgentSpec",
    "AgentStatus",
    "ApprovalPolicy",
    "AssistantMessage",
    "BatonError",
    "BatonSettings",
    "Budget",
    "ChatRequest",
    "ChatResponse",
    "ConversationMismatchError",
    "ConversationRef",
    "Message",
    "ModelProfile",
    "ProviderAuthError",
    "ProviderContextError",
    "ProviderError",
    "ProviderQuotaError",
    "ProviderRequestError",
    "ProviderResponseError",
    "ProviderRetryableError",
    "ProviderUnavailableError",
    "RetrySpec",
    "RunEvent",
    "RunInput",
    "RunNotFoundError",
    "RunResult",
    "RunStatus",
    "SpecError",
    "StackError",
    "SystemMessage",
    "TeamSpec",
    "ToolCall",
    "ToolContext",
    "ToolDefinitionError",
    "ToolInvocation",
    "ToolOutcome",
    "ToolRegistry",
    "ToolResultMessage",
    "ToolSchema",
    "ToolSpec",
    "UnknownToolError",
    "Usage",
    "UserMessage",
    "default_registry",
    "load_team",
    "parse_team",
    "tool",
]

_HOMES: dict[str, str] = {
    "AgentMessage": "baton.messages",
    "AgentSpec": "baton.specs",
    "AgentStatus": "baton.runs",
    "ApprovalPolicy": "baton.specs",
    "AssistantMessage": "baton.messages",
    "BatonError": "baton.errors",
    "BatonSettings": "baton.settings",
    "Budget": "baton.specs",
    "ChatRequest": "baton.calls",
    "ChatResponse": "baton.calls",
    "ConversationMismatchError": "baton.errors",
    "ConversationRef": "baton.messages",
    "Message": "baton.messages",
    "ModelProfile": "baton.specs",
    "ProviderAuthError": "baton.errors",
    "ProviderContextError": "baton.errors",
    "ProviderError": "baton.errors",
    "ProviderQuotaError": "baton.errors",
    "ProviderRequestError": "baton.errors",
    "ProviderResponseError": "baton.errors",
    "ProviderRetryableError": "baton.errors",
    "ProviderUnavailableError": "baton.errors",
    "RetrySpec": "baton.specs",
    "RunEvent": "baton.runs",
    "RunInput": "baton.runs",
    "RunNotFoundError": "baton.errors",
    "RunResult": "baton.runs",
    "RunStatus": "baton.runs",
    "SpecError": "baton.errors",
    "StackError": "baton.errors",
    "SystemMessage": "baton.messages",
    "TeamSpec": "baton.specs",
    "ToolCall": "baton.messages",
    "ToolContext": "baton.tools",
    "ToolDefinitionError": "baton.errors",
    "ToolInvocation": "baton.calls",
    "ToolOutcome": "baton.calls",
    "ToolRegistry": "baton.tools",
    "ToolResultMessage": "baton.messages",
    "ToolSchema": "baton.calls",
    "ToolSpec": "baton.specs",
    "UnknownToolError": "baton.errors",
    "Usage": "baton.messages",
    "UserMessage": "baton.messages",
    "default_registry": "baton.tools",
    "load_team": "baton.loader",
    "parse_team": "baton.loader",
    "tool": "baton.tools",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'baton' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
