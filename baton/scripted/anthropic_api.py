"""Anthropic Messages API on the wire: request parsing and ``message`` rendering."""

from __future__ import annotations

import json
from typing import Any, Literal

from baton.scripted.wire import (
    Answer,
    ChatQuery,
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

__all__ = ["parse_anthropic", "render_anthropic"]


def parse_anthropic(body: Any) -> ChatQuery:
    """Parse a Messages API request; ``tool_result`` blocks become ``tool`` messages."""
    model, raw_messages = common(body)
    max_tokens = body.get("max_tokens")
    require(isinstance(max_tokens, int) and max_tokens > 0, "'max_tokens' is required")
    messages: list[WireMessage] = []
    system = body.get("system")
    if system:
        messages.append(WireMessage("system", text_of(system, "system")))
    names_by_call: dict[str, str] = {}
    for i, m in enumerate(raw_messages):
        where = f"messages[{i}]"
        require(
            isinstance(m, dict) and m.get("role") in ("user", "assistant"),
            f"{where}.role must be 'user' or 'assistant'",
        )
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        require(isinstance(blocks, list), f"{where}.content must be a string or a list of blocks")
        texts: list[str] = []
        calls: list[WireToolCall] = []
        for block in blocks:
            require(isinstance(block, dict), f"{where}: content blocks must be objects")
            kind = block.get("type")
            if kind == "text":
                texts.append(str(block.get("text", "")))
            elif kind == "tool_use" and m["role"] == "assistant":
                raw: Any = block.get("input", {})
                args = json.dumps(raw) if isinstance(raw, dict) else str(raw)
                call = WireToolCall(str(block.get("id", "")), str(block.get("name", "")), args)
                names_by_call[call.id] = call.name
                calls.append(call)
            elif kind == "tool_result" and m["role"] == "user":
                call_id = str(block.get("tool_use_id", ""))
                messages.append(
                    WireMessage(
                        "tool",
                        text_of(block.get("content"), where),
                        tool_call_id=call_id,
                        name=names_by_call.get(call_id),
                        is_error=bool(block.get("is_error", False)),
                    )
                )
        if m["role"] == "assistant":
            messages.append(WireMessage("assistant", "\n".join(texts), tuple(calls)))
        elif texts:
            messages.append(WireMessage("user", "\n".join(texts)))
    tools = []
    for i, t in enumerate(body.get("tools") or []):
        if not isinstance(t, dict) or "input_schema" not in t:
            continue  # server tools (web search, ...) are not ours to call
        require(bool(t.get("name")), f"tools[{i}].name is required")
        tools.append(
            WireTool(
                str(t["name"]),
                str(t.get("description") or ""),
                schema_of(t["input_schema"], f"tools[{i}].input_schema"),
            )
        )
    choice, forced = _anthropic_choice(body.get("tool_choice"))
    output = body.get("output_format")
    schema = None
    if isinstance(output, dict) and output.get("type") == "json_schema":
        schema = schema_of(output.get("schema", {}), "output_format.schema")
    return ChatQuery(
        "anthropic",
        model,
        tuple(messages),
        tuple(tools),
        choice,
        forced,
        schema,
        schema is not None,
        max_tokens,
    )


def _anthropic_choice(value: Any) -> tuple[Literal["auto", "none", "required"], str | None]:
    kind = value.get("type") if isinstance(value, dict) else value
    if kind in (None, "auto"):
        return "auto", None
    if kind == "none":
        return "none", None
    if kind == "any":
        return "required", None
    if kind == "tool" and isinstance(value, dict):
        return "required", str(value.get("name"))
    raise WireError(f"unsupported tool_choice {value!r}")


def render_anthropic(query: ChatQuery, answer: Answer, response_id: str) -> dict[str, Any]:
    """A Messages API ``message`` object. Tool arguments that are not a JSON object (the
    ``raw_arguments`` step) are rendered as the raw string in ``input`` — Anthropic itself never
    does that, but it is the only way to exercise an adapter's invalid-arguments path."""
    content: list[dict[str, Any]] = []
    if answer.content or not answer.tool_calls:
        content.append({"type": "text", "text": answer.content or ""})
    for call in answer.tool_calls:
        try:
            parsed: Any = json.loads(call.arguments)
        except ValueError:
            parsed = call.arguments
        if not isinstance(parsed, dict):
            parsed = call.arguments
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": parsed})
    stop = "tool_use" if answer.tool_calls else ("max_tokens" if answer.truncated else "end_turn")
    return {
        "id": f"msg_{response_id}",
        "type": "message",
        "role": "assistant",
        "model": query.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": prompt_tokens(query),
            "output_tokens": completion_tokens(answer),
        },
    }
