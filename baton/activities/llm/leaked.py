"""Tool calls a model wrote into its text instead of ``tool_calls``.

Some models served by vLLM (without a tool parser for them) and Ollama answer a tool call as
text: a JSON object ``{"name": ..., "arguments": {...}}`` (Llama 3.x writes ``"parameters"``), a
list of them, either fenced as a Markdown ``json`` block or wrapped in ``<tool_call>`` tags
(Hermes, Qwen). The server cannot do better for such a model, so telling the model its call was
not executed changes nothing: the OpenAI-compatible adapter recognises these shapes instead.

It does so only when the whole reply is such a call (nothing else in the text), every call names
a tool the agent was offered and its arguments are a JSON object; anything else stays an answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any

from baton.messages import ToolCall

__all__ = ["recover_tool_calls"]

_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.S)
_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
_KEYS = frozenset({"name", "arguments", "parameters", "id", "type"})


def _unwrapped(text: str) -> list[str]:
    """The JSON texts ``text`` consists of: itself, one fenced block or ``<tool_call>`` blocks."""
    text = text.strip()
    fenced = _FENCE.fullmatch(text)
    if fenced:
        return [fenced.group(1)]
    tagged = _TAGGED.findall(text)
    if tagged and not _TAGGED.sub("", text).strip():
        return tagged
    return [text]


def _call(item: Any, tools: Collection[str], index: int) -> ToolCall | None:
    if not isinstance(item, dict) or set(item) - _KEYS or item.get("name") not in tools:
        return None
    if ("arguments" in item) == ("parameters" in item):  # exactly one of them
        return None
    arguments = item.get("arguments", item.get("parameters"))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    call_id = item.get("id") if isinstance(item.get("id"), str) else None
    return ToolCall(id=call_id or f"call_text_{index}", name=str(item["name"]),
                    arguments=arguments)


def recover_tool_calls(content: str | None, tools: Collection[str]) -> tuple[ToolCall, ...]:
    """The tool calls ``content`` consists of, or ``()`` when it is anything else."""
    if not content or not tools or not content.strip():
        return ()
    items: list[Any] = []
    for text in _unwrapped(content):
        try:
            value = json.loads(text)
        except ValueError:
            return ()
        items += value if isinstance(value, list) else [value]
    calls = [_call(item, tools, index) for index, item in enumerate(items)]
    if not calls or any(call is None for call in calls):
        return ()
    return tuple(call for call in calls if call is not None)
