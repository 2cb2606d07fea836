"""The provider matrix: every provider behaviour Baton handles, in one place.

``SHAPES`` lists what OpenAI, Anthropic, vLLM, Ollama and llama.cpp send (status, headers and body
as the vendors document them, or as their SDKs' test data and public bug reports show them) and
what Baton makes of each. Each shape is served by the scripted model server (fault injection
with ``body`` and ``headers``) on loopback and read by the real adapter over httpx; the full-run
tests (``test_provider_faults_e2e.py``) take their shapes from here. ``test_server_quirk_*`` are
the converter tests, one per known server quirk.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from baton.activities.llm import anthropic, openai
from baton.activities.llm.errors import to_application_error
from baton.activities.llm.leaked import recover_tool_calls
from baton.activities.llm.ratelimits import parse_go_duration, parse_reset, parse_retry_after
from baton.calls import ChatRequest, ChatResponse, ToolSchema
from baton.errors import ProviderError, ProviderRetryableError
from baton.messages import (
    AssistantMessage,
    ConversationRef,
    Message,
    SystemMessage,
    ToolCall,
    UserMessage,
)
from baton.scripted.testing import ScriptedServer
from baton.specs import ServedProfile


def _in(seconds: int) -> str:
    """A reset time ``seconds`` after the shape is served (see ``live``)."""
    return f"in {seconds} s"


def live(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` as sent now: each ``_in`` placeholder becomes an RFC 3339 time, as Anthropic's
    rate-limit reset headers send it."""
    def value(text: str) -> str:
        found = re.fullmatch(r"in (\d+) s", text)
        return text if found is None else (datetime.now(UTC) + timedelta(
            seconds=int(found.group(1)))).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {name: value(text) for name, text in headers.items()}


def openai_error(message: str, kind: str, code: str | None, param: str | None = None
                  ) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def anthropic_error(kind: str, message: str, request_id: str = "req_011CSHoEeqs5C35K2UUqR7Fy"
                     ) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def completion_body(message: dict[str, Any], usage: dict[str, Any] | None = None,
                finish: str = "stop") -> dict[str, Any]:
    return {"id": "chatcmpl-AbC123", "object": "chat.completion", "created": 1735689600,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", **message},
                         "logprobs": None, "finish_reason": finish}],
            "usage": usage or {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}}


def message_body(content: list[dict[str, Any]], stop: str, usage: dict[str, Any] | None = None,
             ) -> dict[str, Any]:
    return {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": content, "stop_reason": stop,
            "stop_sequence": None, "usage": usage or {"input_tokens": 20, "output_tokens": 5}}


@dataclass(frozen=True)
class Shape:
    """One thing a provider sends, and what Baton must make of it (``expect``: attributes of the
    ``ProviderError`` raised, or of the ``ChatResponse``)."""

    api: str  # which adapter reads it: openai (any compatible server) or anthropic
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)


QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. "
                 "For more information on this error, read the docs: "
                 "https://platform.openai.com/docs/guides/error-codes/api-errors.")
CONTEXT_MESSAGE = ("This model's maximum context length is 128000 tokens. However, your messages "
                   "resulted in 130517 tokens. Please reduce the length of the messages.")
REFUSAL = "I'm sorry, I cannot assist with that request."
LEAKED = '{"name": "weather", "arguments": {"city": "Oslo"}}'

SHAPES: dict[str, Shape] = {
    # -- OpenAI --------------------------------------------------------------------------------
    "openai_rate_limit": Shape("openai", 429, openai_error(
        "Rate limit reached for gpt-4o-mini in organization org-x on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in 20s.", "requests",
        "rate_limit_exceeded"), {
        "x-request-id": "req_8a1c5e", "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "20s",
        "x-ratelimit-remaining-tokens": "149000", "x-ratelimit-reset-tokens": "6m0s"},
        {"error": "ProviderRetryableError", "retry_after": 20.0, "request_id": "req_8a1c5e",
         "code": "rate_limit_exceeded"}),
    "openai_retry_after_a_day": Shape("openai", 429, openai_error(
        "Rate limit reached", "requests", "rate_limit_exceeded"), {"retry-after": "86400"},
        {"error": "ProviderRetryableError", "retry_after": 86400.0, "next_retry_delay_s": 60.0}),
    "openai_insufficient_quota": Shape("openai", 429, openai_error(
        QUOTA_MESSAGE, "insufficient_quota", "insufficient_quota"), {"x-request-id": "req_q1"},
        {"error": "ProviderQuotaError", "retryable": False, "request_id": "req_q1",
         "code": "insufficient_quota", "kind": "insufficient_quota"}),
    "openai_context_length_exceeded": Shape("openai", 400, openai_error(
        CONTEXT_MESSAGE, "invalid_request_error", "context_length_exceeded", "messages"), {},
        {"error": "ProviderContextError", "retryable": False, "code": "context_length_exceeded",
         "kind": "invalid_request_error", "param": "messages"}),
    "openai_invalid_api_key": Shape("openai", 401, openai_error(
        "Incorrect API key provided: sk-abc. You can find your API key at "
        "https://platform.openai.com/account/api-keys.", "invalid_request_error",
        "invalid_api_key"), {}, {"error": "ProviderAuthError", "retryable": False}),
    "openai_500_should_retry_false": Shape("openai", 500, openai_error(
        "The server had an error while processing your request.", "server_error", None),
        {"x-should-retry": "false"}, {"error": "ProviderUnavailableError", "retryable": False}),
    "openai_400_should_retry_true": Shape("openai", 400, openai_error(
        "Please retry.", "invalid_request_error", None), {"x-should-retry": "true"},
        {"error": "ProviderRetryableError", "retryable": True}),
    "openai_refusal": Shape("openai", 200, completion_body({"content": None, "refusal": REFUSAL}),
                            {"x-request-id": "req_r1"},
                            {"refusal": REFUSAL, "content": None, "request_id": "req_r1"}),
    "openai_cached_tokens": Shape("openai", 200, completion_body({"content": "Hi."}, {
        "prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0}}),
        expect={"usage": (2006, 300, 1920, 0)}),
    # -- Anthropic -----------------------------------------------------------------------------
    "anthropic_overloaded": Shape("anthropic", 529, anthropic_error(
        "overloaded_error", "Overloaded"), {},
        {"error": "ProviderRetryableError", "retryable": True,
         "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy", "kind": "overloaded_error"}),
    "anthropic_overloaded_should_retry_false": Shape("anthropic", 529, anthropic_error(
        "overloaded_error", "Overloaded", "req_h"), {"x-should-retry": "false", "request-id": "req_h"},
        {"error": "ProviderUnavailableError", "retryable": False, "request_id": "req_h"}),
    "anthropic_rate_limit_retry_after": Shape("anthropic", 429, anthropic_error(
        "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
        {"retry-after": "15", "anthropic-ratelimit-requests-remaining": "0",
         "anthropic-ratelimit-requests-reset": _in(40)},
        {"error": "ProviderRetryableError", "retry_after": 15.0}),
    "anthropic_rate_limit_reset_only": Shape("anthropic", 429, anthropic_error(
        "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
        {"anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": _in(30),
         "anthropic-ratelimit-requests-remaining": "40",
         "anthropic-ratelimit-requests-reset": _in(2)},
        {"error": "ProviderRetryableError", "retry_after": (20.0, 30.0)}),
    "anthropic_prompt_too_long": Shape("anthropic", 400, anthropic_error(
        "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"), {},
        {"error": "ProviderContextError", "retryable": False, "kind": "invalid_request_error"}),
    "anthropic_request_too_large": Shape("anthropic", 413, anthropic_error(
        "request_too_large", "Request exceeds the maximum allowed number of bytes."), {},
        {"error": "ProviderContextError", "kind": "request_too_large"}),
    "anthropic_credit_balance": Shape("anthropic", 400, anthropic_error(
        "invalid_request_error", "Your credit balance is too low to access the Anthropic API. "
        "Please go to Plans & Billing to upgrade or purchase credits."), {},
        {"error": "ProviderQuotaError", "retryable": False}),
    "anthropic_refusal": Shape("anthropic", 200, message_body([], "refusal"),
                               {"request-id": "req_011r"},
                               {"refusal": "the model declined to answer (stop_reason: refusal)",
                                "request_id": "req_011r"}),
    "anthropic_cache_usage": Shape("anthropic", 200, message_body(
        [{"type": "text", "text": "Hi."}], "end_turn", {
            "input_tokens": 21, "cache_creation_input_tokens": 188,
            "cache_read_input_tokens": 1800, "output_tokens": 393}),
        expect={"usage": (2009, 393, 1800, 188)}),
    # -- OpenAI-compatible servers -------------------------------------------------------------
    "vllm_context_length": Shape("openai", 400, {
        "object": "error", "message": "This model's maximum context length is 4096 tokens. "
        "However, you requested 5000 tokens (4000 in the messages, 1000 in the completion). "
        "Please reduce the length of the messages or completion.", "type": "BadRequestError",
        "param": None, "code": 400}, {},
        {"error": "ProviderContextError", "kind": "BadRequestError", "code": "400"}),
    "llamacpp_context_size": Shape("openai", 400, {"error": {
        "code": 400, "message": "the request exceeds the available context size, try "
        "increasing it", "type": "exceed_context_size_error", "n_prompt_tokens": 5000,
        "n_ctx": 4096}}, {}, {"error": "ProviderContextError", "kind": "exceed_context_size_error"}),
    "llamacpp_null_content": Shape("openai", 500, {"error": {
        "code": 500, "message": "[json.exception.type_error.302] type must be string, but is "
        "null", "type": "server_error"}}, {}, {"error": "ProviderRetryableError"}),
    "ollama_leaked_tool_call": Shape("openai", 200, completion_body({"content": LEAKED}),
                                     expect={"tool_calls": [("weather", {"city": "Oslo"})],
                                             "content": None, "recovered_tool_calls": 1}),
    "vllm_leaked_tool_calls_fenced": Shape("openai", 200, completion_body({"content": (
        '```json\n[{"name": "weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}, '
        '{"name": "weather", "arguments": {"city": "Rome"}}]\n```')}),
        expect={"tool_calls": [("weather", {"city": "Oslo"}), ("weather", {"city": "Rome"})],
                "recovered_tool_calls": 2}),
    "qwen_tool_call_tags": Shape("openai", 200, completion_body({"content": (
        f"<tool_call>\n{LEAKED}\n</tool_call>")}),
        expect={"tool_calls": [("weather", {"city": "Oslo"})], "recovered_tool_calls": 1}),
    "llama3_parameters": Shape("openai", 200, completion_body({"content": (
        '{"name": "weather", "parameters": {"city": "Oslo"}}')}),
        expect={"tool_calls": [("weather", {"city": "Oslo"})], "recovered_tool_calls": 1}),
    "leaked_call_of_an_unknown_tool": Shape("openai", 200, completion_body({"content": (
        '{"name": "delete_everything", "arguments": {}}')}),
        expect={"tool_calls": [], "recovered_tool_calls": 0}),
    "answer_that_only_looks_like_json": Shape("openai", 200, completion_body({"content": (
        '{"name": "weather", "arguments": {"city": "Oslo"}, "note": "an answer"}')}),
        expect={"tool_calls": [], "recovered_tool_calls": 0}),
    "dangling_function_prefix": Shape("openai", 200, completion_body({"content": "functions.weather:"}),
                                      expect={"tool_calls": [], "content": "functions.weather:"}),
}

WEATHER = ToolSchema(name="weather", description="Current weather for a city",
                     parameters={"type": "object", "properties": {"city": {"type": "string"}}})
HELLO: list[Message] = [SystemMessage(content="Be brief."), UserMessage(content="Weather?")]


async def served(scripted: ScriptedServer, shape: Shape) -> ChatResponse | ProviderError:
    """``shape`` served by the scripted server and read by its adapter over loopback HTTP."""
    run_id = f"matrix-{uuid.uuid4().hex[:10]}"
    scripted.set_faults(run_id, [{"fault": str(shape.status), "body": shape.body,
                                  "headers": live(shape.headers)}])
    request = ChatRequest(
        workflow_id=run_id, run_id=run_id, agent="a1", profile_name="p",
        profile=ServedProfile.model_validate({"provider": shape.api}), prefix=ConversationRef(),
        delta=tuple(HELLO), tools=(WEATHER,))
    adapter = openai.call if shape.api == "openai" else anthropic.call
    async with httpx.AsyncClient(trust_env=False) as http:
        try:
            return await adapter(http, request, HELLO, base_url=scripted.base_url, api_key=None,
                                 headers={"X-Baton-Run-Id": run_id, "X-Baton-Agent": "a1"})
        except ProviderError as exc:
            return exc


def _check_error(found: ChatResponse | ProviderError, expect: dict[str, Any]) -> None:
    assert isinstance(found, ProviderError), found
    assert type(found).__name__ == expect["error"]
    assert found.non_retryable is not expect.get("retryable", not found.non_retryable)
    for name in ("request_id", "code", "kind", "param"):
        if name in expect:
            assert getattr(found, name) == expect[name], name
    wanted = expect.get("retry_after")
    if isinstance(wanted, tuple):
        assert isinstance(found, ProviderRetryableError) and found.retry_after is not None
        assert wanted[0] <= found.retry_after <= wanted[1]
    elif wanted is not None:
        assert isinstance(found, ProviderRetryableError) and found.retry_after == wanted
    application = to_application_error(found)  # what the workflow reads
    assert application.type == expect["error"]
    details = application.details[0]
    assert (details["request_id"], details["code"], details["type"]) == (
        found.request_id, found.code, found.kind)
    if "next_retry_delay_s" in expect:
        assert application.next_retry_delay == timedelta(seconds=expect["next_retry_delay_s"])


def _check_response(found: ChatResponse | ProviderError, expect: dict[str, Any]) -> None:
    assert isinstance(found, ChatResponse), found
    if "usage" in expect:
        u = found.usage
        assert (u.input_tokens, u.output_tokens, u.cache_read_tokens,
                u.cache_write_tokens) == expect["usage"]
    for name in ("refusal", "request_id", "recovered_tool_calls"):
        if name in expect:
            assert getattr(found, name) == expect[name], name
    if "content" in expect:
        assert found.message.content == expect["content"]
    if "tool_calls" in expect:
        assert [(c.name, c.arguments) for c in found.message.tool_calls] == expect["tool_calls"]


@pytest.mark.parametrize("name", sorted(SHAPES))
async def test_adapter_reads_the_provider_shape(scripted: ScriptedServer, name: str) -> None:
    shape = SHAPES[name]
    found = await served(scripted, shape)
    if shape.status == 200:
        _check_response(found, shape.expect)
    else:
        _check_error(found, shape.expect)
        assert str(shape.status) in str(found)


def test_rate_limit_headers() -> None:
    assert parse_go_duration("6m0s") == 360.0
    assert parse_go_duration("1h2m3.5s") == 3723.5
    assert parse_go_duration("20ms") == pytest.approx(0.02)
    assert parse_go_duration("soon") is None and parse_go_duration("") is None
    now = datetime(2025, 1, 1, tzinfo=UTC)
    anthropic_reset = {"anthropic-ratelimit-requests-remaining": "0",
                       "anthropic-ratelimit-requests-reset": "2025-01-01T00:00:42Z"}
    assert parse_reset(anthropic_reset, now=now) == 42.0
    assert parse_reset({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "30s"},
                       now=now) == 1.0  # nothing says exhausted: the earliest reset
    assert parse_retry_after({"retry-after": "3", **anthropic_reset}, now=now) == 3.0
    assert parse_retry_after({"retry-after": "soon"}) is None


def test_leaked_tool_calls_need_an_offered_tool() -> None:
    assert recover_tool_calls(LEAKED, ["weather"])[0].arguments == {"city": "Oslo"}
    assert recover_tool_calls(LEAKED, []) == ()  # an agent without tools: an answer
    assert recover_tool_calls(f"Sure! {LEAKED}", ["weather"]) == ()  # prose around it: an answer
    assert recover_tool_calls('{"name": "weather", "arguments": "{not json"}', ["weather"]) == ()


# --- server quirks: one converter test each ----------------------------------------------------

CALLED = AssistantMessage(content=None, tool_calls=(
    ToolCall(id="c1", name="weather", arguments={"city": "Oslo"}),))


def test_server_quirk_llama_cpp_refuses_null_assistant_content() -> None:
    body = openai.build_request([*HELLO, CALLED], [WEATHER], profile=ServedProfile())
    assert body["messages"][-1]["content"] == ""
    assert all(m["content"] is not None for m in body["messages"])


@pytest.mark.parametrize(("mode", "expected"), [
    ("json_schema", "json_schema"), ("json_object", "json_object"), ("prompt", None)])
def test_server_quirk_structured_output_modes(mode: str, expected: str | None) -> None:
    # llama.cpp, older vLLM and many proxies answer 500 to json_schema: a profile switches it off.
    profile = ServedProfile.model_validate({"structured_output": mode})
    body = openai.build_request(HELLO, [], profile=profile, output_schema={"type": "object"})
    assert (body.get("response_format") or {}).get("type") == expected


def test_server_quirk_missing_tool_call_ids_and_object_arguments() -> None:
    # Ollama sends arguments as an object and some servers omit call ids.
    parsed = openai.parse_response(completion_body({"content": None, "tool_calls": [
        {"type": "function", "function": {"name": "weather", "arguments": {"city": "Oslo"}}}]}))
    assert parsed.message.tool_calls[0] == ToolCall(id="call_0", name="weather",
                                                    arguments={"city": "Oslo"})


def test_server_quirk_leaked_tool_call_in_content() -> None:
    parsed = openai.parse_response(completion_body({"content": LEAKED}), ["weather"])
    assert parsed.recovered_tool_calls == 1 and parsed.message.content is None


def test_server_quirk_anthropic_proxy_passes_unparsed_input() -> None:
    parsed = anthropic.parse_response(message_body([
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": "{city: Oslo"}],
        "tool_use"))
    assert parsed.message.tool_calls[0].raw_arguments == "{city: Oslo"


def test_shapes_are_json() -> None:
    for shape in SHAPES.values():  # what the fault queue carries must survive the control API
        assert json.loads(json.dumps(shape.body)) == shape.body
