"""Baton: durable orchestration of AI-agent teams on Temporal.

The public surface is what ``__all__`` lists; modules starting with ``_`` are private.
The exception tree is documented in :mod:`baton.errors`.
"""

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
