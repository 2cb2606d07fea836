"""Pure unit tests of the provider converters and the error classifier (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from baton.activities.llm import anthropic, openai
from baton.activities.llm.conversations import digests_of
from baton.activities.llm.errors import (
    classify_status,
    classify_transport,
    decode_json,
    parse_retry_after,
    to_application_error,
)
from baton.calls import ToolSchema
from baton.errors import (
    ConversationMismatchError,
    ProviderAuthError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderRetryableError,
)
from baton.messages import (
    EMPTY_DIGEST,
    AssistantMessage,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
    chain_digest,
)
from baton.specs import ModelProfile

WEATHER = ToolSchema(
    name="weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
CONVERSATION: list[Message] = [
    SystemMessage(content="You are helpful."),
    UserMessage(content="Weather in Oslo and Rome?"),
    AssistantMessage(
        content=None,
        tool_calls=(
            ToolCall(id="c1", name="weather", arguments={"city": "Oslo"}),
            ToolCall(id="c2", name="weather", raw_arguments="{city: Rome"),
        ),
    ),
    ToolResultMessage(tool_call_id="c1", name="weather", content="-3C"),
    ToolResultMessage(tool_call_id="c2", name="weather", content="bad JSON", is_error=True),
]
PROFILE = ModelProfile(model="m1", max_output_tokens=256)


# --- OpenAI ---------------------------------------------------------------------------------


def test_openai_request_shape() -> None:
    body = openai.build_request(
        CONVERSATION, [WEATHER], profile=PROFILE, tool_choice="required",
        output_schema={"type": "object"},
    )
    assert body["model"] == "m1"
    assert body["max_tokens"] == 256
    assert "temperature" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "tool"]
    calls = body["messages"][2]["tool_calls"]
    assert calls[0] == {
        "id": "c1", "type": "function",
        "function": {"name": "weather", "arguments": json.dumps({"city": "Oslo"})},
    }
    assert calls[1]["function"]["arguments"] == "{city: Rome"  # sent back as the model wrote it
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": "-3C"}
    assert body["tools"] == [{"type": "function", "function": {
        "name": "weather", "description": WEATHER.description, "parameters": WEATHER.parameters,
    }}]
    assert body["tool_choice"] == "required"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": {"type": "object"}, "strict": False},
    }


def test_openai_request_without_tools_has_no_tool_choice() -> None:
    profile = PROFILE.model_copy(update={"temperature": 0.2})
    body = openai.build_request([UserMessage(content="hi")], [], profile=profile)
    assert "tools" not in body
    assert "tool_choice" not in body
    assert "response_format" not in body
    assert body["temperature"] == 0.2


def test_openai_parse_response_with_tool_calls() -> None:
    parsed = openai.parse_response({
        "model": "m1-2025",
        "choices": [{
            "finish_reason": "tool_calls",
            "message": {"role": "assistant", "content": None, "tool_calls": [
                {"id": "a", "type": "function",
                 "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
                {"id": "b", "type": "function",
                 "function": {"name": "weather", "arguments": "not json"}},
                {"id": "c", "type": "function",
                 "function": {"name": "weather", "arguments": "[1]"}},
                {"id": "d", "type": "function", "function": {"name": "now", "arguments": ""}},
            ]},
        }],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7},
    })
    calls = parsed.message.tool_calls
    assert calls[0] == ToolCall(id="a", name="weather", arguments={"city": "Oslo"})
    assert calls[1].arguments == {}
    assert calls[1].raw_arguments == "not json"
    assert calls[2].raw_arguments == "[1]"  # JSON, but not an object
    assert calls[3] == ToolCall(id="d", name="now", arguments={})
    assert parsed.usage.input_tokens == 11
    assert parsed.usage.output_tokens == 7
    assert parsed.model == "m1-2025"
    assert parsed.finish_reason == "tool_calls"


def test_openai_parse_text_answer_without_usage() -> None:
    parsed = openai.parse_response({"choices": [{"message": {"content": "hello"}}]})
    assert parsed.message.content == "hello"
    assert parsed.message.tool_calls == ()
    assert parsed.usage.total_tokens == 0


@pytest.mark.parametrize("body", [{}, {"choices": []}, {"choices": [{"nomessage": 1}]}])
def test_openai_invalid_shape_is_response_error(body: dict[str, object]) -> None:
    with pytest.raises(ProviderResponseError):
        openai.parse_response(body)


# --- Anthropic ------------------------------------------------------------------------------


def test_anthropic_request_shape() -> None:
    body = anthropic.build_request(
        [*CONVERSATION, UserMessage(content="Now summarise.")], [WEATHER],
        profile=PROFILE, tool_choice="required", output_schema={"type": "object"},
    )
    # Prompt caching (on by default): breakpoints on the system prompt, the tools and the newest
    # message, so the next call reads what this one wrote.
    [system] = body["system"]
    assert system["cache_control"] == {"type": "ephemeral"}
    assert system["text"].startswith("You are helpful.\n\n")
    assert '{"type": "object"}' in system["text"]
    assert body["max_tokens"] == 256
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    # With caching a turn keeps its block form from call to call (the cached prefix stays equal).
    assert body["messages"][0]["content"] == [{"type": "text", "text": "Weather in Oslo and Rome?"}]
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "c1", "name": "weather", "input": {"city": "Oslo"}},
        {"type": "tool_use", "id": "c2", "name": "weather", "input": {}},
    ]
    # both tool results in one user turn, then the follow-up text in the same turn
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "-3C"},
        {"type": "tool_result", "tool_use_id": "c2", "content": "bad JSON", "is_error": True},
        {"type": "text", "text": "Now summarise.", "cache_control": {"type": "ephemeral"}},
    ]
    assert body["tools"] == [
        {"name": "weather", "description": WEATHER.description, "input_schema": WEATHER.parameters,
         "cache_control": {"type": "ephemeral"}}
    ]
    assert body["tool_choice"] == {"type": "any"}


def test_anthropic_request_without_prompt_caching() -> None:
    profile = PROFILE.model_copy(update={"prompt_caching": False})
    body = anthropic.build_request(CONVERSATION, [WEATHER], profile=profile)
    assert body["system"] == "You are helpful."
    assert body["messages"][0]["content"] == "Weather in Oslo and Rome?"  # a lone text block
    assert "cache_control" not in json.dumps(body)


@pytest.mark.parametrize(("choice", "expected"), [("auto", "auto"), ("none", "none")])
def test_anthropic_tool_choice(choice: anthropic.ToolChoice, expected: str) -> None:
    body = anthropic.build_request(
        [UserMessage(content="hi")], [WEATHER], profile=PROFILE, tool_choice=choice
    )
    assert body["tool_choice"] == {"type": expected}
    assert "system" not in body


def test_anthropic_parse_response() -> None:
    parsed = anthropic.parse_response({
        "model": "claude-x",
        "stop_reason": "tool_use",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": "{oops"},
            {"type": "tool_use", "id": "toolu_3", "name": "weather", "input": [1]},
        ],
        "usage": {"input_tokens": 20, "output_tokens": 5},
    })
    assert parsed.message.content == "Let me check."
    assert parsed.message.tool_calls[0] == ToolCall(
        id="toolu_1", name="weather", arguments={"city": "Oslo"}
    )
    assert parsed.message.tool_calls[1].raw_arguments == "{oops"
    assert parsed.message.tool_calls[2].raw_arguments == "[1]"
    assert (parsed.usage.input_tokens, parsed.usage.output_tokens) == (20, 5)
    assert parsed.finish_reason == "tool_use"
    assert parsed.model == "claude-x"


def test_anthropic_invalid_shape_is_response_error() -> None:
    with pytest.raises(ProviderResponseError):
        anthropic.parse_response({"choices": []})


# --- errors ---------------------------------------------------------------------------------


def test_retry_after_seconds_ms_and_date() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == 30.0
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (408, ProviderRetryableError), (409, ProviderRetryableError),
        (429, ProviderRetryableError), (500, ProviderRetryableError),
        (503, ProviderRetryableError), (529, ProviderRetryableError),
        (401, ProviderAuthError), (403, ProviderAuthError),
        (400, ProviderRequestError), (404, ProviderRequestError), (422, ProviderRequestError),
    ],
)
def test_status_classification(status: int, cls: type[Exception]) -> None:
    body = json.dumps({"error": {"message": "the reason", "type": "x"}}).encode()
    exc = classify_status(status, provider="openai", body=body, headers={"Retry-After": "2"})
    assert type(exc) is cls
    assert "the reason" in str(exc)
    assert exc.status == status
    app = to_application_error(exc)
    assert app.type == cls.__name__
    assert app.non_retryable is (cls is not ProviderRetryableError)
    if cls is ProviderRetryableError:
        assert app.next_retry_delay == timedelta(seconds=2)
    else:
        assert app.next_retry_delay is None
    assert app.details[0] == {"provider": "openai", "status": status, "request_id": None,
                              "code": None, "type": "x", "param": None} | (
        {"retry_after": 2.0} if cls is ProviderRetryableError else {}
    )


def test_transport_errors() -> None:
    timeout = classify_transport(httpx.ReadTimeout("slow"), provider="openai", url="http://x")
    assert isinstance(timeout, ProviderRetryableError)
    assert "timed out" in str(timeout)
    refused = classify_transport(httpx.ConnectError("refused"), provider="openai", url="http://x")
    assert isinstance(refused, ProviderRetryableError)
    bad_url = classify_transport(httpx.UnsupportedProtocol("no"), provider="openai", url="x:1")
    assert isinstance(bad_url, ProviderRequestError)


def test_undecodable_body_is_response_error() -> None:
    with pytest.raises(ProviderResponseError, match="not JSON"):
        decode_json(b"{oops", provider="anthropic")
    with pytest.raises(ProviderResponseError, match="not an object"):
        decode_json(b"[1, 2]", provider="anthropic")
    assert to_application_error(ProviderResponseError("x", provider="p")).non_retryable


def test_conversation_mismatch_is_non_retryable() -> None:
    app = to_application_error(ConversationMismatchError("nope"))
    assert (app.type, app.non_retryable) == ("ConversationMismatchError", True)


def test_digests_match_chain_digest() -> None:
    digests = digests_of(CONVERSATION)
    expected = EMPTY_DIGEST
    for message in CONVERSATION:
        expected = chain_digest(expected, message)
    assert digests[-1] == expected
    assert len(digests) == len(CONVERSATION) + 1
    assert digests_of(CONVERSATION[2:], digests[2]) == digests[2:]
