"""Conversation messages: kind-tagged pydantic models, plus the prefix digest.

A conversation is an append-only list of ``Message``. The workflow never sends the whole list to
the llm activity: it sends a ``ConversationRef`` (length + digest of the prefix the worker should
already have) and the messages added since (docs/architecture.md#linear-history). ``chain_digest``
is the one
function both sides use, so the digest the workflow computes is the digest the worker verifies.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
)

__all__ = [
    "EMPTY_DIGEST",
    "AgentMessage",
    "AssistantMessage",
    "CompactModel",
    "ConversationRef",
    "Message",
    "SystemMessage",
    "ToolCall",
    "ToolResultMessage",
    "Usage",
    "UserMessage",
    "chain_digest",
    "digest_of",
    "dump_messages",
    "load_messages",
    "size_of",
]


class CompactModel(BaseModel):
    """A payload that leaves its default values out of its JSON, as protobuf does.

    Activity inputs and results are stored in every run's history, once per call: a field at its
    default says nothing a reader does not already know, and decoding restores it. Defaults are
    therefore part of the wire contract (changing one changes what old payloads mean). ``kind``
    tags stay: they choose the model when a union is decoded."""

    @model_serializer(mode="wrap")
    def _without_defaults(self, handler: SerializerFunctionWrapHandler,
                          info: SerializationInfo) -> Any:
        data = handler(self)
        if not info.mode_is_json() or not isinstance(data, dict):
            return data
        for name, key, default in _defaults_of(type(self)):
            if key in data and getattr(self, name) == default:
                del data[key]
        return data


_DEFAULTS: dict[type[BaseModel], tuple[tuple[str, str, Any], ...]] = {}


def _defaults_of(model: type[BaseModel]) -> tuple[tuple[str, str, Any], ...]:
    """(field, JSON key, default) of each optional field but ``kind``, computed once per class:
    pydantic's ``get_default`` inspects a default factory's signature on every call, and every
    payload and every digest serialises messages."""
    found = _DEFAULTS.get(model)
    if found is None:
        found = _DEFAULTS[model] = tuple(
            (name, field.serialization_alias or field.alias or name,
             field.get_default(call_default_factory=True))
            for name, field in model.model_fields.items()
            if name != "kind" and not field.is_required())
    return found


class _Frozen(CompactModel):
    # Messages travel between workflow, activities and clients: unknown fields are ignored, so
    # workers and clients of neighbouring versions read each other's payloads.
    model_config = ConfigDict(frozen=True, extra="ignore")


class ToolCall(_Frozen):
    """One tool call requested by the model. ``arguments`` is parsed JSON; when the model sent
    something that is not a JSON object, ``arguments`` is empty and ``raw_arguments`` keeps the text
    so the tool activity can tell the model exactly what was wrong."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    raw_arguments: str | None = None


class SystemMessage(_Frozen):
    kind: Literal["system"] = "system"
    content: str


class UserMessage(_Frozen):
    kind: Literal["user"] = "user"
    content: str
    source: str | None = None  # who sent it: "user", or an agent name for agent-to-agent messages


class AssistantMessage(_Frozen):
    kind: Literal["assistant"] = "assistant"
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    agent: str | None = None


class ToolResultMessage(_Frozen):
    kind: Literal["tool"] = "tool"
    tool_call_id: str
    name: str
    content: str
    is_error: bool = False


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolResultMessage,
    Field(discriminator="kind"),
]


class AgentMessage(_Frozen):
    """A structured message between agents (delegation or transfer), carried with its trace id."""

    source: str
    destination: str
    payload: dict[str, Any] | str
    trace_id: str | None = None
    kind: Literal["delegate", "transfer", "report"] = "delegate"


class Usage(_Frozen):
    """Tokens of one or more model calls. ``input_tokens`` counts every prompt token, cached or
    not; ``cache_read_tokens`` (read from the provider's prompt cache) and
    ``cache_write_tokens`` (written to it) are the parts of it priced differently."""

    # A wire payload: an older worker must decode usage a newer one counts more of.
    model_config = ConfigDict(frozen=True, extra="ignore")

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
        )


class ConversationRef(_Frozen):
    """The prefix of a conversation the worker is expected to hold: its length and digest."""

    length: int = 0
    digest: str = ""


EMPTY_DIGEST = ""


def digest_of(message: BaseModel) -> str:
    """Canonical JSON of one message, hashed. Key order and whitespace never change the digest."""
    canonical = json.dumps(
        message.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def chain_digest(previous: str, message: BaseModel) -> str:
    """Digest of a prefix extended by one message: ``sha256(previous || digest(message))``."""
    return hashlib.sha256(f"{previous}:{digest_of(message)}".encode()).hexdigest()


_MESSAGES: TypeAdapter[list[Message]] = TypeAdapter(list[Message])


def dump_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages as plain JSON values (for state carried in an untyped mapping)."""
    dumped: list[dict[str, Any]] = _MESSAGES.dump_python(messages, mode="json")
    return dumped


def load_messages(values: list[Any]) -> list[Message]:
    return _MESSAGES.validate_python(values)


def size_of(message: BaseModel) -> int:
    """UTF-8 bytes of what a message puts in a prompt (its text and tool calls)."""
    content = getattr(message, "content", None) or ""
    calls = getattr(message, "tool_calls", ())
    return len(content.encode("utf-8")) + sum(
        len(call.name) + len(json.dumps(call.arguments)) + len(call.raw_arguments or "")
        for call in calls)
