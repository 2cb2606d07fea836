"""Anthropic Messages API adapter: pure converters plus one ``call`` over plain httpx.

Differences from Chat Completions handled here: system prompts go in ``system``; tool results are
``tool_result`` blocks inside a *user* turn (consecutive results share one turn); tool calls are
``tool_use`` blocks; ``max_tokens`` is mandatory; there is no ``response_format``; a refusal is
``stop_reason: "refusal"``.

Prompt caching (``ServedProfile.prompt_caching``, on by default): three ``cache_control``
breakpoints, on the tool definitions, the system prompt and the newest message. An agent's
prompt only grows, so each call reads what the previous one wrote (at a tenth of the input price)
and writes only what was added since. Prompts shorter than the model's minimum (1,024 tokens for
most models) are simply not cached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ValidationError

from baton.activities.llm._exchange import ParsedChat, exchange
from baton.calls import ChatRequest, ChatResponse, ToolSchema
from baton.errors import ProviderResponseError
from baton.messages import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from baton.specs import ServedProfile

__all__ = [
    "API_VERSION", "PROVIDER", "build_request", "call", "parse_response", "schema_instruction",
]

PROVIDER = "anthropic"
API_VERSION = "2023-06-01"
ToolChoice = Literal["auto", "none", "required"]
_TOOL_CHOICE = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
_CACHE = {"type": "ephemeral"}  # the default five-minute cache


def schema_instruction(schema: Mapping[str, Any]) -> str:
    """The system-prompt addition that asks for JSON matching ``schema``.

    The Messages API has no ``response_format``. Forcing a synthetic tool call would be the other
    option, but then structured output would come back as a tool call on one provider and as text
    on the other; asking for plain JSON text keeps a single validate-and-ask-again loop in the
    workflow for every provider.
    """
    return (
        "Answer with a single JSON value that validates against this JSON schema, and nothing "
        "else: no prose, no Markdown code fences.\nJSON schema:\n"
        + json.dumps(dict(schema), ensure_ascii=False, sort_keys=True)
    )


def _blocks(message: Message) -> tuple[str, list[dict[str, Any]]]:
    """The role and content blocks of one non-system message."""
    if isinstance(message, ToolResultMessage):
        block: dict[str, Any] = {
            "type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content,
        }
        if message.is_error:
            block["is_error"] = True
        return "user", [block]
    if isinstance(message, UserMessage):
        return "user", [{"type": "text", "text": message.content}] if message.content else []
    if not isinstance(message, AssistantMessage):  # system messages are handled by the caller
        raise TypeError(f"unexpected message kind {message.kind!r}")
    blocks: list[dict[str, Any]] = []
    if message.content:  # the API rejects empty text blocks
        blocks.append({"type": "text", "text": message.content})
    blocks.extend(
        # ``input`` must be an object; unparseable arguments were already answered with an error.
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
        for c in message.tool_calls
    )
    return "assistant", blocks


def _turns(messages: Sequence[Message], cache: bool) -> list[dict[str, Any]]:
    """The non-system messages as alternating turns."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            continue
        role, blocks = _blocks(message)
        if not blocks:
            continue
        # Consecutive messages of one role share a turn: that is how several tool results answer
        # one assistant turn, and a correction prompt may follow them in the same user turn.
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if cache and turns:  # the conversation so far, for the next call to read
        turns[-1]["content"][-1] = {**turns[-1]["content"][-1], "cache_control": dict(_CACHE)}
    for turn in turns if not cache else ():  # a lone text block reads better as a string; with
        # caching, a turn keeps its shape from call to call, so the cached prefix stays the same
        if len(turn["content"]) == 1 and turn["content"][0]["type"] == "text":
            turn["content"] = turn["content"][0]["text"]
    return turns


def build_request(
    messages: Sequence[Message],
    tools: Sequence[ToolSchema],
    *,
    profile: ServedProfile,
    tool_choice: ToolChoice = "auto",
    output_schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /messages``."""
    # Every system message goes to ``system`` (the API has no system role inside ``messages``);
    # order among them is kept.
    system = [m.content for m in messages if isinstance(m, SystemMessage)]
    if output_schema is not None:
        system.append(schema_instruction(output_schema))
    cache = profile.prompt_caching
    body: dict[str, Any] = {
        "model": profile.model,
        "max_tokens": profile.max_output_tokens,
        "messages": _turns(messages, cache),
    }
    if system:
        text = "\n\n".join(system)
        body["system"] = [{"type": "text", "text": text, "cache_control": dict(_CACHE)}] if (
            cache) else text
    if tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in tools
        ]
        if cache:
            body["tools"][-1]["cache_control"] = dict(_CACHE)
        body["tool_choice"] = dict(_TOOL_CHOICE[tool_choice])
    if profile.temperature is not None:
        body["temperature"] = min(profile.temperature, 1.0)  # Anthropic's range is 0..1
    return body


class _Block(BaseModel):
    type: str
    text: str | None = None
    id: str | None = None
    name: str | None = None
    input: Any = None


class _Usage(BaseModel):
    input_tokens: int | None = 0  # the prompt after the last cache breakpoint only
    output_tokens: int | None = 0
    cache_read_input_tokens: int | None = 0
    cache_creation_input_tokens: int | None = 0


class _Body(BaseModel):
    content: list[_Block]
    model: str = ""
    stop_reason: str | None = None
    usage: _Usage | None = None


def parse_response(body: Mapping[str, Any]) -> ParsedChat:
    """The assistant message, usage and model of a Messages API answer."""
    try:
        parsed = _Body.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ProviderResponseError(
            f"{PROVIDER}: response is not a message: {where}: {first['msg']}", provider=PROVIDER
        ) from exc
    texts: list[str] = []
    calls: list[ToolCall] = []
    for index, block in enumerate(parsed.content):
        if block.type == "text" and block.text:
            texts.append(block.text)
        elif block.type == "tool_use":
            if not block.name:
                raise ProviderResponseError(
                    f"{PROVIDER}: tool_use block without a name", provider=PROVIDER
                )
            raw: str | None = None
            if isinstance(block.input, str):  # proxies pass unparseable arguments through as text
                raw = block.input
            elif not isinstance(block.input, dict):
                raw = json.dumps(block.input)
            calls.append(
                ToolCall(
                    id=block.id or f"toolu_{index}",
                    name=block.name,
                    arguments=block.input if raw is None else {},
                    raw_arguments=raw,
                )
            )
        # other blocks (thinking, server tools) are not part of Baton's conversation model
    usage = parsed.usage or _Usage()
    read, written = usage.cache_read_input_tokens or 0, usage.cache_creation_input_tokens or 0
    text = "".join(texts) or None
    refusal = None
    if parsed.stop_reason == "refusal":  # whatever text came before the stop is the refusal
        refusal = text or "the model declined to answer (stop_reason: refusal)"
    return ParsedChat(
        message=AssistantMessage(content=text, tool_calls=tuple(calls)),
        usage=Usage(input_tokens=(usage.input_tokens or 0) + read + written,
                    output_tokens=usage.output_tokens or 0,
                    cache_read_tokens=read, cache_write_tokens=written),
        model=parsed.model,
        finish_reason=parsed.stop_reason,
        refusal=refusal,
    )


async def call(
    http: httpx.AsyncClient,
    request: ChatRequest,
    messages: Sequence[Message],
    *,
    base_url: str,
    api_key: str | None,
    headers: Mapping[str, str],
) -> ChatResponse:
    """One ``POST {base_url}/messages``; raises a classified ProviderError on failure."""
    profile = request.profile
    payload = build_request(
        messages, request.tools, profile=profile, tool_choice=request.tool_choice,
        output_schema=request.output_schema,
    )
    sent = {**headers, "anthropic-version": API_VERSION}
    if api_key:
        sent["x-api-key"] = api_key
    return await exchange(http, request, url=f"{base_url.rstrip('/')}/messages",
                          payload=payload, headers=sent, provider=PROVIDER, parse=parse_response)
