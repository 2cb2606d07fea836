"""Both wire formats, OpenAI Chat Completions and Anthropic Messages. Requests become one neutral
``ChatQuery``, so scripts and the heuristic model never care which API was called; answers are
rendered exactly in the shape each provider documents, so Baton's adapters parse them unchanged."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

__all__ = ["SHAPES", "Answer", "Api", "Call", "ChatQuery", "WireMessage",
           "WireTool", "error_body", "parse", "prompt_tokens", "render"]

Api = Literal["openai", "anthropic"]
Choice = Literal["auto", "none", "required"]
CREATED = 1_735_689_600  # a fixed ``created`` time: identical requests give identical bytes
SHAPES = json.loads((Path(__file__).parent / "providers.json").read_text(encoding="utf-8"))
_CACHE_MIN, _CACHE_TTL = 4 * 1024, 300.0  # 1,024 tokens at four characters; five minutes
_BREAKPOINT = '"cache_control": {"type": "ephemeral"}, '  # as json.dumps(sort_keys=True) writes it


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str  # JSON text as sent: invalid on purpose for raw_arguments steps and faults
    id: str = ""


@dataclass(frozen=True)
class WireMessage:
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[Call, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False


@dataclass(frozen=True)
class WireTool:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ChatQuery:
    api: Api
    model: str
    messages: tuple[WireMessage, ...]
    tools: tuple[WireTool, ...] = ()
    tool_choice: Choice = "auto"
    forced_tool: str | None = None
    response_schema: dict[str, Any] | None = None
    json_mode: bool = False
    max_tokens: int | None = None
    prefix: tuple[tuple[str, int, bool], ...] = ()  # see _prefix


@dataclass(frozen=True)
class Answer:
    content: str | None
    tool_calls: tuple[Call, ...] = ()
    truncated: bool = False


def _prefix(body: dict[str, Any]) -> tuple[tuple[str, int, bool], ...]:
    """Per part of the prompt (tools, system, messages): digest and size so far, breakpoint?"""
    system = body.get("system") or []
    out, digest, size = [], "", 0
    for part in [*(body.get("tools") or []), *(system if isinstance(system, list) else [system]),
                 *body["messages"]]:
        text = json.dumps(part, sort_keys=True)
        plain = text.replace(_BREAKPOINT, "")  # the same prompt, wherever its breakpoints are
        digest, size = hashlib.sha256(f"{digest}|{plain}".encode()).hexdigest(), size + len(plain)
        out.append((digest, size, plain != text))
    return tuple(out)


def prompt_tokens(query: ChatQuery, cache: dict[str, float], now: float) -> tuple[int, int, int]:
    """Prompt tokens of ``query`` (all; read from ``cache``, its longest cached prefix; written to
    it), four characters of JSON a token. Caches as documented: Anthropic's up to the last
    ``cache_control`` breakpoint, OpenAI's whole prompts (reads only), from 1,024 tokens, 5 min."""
    last = max((i for i, p in enumerate(query.prefix) if p[2] or query.api == "openai"), default=-1)
    usable = query.prefix[: last + 1]
    read = max((s for d, s, _ in usable if cache.get(d, 0.0) > now), default=0)
    cache.update({d: now + _CACHE_TTL for d, s, _ in usable if s >= _CACHE_MIN})
    for stale in [d for d, until in cache.items() if until <= now] if len(cache) > 10**5 else ():
        del cache[stale]  # a long-running demo server stays bounded
    top = usable[-1][1] if usable and query.api == "anthropic" else 0  # written up to here
    prompt = max(1, math.ceil((query.prefix[-1][1] if query.prefix else 0) / 4))
    return prompt, min(read // 4, prompt), (top - read) // 4 if top >= _CACHE_MIN else 0


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)


def _text(content: Any, where: str) -> str:
    """Both APIs allow a string or a list of typed parts; the text parts count."""
    if content is None or isinstance(content, str):
        return content or ""
    _require(isinstance(content, list), f"{where}: content must be a string or a list of parts")
    return "\n".join(str(p["text"]) for p in content if isinstance(p, dict) and "text" in p)


# ------------------------------------------------------------------ OpenAI Chat Completions

def _openai_message(m: Any, where: str) -> WireMessage:
    _require(isinstance(m, dict), f"{where} must be an object")
    role, text = m.get("role"), _text(m.get("content"), where)
    if role in ("system", "developer", "user"):  # ``developer`` is the newer ``system``
        return WireMessage("user" if role == "user" else "system", text)
    if role == "assistant":
        calls = []
        for j, c in enumerate(m.get("tool_calls") or []):
            fn = c.get("function") if isinstance(c, dict) else None
            if not isinstance(fn, dict):
                raise ValueError(f"{where}.tool_calls[{j}].function is required")
            calls.append(Call(str(fn.get("name", "")), str(fn.get("arguments", "")),
                              str(c.get("id", ""))))
        return WireMessage("assistant", text, tuple(calls))
    _require(role == "tool", f"{where}: unknown role {role!r}")
    _require(bool(m.get("tool_call_id")), f"{where}: tool_call_id is required")
    return WireMessage("tool", text, tool_call_id=str(m["tool_call_id"]))


def _parse_openai(body: dict[str, Any], model: str, raw: list[Any]) -> ChatQuery:
    tools = []
    for i, t in enumerate(body.get("tools") or []):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise ValueError(f"tools[{i}].function.name is required")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        _require(isinstance(params, dict), f"tools[{i}].function.parameters must be an object")
        tools.append(WireTool(str(fn["name"]), str(fn.get("description") or ""), dict(params)))
    choice: Any = body.get("tool_choice")
    fmt: Any = body.get("response_format") or {"type": "text"}
    forced, schema = None, None
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        choice, forced = "required", str(choice["function"].get("name"))
    _require(choice in (None, "auto", "none", "required"), f"unsupported tool_choice {choice!r}")
    _require(isinstance(fmt, dict) and fmt.get("type") in ("text", "json_object", "json_schema"),
             f"unsupported response_format {fmt!r}")
    if fmt["type"] == "json_schema":
        spec = fmt.get("json_schema")
        _require(isinstance(spec, dict), "response_format.json_schema is required")
        schema = spec.get("schema") or {}
        _require(isinstance(schema, dict), "response_format.json_schema.schema must be an object")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    _require(max_tokens is None or isinstance(max_tokens, int), "max_tokens must be an integer")
    messages = tuple(_openai_message(m, f"messages[{i}]") for i, m in enumerate(raw))
    return ChatQuery("openai", model, messages, tuple(tools), choice or "auto", forced, schema,
                     fmt["type"] != "text", max_tokens)


def _render_openai(query: ChatQuery, answer: Answer, response_id: str,
                   tokens: tuple[int, ...]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.tool_calls:
        message["tool_calls"] = [{"id": c.id, "type": "function", "function": {
            "name": c.name, "arguments": c.arguments}} for c in answer.tool_calls]
    finish = "tool_calls" if answer.tool_calls else ("length" if answer.truncated else "stop")
    prompt, read, _, completion = tokens
    return {"id": f"chatcmpl-{response_id}", "object": "chat.completion", "created": CREATED,
            "model": query.model, "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion,
                      "prompt_tokens_details": {"cached_tokens": read}}}


# ------------------------------------------------------------------ Anthropic Messages

def _anthropic_messages(m: Any, where: str) -> list[WireMessage]:
    """One API message as neutral ones: its ``tool_result`` blocks become ``tool`` messages."""
    _require(isinstance(m, dict) and m.get("role") in ("user", "assistant"),
             f"{where}.role must be 'user' or 'assistant'")
    content = m["content"] if isinstance(m.get("content"), list) else [
        {"type": "text", "text": _text(m.get("content"), where)}]
    out, texts, calls = list[WireMessage](), list[str](), list[Call]()
    raw: Any
    for block in content:
        _require(isinstance(block, dict), f"{where}: content blocks must be objects")
        kind, raw = block.get("type"), block.get("input", {})
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use" and m["role"] == "assistant":
            arguments = json.dumps(raw) if isinstance(raw, dict) else str(raw)
            calls.append(Call(str(block.get("name", "")), arguments, str(block.get("id", ""))))
        elif kind == "tool_result" and m["role"] == "user":
            out.append(WireMessage("tool", _text(block.get("content"), where),
                                   tool_call_id=str(block.get("tool_use_id", "")),
                                   is_error=bool(block.get("is_error", False))))
    if m["role"] == "assistant":
        out.append(WireMessage("assistant", "\n".join(texts), tuple(calls)))
    elif texts:
        out.append(WireMessage("user", "\n".join(texts)))
    return out


def _parse_anthropic(body: dict[str, Any], model: str, raw: list[Any]) -> ChatQuery:
    max_tokens = body.get("max_tokens")
    _require(isinstance(max_tokens, int) and max_tokens > 0, "'max_tokens' is required")
    system = body.get("system")
    messages = [WireMessage("system", _text(system, "system"))] if system else []
    for i, m in enumerate(raw):
        messages += _anthropic_messages(m, f"messages[{i}]")
    tools = []
    for i, t in enumerate(body.get("tools") or []):
        if isinstance(t, dict) and "input_schema" in t:  # server tools (web search) are not ours
            _require(bool(t.get("name")), f"tools[{i}].name is required")
            _require(isinstance(t["input_schema"], dict), f"tools[{i}].input_schema: an object")
            tools.append(WireTool(str(t["name"]), str(t.get("description") or ""),
                                  dict(t["input_schema"])))
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, dict) else choice
    _require(kind in (None, "auto", "none", "any", "tool"), f"unsupported tool_choice {choice!r}")
    forced = str(choice.get("name")) if kind == "tool" and isinstance(choice, dict) else None
    mode: Choice = "none" if kind == "none" else "required" if kind in ("any", "tool") else "auto"
    return ChatQuery("anthropic", model, tuple(messages), tuple(tools), mode, forced,
                     max_tokens=max_tokens)


def _render_anthropic(query: ChatQuery, answer: Answer, response_id: str,
                      tokens: tuple[int, ...]) -> dict[str, Any]:
    """Arguments that are no JSON object go into ``input`` as a string: adapters must survive it."""
    content: list[dict[str, Any]] = []
    if answer.content or not answer.tool_calls:
        content.append({"type": "text", "text": answer.content or ""})
    for call in answer.tool_calls:
        try:
            parsed: Any = json.loads(call.arguments)
        except ValueError:
            parsed = None
        content.append({"type": "tool_use", "id": call.id, "name": call.name,
                        "input": parsed if isinstance(parsed, dict) else call.arguments})
    stop = "tool_use" if answer.tool_calls else ("max_tokens" if answer.truncated else "end_turn")
    prompt, read, written, completion = tokens
    return {"id": f"msg_{response_id}", "type": "message", "role": "assistant",
            "model": query.model, "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": prompt - read - written, "cache_creation_input_tokens":
                      written, "cache_read_input_tokens": read, "output_tokens": completion}}


def parse(api: Api, body: Any) -> ChatQuery:
    """The request ``body`` of ``api``; ValueError when it is not a valid one (HTTP 400)."""
    _require(isinstance(body, dict), "request body must be a JSON object")
    model, messages = body.get("model"), body.get("messages")
    _require(isinstance(model, str) and bool(model), "'model' is required")
    _require(isinstance(messages, list) and bool(messages), "'messages' must be a non-empty list")
    query = (_parse_openai if api == "openai" else _parse_anthropic)(body, model, messages)
    return replace(query, prefix=_prefix(body))


def render(query: ChatQuery, answer: Answer, response_id: str,
           tokens: tuple[int, int, int]) -> dict[str, Any]:
    """The answer in the shape of the API asked, ``prompt_tokens``'s numbers, cut at max_tokens."""
    limit = (query.max_tokens or 10**9) * 4
    if not answer.tool_calls and len(answer.content or "") > limit:
        answer = replace(answer, content=(answer.content or "")[:limit], truncated=True)
    size = len(answer.content or "") + sum(len(c.name + c.arguments) for c in answer.tool_calls)
    return (_render_openai if query.api == "openai" else _render_anthropic)(
        query, answer, response_id, (*tokens, max(1, (min(size, limit) + 3) // 4)))


def error_body(api: Api, status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    """The provider's error envelope; ``kind`` overrides the type (``script_exhausted``, ...)."""
    shape = SHAPES["errors"][api].get(str(status), SHAPES["errors"][api]["default"])
    if api == "openai":
        return {"error": {"message": message, "type": kind or shape[0], "param": None,
                          "code": kind or shape[1]}}
    return {"type": "error", "error": {"type": kind or shape[0], "message": message}}
