"""Rich rendering for the CLI: one line per run-log event, result panels, the ``show`` tables.

Pure functions from Baton models to rich renderables, so the CLI module only orchestrates.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from baton.messages import Usage
from baton.runs import (
    AgentStatus,
    ApprovalEvent,
    FinishedEvent,
    ModelCallEvent,
    RunEvent,
    RunResult,
    RunStatus,
    StartedEvent,
    ToolCallEvent,
    ToolRefusedEvent,
    ValidationEvent,
)
from client.api import RunView

__all__ = [
    "event_line",
    "result_panel",
    "run_view",
    "status_style",
    "status_table",
    "usage_text",
]

_STATUS_STYLE = {
    RunStatus.COMPLETED: "bold green",
    RunStatus.RUNNING: "cyan",
    RunStatus.AWAITING_APPROVAL: "yellow",
}


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                             default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _args(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v, 40)}" for k, v in arguments.items())


def status_style(status: RunStatus) -> str:
    return _STATUS_STYLE.get(status, "bold red")


def usage_text(usage: Usage, cost_usd: float) -> str:
    return (f"{usage.input_tokens} in + {usage.output_tokens} out = {usage.total_tokens} tokens, "
            f"${cost_usd:.4f}")


def event_line(event: RunEvent) -> Text:
    """The one-line progress report of ``baton run`` for one run-log event."""
    head = Text(f"{event.agent} #{event.step} ", style="dim")
    match event:
        case StartedEvent():
            body = Text(f"▶ started (team {event.team}, tenant {event.tenant})")
        case ModelCallEvent():
            called = ", ".join(str(c.get("name", "?")) for c in event.tool_calls)
            then = f" → {called}" if called else " → answer"
            body = Text.assemble(
                ("chat ", "bold"), (event.model, "magenta"),
                f" {event.usage.input_tokens}+{event.usage.output_tokens} tokens"
                f" {event.latency_ms:.0f} ms{then}")
        case ToolCallEvent():
            flags = " [cache hit]" if event.cache_hit else ""
            flags += " [ledger hit]" if event.ledger_hit else ""
            outcome = ("ok", "green") if event.status == "ok" else (
                f"error {event.error_type or ''}".strip(), "red")
            body = Text.assemble(("tool ", "bold"), (event.tool, "cyan"),
                                 f"({_args(event.arguments)}) ", outcome,
                                 f" {event.duration_ms:.0f} ms{flags}")
        case ToolRefusedEvent():
            body = Text(f"✗ tool {event.tool} refused: {event.reason}", style="yellow")
        case ValidationEvent():
            body = Text(f"✗ output invalid (attempt {event.attempt}): {_short(event.error)}",
                        style="yellow")
        case ApprovalEvent():
            who = f" by {event.by}" if event.by else ""
            why = f": {event.reason}" if event.reason else ""
            body = Text(f"⏸ approval {event.action} for {event.tool}{who}{why}", style="yellow")
        case FinishedEvent():
            why = f" ({event.reason})" if event.reason else ""
            body = Text(f"■ finished: {event.status.value}{why}", style=status_style(event.status))
    return head + body


def result_panel(result: RunResult, ui_url: str) -> Panel:
    """Answer, status, usage, run id and where to look in the Temporal UI."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("status", Text(result.status.value, style=status_style(result.status)))
    if result.reason and result.status != RunStatus.COMPLETED:
        facts.add_row("reason", result.reason)
    facts.add_row("steps", str(result.steps))
    facts.add_row("usage", usage_text(result.usage, result.cost_usd))
    facts.add_row("run id", result.run_id)
    facts.add_row("temporal ui", ui_url)
    answer: RenderableType = Text(result.output or "(no answer)")
    if result.structured is not None:
        answer = Text(json.dumps(result.structured, indent=2, ensure_ascii=False))
    return Panel(Group(answer, Text(""), facts), title=f"{result.team} / {result.agent}",
                 border_style=status_style(result.status))


def status_table(status: AgentStatus, ui_url: str) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("run id", status.run_id)
    table.add_row("team / agent", f"{status.team} / {status.agent}")
    table.add_row("status", Text(status.status.value, style=status_style(status.status)))
    table.add_row("step", f"{status.step} of at most {status.max_steps}")
    table.add_row("usage", usage_text(status.usage, status.cost_usd))
    if status.last_event:
        table.add_row("last event", status.last_event)
    table.add_row("temporal ui", ui_url)
    return table


def _steps_table(events: list[RunEvent]) -> Table:
    table = Table(title="steps", show_lines=True, expand=True)
    for column in ("#", "agent", "step", "kind", "details", "tokens", "ms"):
        table.add_column(column, overflow="fold",
                         justify="right" if column in ("#", "step", "tokens", "ms") else "left")
    for event in events:
        tokens, ms = "", ""
        match event:
            case ModelCallEvent():
                details = f"{event.provider}:{event.model} (profile {event.profile})"
                details += f", finish {event.finish_reason}" if event.finish_reason else ""
                if event.tool_calls:
                    details += "\ncalls: " + ", ".join(str(c.get("name")) for c in
                                                       event.tool_calls)
                if event.content:
                    details += f"\nsays: {_short(event.content, 200)}"
                tokens = f"{event.usage.input_tokens}+{event.usage.output_tokens}"
                ms = f"{event.latency_ms:.0f}"
            case ToolCallEvent():
                hits = [h for h, on in (("cache hit", event.cache_hit),
                                        ("ledger hit", event.ledger_hit)) if on]
                details = (f"{event.tool} [{event.effect}] → {event.status}"
                           f"{' (' + event.error_type + ')' if event.error_type else ''}"
                           f"\nargs: {json.dumps(event.arguments, ensure_ascii=False)}"
                           f"\nresult: {_short(event.content, 300)}"
                           f"\nidempotency key: {event.idempotency_key}"
                           f"\n{', '.join(hits) if hits else 'executed'}")
                ms = f"{event.duration_ms:.0f}"
            case StartedEvent():
                details = f"input: {_short(event.input, 300)}"
            case _:
                details = event_line(event).plain.split(" ", 2)[-1]
        table.add_row(str(event.seq), event.agent, str(event.step), event.kind, details,
                      tokens, ms)
    return table


def run_view(view: RunView) -> Group:
    """The whole ``baton show`` page: header, every step, answer and totals."""
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    header.add_row("run id", view.run_id)
    header.add_row("team / agent", f"{view.team or '?'} / {view.agent or '?'}"
                   f" (tenant {view.tenant or '?'})")
    status = view.result.status if view.result else view.status.status if view.status else None
    header.add_row("status", Text(status.value, style=status_style(status)) if status
                   else Text("unknown (no worker answered the query)", style="yellow"))
    header.add_row("temporal", view.execution_status.lower())
    if view.started_at:
        end = view.closed_at
        took = f" ({(end - view.started_at).total_seconds():.1f} s)" if end else ""
        header.add_row("started", f"{view.started_at:%Y-%m-%d %H:%M:%S}{took}")
    parts: list[RenderableType] = [header, _steps_table(view.events)]
    calls = [e for e in view.events if isinstance(e, ModelCallEvent)]
    tools = [e for e in view.events if isinstance(e, ToolCallEvent)]
    totals = Table.grid(padding=(0, 2))
    totals.add_column(style="bold")
    totals.add_column()
    totals.add_row("model calls", f"{len(calls)} ({sum(e.latency_ms for e in calls):.0f} ms)")
    totals.add_row("tool calls", f"{len(tools)} ({sum(e.duration_ms for e in tools):.0f} ms, "
                   f"{sum(e.cache_hit for e in tools)} cache hits, "
                   f"{sum(e.ledger_hit for e in tools)} ledger hits)")
    totals.add_row("usage", usage_text(view.usage, view.cost_usd))
    if view.result:
        parts.append(result_panel(view.result, view.ui_url))
    else:
        totals.add_row("temporal ui", view.ui_url)
    parts.append(totals)
    return Group(*parts)
