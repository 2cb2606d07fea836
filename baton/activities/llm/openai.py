"""OpenAI Chat Completions adapter: pure converters plus one ``call`` over plain httpx.

This is the one code path for OpenAI, vLLM, Ollama, llama.cpp, LiteLLM and Baton's own scripted
model server (docs/architecture.md#one-model-code-path), so it sticks to the widely implemented
subset of the API.
``build_request`` and ``parse_response`` do no I/O and are unit-tested on their own.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field, ValidationError

from baton.activities.llm._exchange import ParsedChat, exchange
from baton.activities.llm.leaked import recover_tool_calls
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

__all__ = ["PROVIDER", "ParsedChat", "build_request", "call", "parse_arguments", "parse_response"]

PROVIDER = "openai"
ToolChoice = Literal["auto", "none", "required"]


def _message(message: Message) -> dict[str, Any]:
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message.content}
    if isinstance(message, UserMessage):
        return {"role": "user", "content": message.content}
    if isinstance(message, ToolResultMessage):
        # Chat Completions has no error flag on tool results; the content already says what failed.
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    # Never ``"content": null``: OpenAI accepts it next to tool_calls, llama.cpp's server answers
    # HTTP 500. An empty string is what every compatible server accepts.
    out: dict[str, Any] = {"role": "assistant", "content": message.content or ""}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    # Send back exactly what the model produced, even when it was not valid JSON,
                    # so the conversation the model sees is the conversation that happened.
                    "arguments": call.raw_arguments
                    if call.raw_arguments is not None
                    else json.dumps(call.arguments, ensure_ascii=False),
                },
            }
            for call in message.tool_calls
        ]
    return out


def build_request(
    messages: Sequence[Message],
    tools: Sequence[ToolSchema],
    *,
    profile: ServedProfile,
    tool_choice: ToolChoice = "auto",
    output_schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /chat/completions``."""
    body: dict[str, Any] = {
        "model": profile.model,
        "messages": [_message(m) for m in messages],
        # ``max_tokens`` rather than ``max_completion_tokens``: every compatible server knows it.
        "max_tokens": profile.max_output_tokens,
    }
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters,
                },
            }
            for t in tools
        ]
        # Only with tools: OpenAI rejects tool_choice when no tools are given.
        body["tool_choice"] = tool_choice
    if output_schema is not None and profile.structured_output == "json_schema":
        # strict=False: strict mode rejects common schemas (optional fields, free-form objects).
        # The workflow validates the answer itself and asks again, so strictness is not needed.
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": dict(output_schema), "strict": False},
        }
    elif output_schema is not None and profile.structured_output == "json_object":
        # JSON mode: any JSON object; the schema is in the system prompt (which says "JSON", as
        # OpenAI's JSON mode requires). ``prompt``: the system prompt alone asks for it.
        body["response_format"] = {"type": "json_object"}
    if profile.temperature is not None:
        body["temperature"] = profile.temperature
    return body


# Private models of the response: only the fields Baton reads, everything else is ignored.
class _Function(BaseModel):
    name: str
    arguments: str | dict[str, Any] | None = None


class _ToolCall(BaseModel):
    id: str | None = None
    function: _Function


class _Message(BaseModel):
    content: str | None = None
    refusal: str | None = None  # structured outputs: the model declined, content is null
    tool_calls: list[_ToolCall] | None = None


class _Choice(BaseModel):
    message: _Message
    finish_reason: str | None = None


class _PromptDetails(BaseModel):
    cached_tokens: int | None = 0


class _Usage(BaseModel):
    prompt_tokens: int | None = 0  # cached tokens included
    completion_tokens: int | None = 0
    prompt_tokens_details: _PromptDetails | None = None


class _Body(BaseModel):
    choices: list[_Choice] = Field(min_length=1)
    model: str = ""
    usage: _Usage | None = None


def parse_arguments(raw: str | dict[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    """``(arguments, raw_arguments)``: a JSON object parses; anything else keeps the text so the
    tool activity can tell the model what was wrong instead of calling the tool with garbage."""
    if isinstance(raw, dict):
        return raw, None
    if raw is None or not raw.strip():
        return {}, None  # a tool without parameters: some models send "" rather than "{}"
    try:
        value = json.loads(raw)
    except ValueError:
        return {}, raw
    return (value, None) if isinstance(value, dict) else ({}, raw)


def parse_response(body: Mapping[str, Any], tools: Collection[str] = ()) -> ParsedChat:
    """The assistant message, usage and model of a Chat Completions answer. With ``tools``
    (the names offered), a reply that is only a tool call written as text becomes that call
    (:mod:`baton.activities.llm.leaked`)."""
    try:
        parsed = _Body.model_validate(body)
    except ValidationError as exc:
        raise ProviderResponseError(
            f"{PROVIDER}: response is not a chat completion: {_short(exc)}", provider=PROVIDER
        ) from exc
    choice = parsed.choices[0]
    calls = []
    for index, call in enumerate(choice.message.tool_calls or []):
        arguments, raw = parse_arguments(call.function.arguments)
        calls.append(
            ToolCall(
                # Some compatible servers omit ids; tool results need one to refer to.
                id=call.id or f"call_{index}",
                name=call.function.name,
                arguments=arguments,
                raw_arguments=raw,
            )
        )
    content = choice.message.content
    recovered = () if calls else recover_tool_calls(content, tools)
    if recovered:
        calls, content = list(recovered), None
    usage = parsed.usage or _Usage()
    details = usage.prompt_tokens_details or _PromptDetails()
    return ParsedChat(
        message=AssistantMessage(content=content, tool_calls=tuple(calls)),
        usage=Usage(
            input_tokens=usage.prompt_tokens or 0, output_tokens=usage.completion_tokens or 0,
            cache_read_tokens=details.cached_tokens or 0,
        ),
        model=parsed.model,
        finish_reason=choice.finish_reason,
        refusal=choice.message.refusal or None,
        recovered_tool_calls=len(recovered),
    )


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']} ({exc.error_count()} problem(s))"


async def call(
    http: httpx.AsyncClient,
    request: ChatRequest,
    messages: Sequence[Message],
    *,
    base_url: str,
    api_key: str | None,
    headers: Mapping[str, str],
) -> ChatResponse:
    """One ``POST {base_url}/chat/completions``; raises a classified ProviderError on failure."""
    profile = request.profile
    payload = build_request(
        messages, request.tools, profile=profile, tool_choice=request.tool_choice,
        output_schema=request.output_schema,
    )
    sent = dict(headers)
    if api_key:
        sent["Authorization"] = f"Bearer {api_key}"
    names = [t.name for t in request.tools]
    return await exchange(http, request, url=f"{base_url.rstrip('/')}/chat/completions",
                          payload=payload, headers=sent, provider=PROVIDER,
                          parse=lambda body: parse_response(body, names))
