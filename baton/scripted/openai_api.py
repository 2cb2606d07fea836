"""OpenAI Chat Completions on the wire: request parsing and ``chat.completion`` rendering."""

from __future__ import annotations

from typing import Any, Literal

from baton.scripted.wire import (
    CREATED,
    Answer,
    ChatQuery,
    Role,
    WireError,
    WireMessage,
    WireTool,
    WireToolCall,
    common,
    completion_tokens,
    prompt_tokens,
    require,
    schema_of,
    text_of,
)

__all__ = ["parse_openai", "render_openai"]


def parse_openai(body: Any) -> ChatQuery:
    """Parse a Chat Completions request (``developer`` counts as ``system``)."""
    model, raw_messages = common(body)
    names_by_call: dict[str, str] = {}
    messages: list[WireMessage] = []
    for i, m in enumerate(raw_messages):
        where = f"messages[{i}]"
        require(isinstance(m, dict), f"{where} must be an object")
        role = m.get("role")
        if role in ("system", "developer", "user"):
            kind: Role = "user" if role == "user" else "system"
            messages.append(WireMessage(kind, text_of(m.get("content"), where)))
        elif role == "assistant":
            calls = []
            for j, c in enumerate(m.get("tool_calls") or []):
                fn = c.get("function") if isinstance(c, dict) else None
                if not isinstance(fn, dict):
                    raise WireError(f"{where}.tool_calls[{j}].function is required")
                call = WireToolCall(
                    str(c.get("id", "")), str(fn.get("name", "")), str(fn.get("arguments", ""))
                )
                names_by_call[call.id] = call.name
                calls.append(call)
            messages.append(
                WireMessage("assistant", text_of(m.get("content"), where), tuple(calls))
            )
        elif role in ("tool", "function"):
            call_id = str(m.get("tool_call_id") or m.get("name") or "")
            require(role == "function" or bool(call_id), f"{where}: tool_call_id is required")
            messages.append(
                WireMessage(
                    "tool",
                    text_of(m.get("content"), where),
                    tool_call_id=call_id,
                    name=names_by_call.get(call_id, m.get("name")),
                )
            )
        else:
            raise WireError(f"{where}: unknown role {role!r}")
    tools = []
    for i, t in enumerate(body.get("tools") or []):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise WireError(f"tools[{i}].function.name is required")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        tools.append(
            WireTool(
                str(fn["name"]),
                str(fn.get("description") or ""),
                schema_of(params, f"tools[{i}].function.parameters"),
            )
        )
    choice, forced = _openai_choice(body.get("tool_choice"))
    schema, json_mode = _openai_format(body.get("response_format"))
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    require(max_tokens is None or isinstance(max_tokens, int), "max_tokens must be an integer")
    return ChatQuery(
        "openai",
        model,
        tuple(messages),
        tuple(tools),
        choice,
        forced,
        schema,
        json_mode,
        max_tokens,
    )


def _openai_choice(value: Any) -> tuple[Literal["auto", "none", "required"], str | None]:
    if value in (None, "auto"):
        return "auto", None
    if value in ("none", "required"):
        return ("none" if value == "none" else "required"), None
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        return "required", str(value["function"].get("name"))
    raise WireError(f"unsupported tool_choice {value!r}")


def _openai_format(value: Any) -> tuple[dict[str, Any] | None, bool]:
    if value is None or (isinstance(value, dict) and value.get("type") == "text"):
        return None, False
    require(isinstance(value, dict), "response_format must be an object")
    if value.get("type") == "json_object":
        return None, True
    if value.get("type") == "json_schema":
        spec = value.get("json_schema")
        require(isinstance(spec, dict), "response_format.json_schema is required")
        return schema_of(spec.get("schema", {}), "response_format.json_schema.schema"), True
    raise WireError(f"unsupported response_format type {value.get('type')!r}")


def render_openai(query: ChatQuery, answer: Answer, response_id: str) -> dict[str, Any]:
    """A ``chat.completion`` object exactly as OpenAI returns it."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in answer.tool_calls
        ]
    finish = "tool_calls" if answer.tool_calls else ("length" if answer.truncated else "stop")
    prompt, completion = prompt_tokens(query), completion_tokens(answer)
    return {
        "id": f"chatcmpl-{response_id}",
        "object": "chat.completion",
        "created": CREATED,
        "model": query.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
