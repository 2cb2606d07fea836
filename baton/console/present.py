"""Turning Baton's models into what the templates show: plain strings and small records.

Everything here returns text; the templates escape it (model output, tool arguments and results
are untrusted and are never marked safe).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote as _quote

from baton.messages import AssistantMessage, Message, SystemMessage, ToolResultMessage
from baton.runs import (
    ApprovalEvent,
    ChildEvent,
    ContinuedEvent,
    FailoverEvent,
    FinishedEvent,
    ModelCallEvent,
    ModelStartedEvent,
    RunEvent,
    StartedEvent,
    ToolCallEvent,
    ToolRefusedEvent,
    ValidationEvent,
)

__all__ = ["Line", "clip", "conversation", "event_line", "pretty", "quote", "time_left", "when"]


@dataclass(frozen=True)
class Line:
    """One row of a conversation or a run log: who, what kind, a headline and the detail."""

    who: str
    kind: str
    head: str
    detail: str = ""


def quote(value: str) -> str:
    """A value as one URL path segment or query value (run ids are free text)."""
    return _quote(value, safe="")


def clip(text: str | None, limit: int = 400) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _flat(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{k}={clip(json.dumps(v, ensure_ascii=False, default=str), 60)}"
                     for k, v in arguments.items())


def when(at: datetime | None) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if at else "-"


def time_left(expires_at: datetime | None, *, now: datetime | None = None) -> str:
    """``2 h 5 min left``, ``40 s left``, ``expired``, or ``no expiry``."""
    if expires_at is None:
        return "no expiry"
    seconds = int((expires_at - (now or datetime.now(UTC))).total_seconds())
    if seconds <= 0:
        return "expired"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h left"
    if hours:
        return f"{hours} h {minutes} min left"
    return f"{minutes} min {seconds} s left" if minutes else f"{seconds} s left"


def conversation(messages: list[Message], *, last: int = 40) -> tuple[list[Line], int]:
    """The last ``last`` messages as lines, and how many earlier ones were left out."""
    shown = messages[-last:]
    lines: list[Line] = []
    for message in shown:
        if isinstance(message, SystemMessage):
            lines.append(Line("system", "system", "instructions", message.content))
        elif isinstance(message, AssistantMessage):
            calls = "; ".join(f"{c.name}({_flat(c.arguments)})" for c in message.tool_calls)
            head = f"wants {calls}" if calls else "answers"
            lines.append(Line(message.agent or "assistant", "assistant", head,
                              message.content or ""))
        elif isinstance(message, ToolResultMessage):
            lines.append(Line(message.name, "tool", "error" if message.is_error else "result",
                              clip(message.content, 2000)))
        else:
            lines.append(Line(message.source or "user", "user", "says", message.content))
    return lines, len(messages) - len(shown)


def event_line(event: RunEvent) -> Line:  # noqa: PLR0911  # one return per event kind
    """One run-log event in words, for the run page."""
    who = f"{event.agent} #{event.step}"
    match event:
        case StartedEvent():
            return Line(who, "started", f"started (team {event.team}, tenant {event.tenant})",
                        clip(event.input))
        case ModelStartedEvent():
            return Line(who, "model", f"asking {event.model}…", "")
        case ModelCallEvent():
            called = ", ".join(str(c.get("name", "?")) for c in event.tool_calls)
            return Line(who, "model", f"{event.model}: {event.usage.input_tokens} + "
                        f"{event.usage.output_tokens} tokens, ${event.cost_usd:.4f}, "
                        f"{event.latency_ms:.0f} ms → {called or 'answer'}",
                        clip(event.content))
        case ToolCallEvent():
            flags = " (cache hit)" if event.cache_hit else ""
            flags += " (ledger hit)" if event.ledger_hit else ""
            outcome = "ok" if event.status == "ok" else f"error {event.error_type or ''}".strip()
            return Line(who, "tool" if event.status == "ok" else "error",
                        f"{event.tool}({_flat(event.arguments)}) → {outcome}{flags}",
                        clip(event.content))
        case ToolRefusedEvent():
            return Line(who, "error", f"{event.tool} refused", event.reason)
        case ValidationEvent():
            return Line(who, "error", f"output invalid (attempt {event.attempt})",
                        clip(event.error))
        case ApprovalEvent():
            by = f" by {event.by}" if event.by else ""
            signed = " (signed)" if event.signed else ""
            return Line(who, "approval", f"approval {event.action}: {event.tool}{by}{signed}",
                        event.reason or "")
        case ChildEvent(action="started"):
            sees = f" (sees: {event.sees})" if event.sees else ""
            return Line(who, "child", f"{event.member_kind} {event.member} started{sees}",
                        clip(event.task))
        case ChildEvent():
            state = event.status.value if event.status else "?"
            said = event.needs_help.text() if event.needs_help else (
                event.output or event.reason)
            return Line(who, "child", f"{event.member} ended {state}", clip(said))
        case FailoverEvent():
            return Line(who, "error", f"failover {event.from_profile} → {event.to_profile}",
                        event.reason)
        case ContinuedEvent():
            return Line(who, "continued", "continued as new",
                        f"{event.compacted_messages} messages compacted")
        case FinishedEvent():
            return Line(who, "finished", f"finished: {event.status.value}", event.reason or "")
    return Line(who, "other", getattr(event, "kind", type(event).__name__))
