"""Rich rendering for the CLI: one line per run-log event, result panels, status tables.

Pure functions from Baton models to rich renderables, so the command modules only orchestrate;
the ``show``/``diff``/``replay`` views live in :mod:`baton.client.cli._render_debug`.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from baton.client.views import RunView
from baton.messages import Usage
from baton.runs import (
    AgentStatus,
    ApprovalEvent,
    ChildEvent,
    CompactedEvent,
    ContinuedEvent,
    FailoverEvent,
    FinishedEvent,
    ModelAttemptEvent,
    ModelCallEvent,
    ModelStartedEvent,
    RecalledEvent,
    RunEvent,
    RunResult,
    RunStatus,
    StartedEvent,
    SummarizedEvent,
    ToolCallEvent,
    ToolRefusedEvent,
    ValidationEvent,
)
from baton.streaming import TreeEvent

__all__ = [
    "attempt_text",
    "attempts_note",
    "cache_note",
    "event_line",
    "failed_tool_calls",
    "links",
    "result_panel",
    "resume_hint",
    "status_style",
    "status_table",
    "tree_line",
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


def cache_note(usage: Usage) -> str:
    """" (800 cached, 200 cache-written)" when the provider's prompt cache was used, else ""."""
    parts = [f"{n} {what}" for n, what in ((usage.cache_read_tokens, "cached"),
                                           (usage.cache_write_tokens, "cache-written")) if n]
    return f" ({', '.join(parts)})" if parts else ""


def usage_text(usage: Usage, cost_usd: float) -> str:
    return (f"{usage.input_tokens} in{cache_note(usage)} + {usage.output_tokens} out = "
            f"{usage.total_tokens} tokens, ${cost_usd:.4f}")


def attempt_text(event: ModelAttemptEvent) -> str:
    """A failed attempt: what, how long, what the provider said, and what happens next."""
    again = f", again in {event.retry_in_s:g} s" if event.retry_in_s is not None else ""
    ticket = f" [request {event.request_id}]" if event.request_id else ""
    return (f"✗ chat {event.model} attempt {event.attempt} {event.status.replace('_', ' ')} "
            f"after {event.duration_ms / 1000:.1f} s: {event.error_type}: "
            f"{_short(event.error)}{ticket}{again}")


def attempts_note(event: ModelCallEvent) -> str:
    """" (3 attempts, 12.4 s)" when the answer took more than one attempt, else ""."""
    if event.attempt <= 1 or event.duration_ms is None:
        return ""
    return f" ({event.attempt} attempts, {event.duration_ms / 1000:.1f} s)"


def _model_line(event: ModelStartedEvent | ModelCallEvent | ModelAttemptEvent) -> Text:
    if isinstance(event, ModelAttemptEvent):
        return Text(attempt_text(event), style="yellow")
    if isinstance(event, ModelStartedEvent):
        again = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        return Text(f"… chat {event.model}{again}", style="dim")
    called = ", ".join(str(c.get("name", "?")) for c in event.tool_calls)
    then = f" → {called}" if called else " → answer"
    then = f" → refused: {_short(event.refusal, 60)}" if event.refusal else then
    return Text.assemble(
        ("chat ", "bold"), (event.model, "magenta"),
        f" {event.usage.input_tokens}+{event.usage.output_tokens} tokens"
        f"{cache_note(event.usage)} {event.latency_ms:.0f} ms{attempts_note(event)}{then}")


def _history_line(event: CompactedEvent | ContinuedEvent | SummarizedEvent | RecalledEvent
                  ) -> Text:
    """What happened to the agent's memory: compaction, continuation, working and long-term."""
    if isinstance(event, SummarizedEvent):
        failed = f"; the summariser failed ({_short(event.error)}), a mechanical summary " \
            "was kept" if event.error else ""
        return Text(f"≡ summarised {event.folded_messages} messages with {event.model} "
                    f"({event.tokens_before} → {event.tokens_after} prompt tokens, "
                    f"{event.usage.total_tokens} spent){failed}", style="cyan")
    if isinstance(event, RecalledEvent):
        about = f" for {event.subject!r}" if event.subject else ""
        return Text(f"◆ memory{about}: {event.outcome.replace('_', ' ')}, "
                    f"{len(event.memories)} shown ({event.mode} search)", style="cyan")
    if isinstance(event, CompactedEvent):
        return Text(f"⟳ compacted {event.compacted_messages} messages: {_short(event.reason)}",
                    style="yellow")
    return Text(f"⟳ continued as new ({event.history_events} events, "
                f"{event.compacted_messages} messages compacted)")


def _child_line(event: ChildEvent) -> Text:
    """A member started (with what it sees of earlier work) or ended (needing help, maybe)."""
    if event.action == "started":
        sees = f" [sees: {event.sees}]" if event.sees else ""
        return Text(f"↳ {event.member_kind} {event.member} started ({event.workflow_id})"
                    f"{sees}: {_short(event.task, 60)}")
    state = event.status.value if event.status else "?"
    said = _short(event.output or event.reason or "", 60)
    if event.needs_help is not None:
        said = f"needs help: {_short(event.needs_help.missing, 60)}"
    return Text(f"↲ {event.member} {state}: {said} ({event.usage.total_tokens} tokens)")


def event_line(event: RunEvent) -> Text:
    """The one-line progress report of ``baton run`` for one run-log event."""
    head = Text(f"{event.agent} #{event.step} ", style="dim")
    match event:
        case StartedEvent():
            body = Text(f"▶ started (team {event.team}, tenant {event.tenant})")
        case ModelStartedEvent() | ModelCallEvent() | ModelAttemptEvent():
            body = _model_line(event)
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
        case ChildEvent():
            body = _child_line(event)
        case FailoverEvent():
            body = Text(f"⇄ failover {event.from_profile} → {event.to_profile}: {event.reason}",
                        style="yellow")
        case CompactedEvent() | ContinuedEvent() | SummarizedEvent() | RecalledEvent():
            body = _history_line(event)
        case FinishedEvent():
            why = f" ({event.reason})" if event.reason else ""
            body = Text(f"■ finished: {event.status.value}{why}", style=status_style(event.status))
        case _:  # an event kind newer than this CLI: still show that something happened
            body = Text(getattr(event, "kind", type(event).__name__))
    return head + body


def tree_line(item: TreeEvent) -> Text:
    """``event_line`` of an event of a run or of one of its members, indented by depth."""
    return Text("  " * item.depth) + event_line(item.event)


def _facts(*rows: tuple[str, str | Text]) -> Table:
    """A two-column label/value grid. Values become ``Text``: data from runs (answers, reasons,
    JSON with brackets) must never be parsed as rich markup."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value if isinstance(value, Text) else Text(value))
    return grid


def links(run_id: str, ui_url: str) -> list[Text]:
    """Run id and Temporal UI link as plain lines; print them with ``soft_wrap=True`` so a narrow
    terminal never truncates or breaks the URL."""
    return [Text.assemble(("run id       ", "bold"), run_id),
            Text.assemble(("temporal ui  ", "bold"), ui_url)]


def failed_tool_calls(view: RunView) -> list[ToolCallEvent]:
    """Tool calls that failed anywhere in the run's tree (members included), in run order. A
    run can complete although some failed: the model read the error and went on."""
    return [e for node in view.walk() for e in node.events
            if isinstance(e, ToolCallEvent) and e.status == "error" and e.effect != "workflow"]


def resume_hint(result: RunResult) -> str | None:
    """How to continue a pipeline run that failed at a stage (``baton resume``)."""
    stage = result.details.get("failed_stage")
    if result.status.succeeded or not stage:
        return None
    return f"resume from stage {stage!r} with: baton resume {result.run_id}"


def result_panel(result: RunResult, failed_calls: list[ToolCallEvent] | None = None) -> Panel:
    """Answer (or structured output), status, reason, failed tool calls and usage."""
    rows: list[tuple[str, str | Text]] = [
        ("status", Text(result.status.value, style=status_style(result.status)))]
    if result.reason and result.status != RunStatus.COMPLETED:
        rows.append(("reason", result.reason))
    if (hint := resume_hint(result)) is not None:
        rows.append(("resume", hint))
    if result.needs_help is not None:
        rows.append(("needs help", Text(result.needs_help.text(), style="yellow")))
    if failed_calls:
        said = "; ".join(f"{e.agent} {e.tool}: {_short(e.content, 60)}" for e in failed_calls[:3])
        more = f" (and {len(failed_calls) - 3} more)" if len(failed_calls) > 3 else ""
        rows.append(("tools failed", Text(f"{len(failed_calls)} call(s): {said}{more}",
                                          style="yellow")))
    rows += [("steps", str(result.steps)), ("usage", usage_text(result.usage, result.cost_usd))]
    answer = Text(result.output or "(no answer)")
    if result.structured is not None:
        answer = Text(json.dumps(result.structured, indent=2, ensure_ascii=False))
    return Panel(Group(answer, Text(""), _facts(*rows)), title=f"{result.team} / {result.agent}",
                 border_style=status_style(result.status))


def status_table(status: AgentStatus, ui_url: str) -> Table:
    return _facts(
        ("run id", status.run_id),
        ("team / agent", f"{status.team} / {status.agent}"),
        ("status", Text(status.status.value, style=status_style(status.status))),
        ("step", f"{status.step} of at most {status.max_steps}"),
        ("usage", usage_text(status.usage, status.cost_usd)),
        ("last event", status.last_event or "-"),
        ("temporal ui", ui_url),
    )
