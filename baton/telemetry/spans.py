"""Activity-side spans and metrics: ``chat {model}`` and ``execute_tool {tool}``.

The activities wrap their existing work in :func:`observe_chat` / :func:`observe_tool` and report
what happened; whether a span is recorded is the worker's choice (``ACTIVE``), metrics are always
recorded (no-ops until a meter provider is installed). Content (messages, tool arguments and
results) is attached only when the worker's tracing asks for it (``BATON_TRACE_CONTENT``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.util.types import AttributeValue
from temporalio import activity

from baton.calls import ChatRequest, ChatResponse, ToolInvocation, ToolOutcome
from baton.messages import AssistantMessage, Message, SystemMessage, ToolResultMessage
from baton.telemetry import metrics as m
from baton.telemetry import semconv as sc
from baton.telemetry.interceptor import RUN_CONTEXT
from baton.telemetry.tracing import ACTIVE, tracer

__all__ = ["ChatObservation", "ToolObservation", "observe_chat", "observe_tool"]


def _labels(agent: str) -> dict[str, AttributeValue]:
    context = RUN_CONTEXT.get()
    return {sc.TEAM: context.get("team", ""), sc.TENANT: context.get("tenant", ""),
            sc.AGENT_NAME: agent}


def _attempt() -> int:
    return activity.info().attempt if activity.in_activity() else 1


class ChatObservation:
    def __init__(self, span: trace.Span, request: ChatRequest, content: bool) -> None:
        self.span, self.request, self.content = span, request, content
        self.metric_attrs: dict[str, AttributeValue] = {
            **_labels(request.agent), sc.OPERATION: "chat",
            sc.PROVIDER: request.profile.provider, sc.REQUEST_MODEL: request.profile.model}

    def input(self, messages: Sequence[Message]) -> None:
        if self.content and self.span.is_recording():
            self.span.set_attribute(sc.INPUT_MESSAGES, json.dumps(
                [_message(m) for m in messages], ensure_ascii=False))

    def response(self, response: ChatResponse) -> None:
        usage = response.usage
        # The run log prices a call with the team's profile (request.profile), so the span and
        # the cost counter use the same one: totals agree with the run log to the cent.
        cost = self.request.profile.cost_usd(usage)
        self.metric_attrs[sc.RESPONSE_MODEL] = response.model
        m.TOKEN_USAGE.record(usage.input_tokens, {**self.metric_attrs, sc.TOKEN_TYPE: "input"})
        m.TOKEN_USAGE.record(usage.output_tokens, {**self.metric_attrs, sc.TOKEN_TYPE: "output"})
        m.COST.add(cost, self.metric_attrs)
        if not self.span.is_recording():
            return
        self.span.set_attributes({
            sc.RESPONSE_MODEL: response.model, sc.USAGE_INPUT: usage.input_tokens,
            sc.USAGE_OUTPUT: usage.output_tokens, sc.COST_USD: cost,
            sc.CACHE_READ: usage.cache_read_tokens, sc.CACHE_WRITE: usage.cache_write_tokens,
            sc.RESPONSE_FINISH_REASONS: [response.finish_reason or "unknown"]})
        if response.request_id:
            self.span.set_attribute(sc.REQUEST_ID, response.request_id)
        if response.refusal:
            self.span.set_attribute(sc.REFUSED, True)
        if self.content:
            self.span.set_attribute(sc.OUTPUT_MESSAGES, json.dumps(
                [_message(response.message)], ensure_ascii=False))

    def error(self, error_type: str | None, request_id: str | None = None) -> None:
        self.metric_attrs[sc.ERROR_TYPE] = error_type or "unknown"
        self.span.set_attribute(sc.ERROR_TYPE, error_type or "unknown")
        if request_id:
            self.span.set_attribute(sc.REQUEST_ID, request_id)


@contextmanager
def observe_chat(request: ChatRequest) -> Iterator[ChatObservation]:
    tracing = ACTIVE.get()
    started = time.perf_counter()
    with _span(tracing is not None, "baton.llm", f"chat {request.profile.model}", {
            sc.OPERATION: "chat", sc.PROVIDER: request.profile.provider,
            sc.REQUEST_MODEL: request.profile.model, sc.CONVERSATION_ID: request.run_id,
            # One span per attempt: Temporal retries the activity and numbers the attempts.
            sc.AGENT_NAME: request.agent, sc.STEP: request.step, sc.ATTEMPT: _attempt(),
            "baton.profile": request.profile_name}, trace.SpanKind.CLIENT) as span:
        observation = ChatObservation(span, request, bool(tracing and tracing.content))
        try:
            yield observation
        finally:
            m.OPERATION_DURATION.record(time.perf_counter() - started, observation.metric_attrs)


class ToolObservation:
    def __init__(self, span: trace.Span, invocation: ToolInvocation, content: bool) -> None:
        self.span, self.invocation, self.content = span, invocation, content
        self.metric_attrs: dict[str, AttributeValue] = {
            **_labels(invocation.agent), sc.TOOL_NAME: invocation.tool.name}

    def outcome(self, outcome: ToolOutcome) -> None:
        self.metric_attrs[sc.TOOL_STATUS] = outcome.status
        if not self.span.is_recording():
            return
        self.span.set_attributes({sc.TOOL_STATUS: outcome.status, sc.CACHE_HIT: outcome.cache_hit,
                                  sc.LEDGER_HIT: outcome.ledger_hit})
        if outcome.error_type:
            self.span.set_attribute(sc.ERROR_TYPE, outcome.error_type)
        if self.content:
            self.span.set_attribute(sc.TOOL_CALL_ARGUMENTS, json.dumps(
                self.invocation.arguments, ensure_ascii=False, default=str))
            self.span.set_attribute(sc.TOOL_CALL_RESULT, outcome.content)


@contextmanager
def observe_tool(invocation: ToolInvocation) -> Iterator[ToolObservation]:
    tracing = ACTIVE.get()
    started = time.perf_counter()
    with _span(tracing is not None, "baton.tools", f"execute_tool {invocation.tool.name}", {
            sc.OPERATION: "execute_tool", sc.TOOL_NAME: invocation.tool.name,
            sc.TOOL_CALL_ID: invocation.call_id, sc.TOOL_TYPE: "function",
            sc.CONVERSATION_ID: invocation.run_id, sc.AGENT_NAME: invocation.agent,
            sc.STEP: invocation.step, sc.ATTEMPT: _attempt(),
            sc.IDEMPOTENCY_KEY: invocation.idempotency_key,
            "baton.tool.effect": invocation.tool.effect}, trace.SpanKind.INTERNAL) as span:
        observation = ToolObservation(span, invocation, bool(tracing and tracing.content))
        try:
            yield observation
        finally:
            m.TOOL_DURATION.record(time.perf_counter() - started, observation.metric_attrs)


@contextmanager
def _span(enabled: bool, scope: str, name: str, attributes: dict[str, AttributeValue],
          kind: trace.SpanKind) -> Iterator[trace.Span]:
    if not enabled:
        yield trace.INVALID_SPAN
        return
    with tracer(scope).start_as_current_span(name, kind=kind, attributes=attributes) as span:
        yield span


def _message(message: Message | AssistantMessage) -> dict[str, Any]:
    """One message in the GenAI ``gen_ai.{input,output}.messages`` JSON shape (v1.37.0)."""
    if isinstance(message, ToolResultMessage):
        return {"role": "tool", "parts": [{"type": "tool_call_response",
                                           "id": message.tool_call_id,
                                           "response": message.content}]}
    parts: list[dict[str, Any]] = []
    content = getattr(message, "content", None)
    if content:
        parts.append({"type": "text", "content": content})
    for call in getattr(message, "tool_calls", ()):
        parts.append({"type": "tool_call", "id": call.id, "name": call.name,
                      "arguments": call.arguments})
    role = "system" if isinstance(message, SystemMessage) else (
        "assistant" if isinstance(message, AssistantMessage) else "user")
    return {"role": role, "parts": parts}
