"""The neutral form of a model call, shared by both provider wire formats.

Requests are parsed (``openai_api``, ``anthropic_api``) into one ``ChatQuery`` so the brain and
the script never care which API was called; answers are rendered back in exactly the shape each
provider documents, so the same httpx adapter that talks to OpenAI or Anthropic parses them
unchanged. Token estimates and error envelopes live here because both formats need them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

__all__ = [
    "CREATED",
    "Answer",
    "AnswerCall",
    "Api",
    "ChatQuery",
    "Role",
    "WireError",
    "WireMessage",
    "WireTool",
    "WireToolCall",
    "common",
    "completion_tokens",
    "error_body",
    "estimate_tokens",
    "prompt_tokens",
    "require",
    "schema_of",
    "text_of",
    "truncate",
]

Api = Literal["openai", "anthropic"]
Role = Literal["system", "user", "assistant", "tool"]

# A fixed ``created`` timestamp (2025-01-01T00:00:00Z): identical requests give identical bytes.
CREATED = 1_735_689_600


class WireError(ValueError):
    """The request body is not a valid request of that API (answered with HTTP 400)."""


@dataclass(frozen=True)
class WireToolCall:
    id: str
    name: str
    arguments: str  # the JSON text as the model sent it (may be invalid JSON)


@dataclass(frozen=True)
class WireMessage:
    role: Role
    content: str = ""
    tool_calls: tuple[WireToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None  # for tool results: the tool that produced it
    is_error: bool = False


@dataclass(frozen=True)
class WireTool:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ChatQuery:
    """A model call independent of the API it arrived through."""

    api: Api
    model: str
    messages: tuple[WireMessage, ...]
    tools: tuple[WireTool, ...] = ()
    tool_choice: Literal["auto", "none", "required"] = "auto"
    forced_tool: str | None = None
    response_schema: dict[str, Any] | None = None
    json_mode: bool = False
    max_tokens: int | None = None


@dataclass(frozen=True)
class AnswerCall:
    name: str
    arguments: str  # JSON text; deliberately invalid for ``raw_arguments`` steps
    id: str = ""


@dataclass(frozen=True)
class Answer:
    content: str | None
    tool_calls: tuple[AnswerCall, ...] = field(default_factory=tuple)
    truncated: bool = False


def estimate_tokens(text: str) -> int:
    """Deterministic token estimate: about four characters per token."""
    return math.ceil(len(text) / 4)


def prompt_tokens(query: ChatQuery) -> int:
    chars = sum(
        len(m.content) + sum(len(c.name) + len(c.arguments) for c in m.tool_calls)
        for m in query.messages
    )
    chars += sum(
        len(t.name) + len(t.description) + len(json.dumps(t.parameters)) for t in query.tools
    )
    if query.response_schema is not None:
        chars += len(json.dumps(query.response_schema))
    return max(1, math.ceil(chars / 4))


def completion_tokens(answer: Answer) -> int:
    chars = len(answer.content or "") + sum(
        len(c.name) + len(c.arguments) for c in answer.tool_calls
    )
    return max(1, math.ceil(chars / 4))


def truncate(answer: Answer, max_tokens: int | None) -> Answer:
    """Cut plain-text content at ``max_tokens`` like a real model (finish reason ``length``)."""
    if max_tokens is None or answer.tool_calls or answer.content is None:
        return answer
    limit = max_tokens * 4
    if len(answer.content) <= limit:
        return answer
    return replace(answer, content=answer.content[:limit], truncated=True)


# ----------------------------------------------------------------------------- parsing helpers


def require(cond: bool, message: str) -> None:
    if not cond:
        raise WireError(message)


def text_of(content: Any, where: str) -> str:
    """OpenAI and Anthropic both allow a string or a list of typed parts; keep the text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    require(isinstance(content, list), f"{where}: content must be a string or a list of parts")
    texts = [p.get("text", "") for p in content if isinstance(p, dict) and "text" in p]
    return "\n".join(str(t) for t in texts)


def schema_of(value: Any, where: str) -> dict[str, Any]:
    require(isinstance(value, dict), f"{where} must be a JSON schema object")
    return dict(value)


def common(body: Any) -> tuple[str, list[Any]]:
    require(isinstance(body, dict), "request body must be a JSON object")
    model = body.get("model")
    require(isinstance(model, str) and bool(model), "'model' is required")
    messages = body.get("messages")
    require(isinstance(messages, list) and bool(messages), "'messages' must be a non-empty list")
    return str(model), list(messages)


# ----------------------------------------------------------------------------- errors

_OPENAI_ERRORS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", "request_timeout"),
    409: ("conflict", "conflict"),
    429: ("requests", "rate_limit_exceeded"),
    503: ("server_error", "service_unavailable"),
    504: ("timeout", "gateway_timeout"),
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(
    api: Api, status: int, message: str, error_type: str | None = None
) -> dict[str, Any]:
    """The provider's error envelope; ``error_type`` overrides the status-derived type (used for
    the scripted server's own errors such as ``script_exhausted``)."""
    if api == "openai":
        default_type, code = _OPENAI_ERRORS.get(status, ("server_error", "server_error"))
        return {
            "error": {
                "message": message,
                "type": error_type or default_type,
                "param": None,
                "code": error_type or code,
            }
        }
    kind = error_type or _ANTHROPIC_ERRORS.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
