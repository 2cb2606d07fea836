"""Rich rendering of the debugging views: the run tree, totals, a step's diff, a tool replay.

Pure functions from :mod:`baton.client.views` models to rich renderables. Every value that
comes from a run is wrapped in ``Text`` so brackets in JSON or answers are never read as rich
markup.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from baton.client.cli._render import (
    attempt_text,
    attempts_note,
    cache_note,
    event_line,
    failed_tool_calls,
    links,
    result_panel,
    status_style,
)
from baton.client.cli._render_ops import tools_table
from baton.client.views import ReplayReport, RunView, StepDiff
from baton.messages import Message
from baton.runs import (
    ApprovalEvent,
    ModelAttemptEvent,
    ModelCallEvent,
    RunEvent,
    StartedEvent,
    ToolCallEvent,
)

__all__ = ["replay_report", "run_tree", "step_diff", "totals_tables"]


def _json(value: Any, limit: int | None = None) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                             default=str)
    text = " ".join(text.split())
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def _model_call(event: ModelCallEvent) -> Text:
    then = ", ".join(str(c.get("name")) for c in event.tool_calls) or "answer"
    text = Text.assemble(("chat ", "bold"), (event.model, "magenta"),
                         f" ({event.provider}, profile {event.profile}) "
                         f"{event.usage.input_tokens}+{event.usage.output_tokens} tokens"
                         f"{cache_note(event.usage)}, {event.latency_ms:.0f} ms"
                         f"{attempts_note(event)}, ${event.cost_usd:.6f} → {then}")
    if event.refusal:
        text.append(f"\n  refused: {_json(event.refusal, 300)}", style="bold red")
    elif event.content:
        text.append(f"\n  says: {_json(event.content, 300)}", style="dim")
    if event.recovered_tool_calls:
        text.append(f"\n  {event.recovered_tool_calls} tool call(s) recovered from the reply's "
                    "text", style="yellow")
    if event.request_id:
        text.append(f"\n  request id: {event.request_id}", style="dim")
    return text


def _tool_call(event: ToolCallEvent) -> Text:
    hits = [n for n, on in (("cache hit", event.cache_hit), ("ledger hit", event.ledger_hit)) if on]
    outcome = ("ok", "green") if event.status == "ok" else (
        f"error {event.error_type or ''}".strip(), "red")
    text = Text.assemble(("tool ", "bold"), (event.tool, "cyan"), f" [{event.effect}] ", outcome,
                         f" {event.duration_ms:.0f} ms"
                         f"{' (' + ', '.join(hits) + ')' if hits else ''}  call {event.call_id}")
    text.append(f"\n  args: {_json(event.arguments)}")
    text.append(f"\n  result: {_json(event.content, 300)}")
    text.append(f"\n  idempotency key: {event.idempotency_key}", style="dim")
    return text


def _approval(event: ApprovalEvent) -> Text:
    who = f" by {event.by}" if event.by else ""
    why = f": {event.reason}" if event.reason else ""
    edited = f" → args {_json(event.arguments)}" if event.action == "edited" else ""
    style = "red" if event.action in ("rejected", "refused", "expired") else "yellow"
    return Text(f"approval {event.approval_id} {event.action} for {event.tool}{who} at "
                f"{event.at:%Y-%m-%d %H:%M:%S}{why}{edited}", style=style)


def _event(event: RunEvent) -> Text:
    match event:
        case ModelCallEvent():
            return _model_call(event)
        case ToolCallEvent():
            return _tool_call(event)
        case ApprovalEvent():
            return _approval(event)
        case ModelAttemptEvent():
            return Text(attempt_text(event), style="yellow")
        case StartedEvent():
            return Text(f"▶ started (team {event.team}, tenant {event.tenant}): "
                        f"{_json(event.input, 200)}")
        case _:
            return Text(event_line(event).plain.split(" ", 2)[-1])


def _duration(events: list[RunEvent]) -> str:
    """From the step's first model attempt (or first event) to its last event."""
    starts = [e.at for e in events] + [
        e.started_at for e in events
        if isinstance(e, ModelCallEvent | ModelAttemptEvent) and e.started_at is not None]
    began = min(starts)
    return f" (started {began:%H:%M:%S}, {(events[-1].at - began).total_seconds():.1f} s)"


def _label(node: RunView) -> Text:
    status = node.run_status
    sees = f" sees: {node.sees}" if node.sees else ""
    who = (f"member {node.member} ({node.member_kind or '?'}){sees}  " if node.member
           else f"run {node.run_id}  team {node.team or '?'}  ")
    text = Text.assemble(
        (who, "bold"), (node.run_id if node.member else "", "bold"),
        f"  {node.workflow_type or '?'}  ",
        (status.value if status else f"unknown ({node.execution_status.lower()})",
         status_style(status) if status else "yellow"))
    if node.started_at:
        end = node.closed_at
        text.append(f"  started {node.started_at:%H:%M:%S}"
                    + (f", took {(end - node.started_at).total_seconds():.1f} s" if end else ""))
    if node.version and not node.member:
        label = f"{node.version_label}, " if node.version_label else ""
        text.append(f"  version {label}{node.version}", style="magenta")
    t = node.totals
    text.append(f"  {t.usage.total_tokens} tokens, ${t.cost_usd:.4f}")
    if node.previous_runs:
        text.append(f"  ({len(node.previous_runs)} continuations)", style="cyan")
    if node.source != "queries":
        text.append("  (from its parent's history)" if node.source == "parent"
                    else "  (from its history)", style="dim")
    if node.query_error:
        text.append(f"\n  queries unanswered: {node.query_error}" if node.source == "history"
                    else f"\n  run log unavailable: {node.query_error}", style="yellow")
    for note in node.notes:
        text.append(f"\n  note: {note}", style="yellow")
    if node.member and node.result is not None and node.result.needs_help is not None:
        text.append(f"\n  {node.result.needs_help.text()}", style="yellow")
    return text


def _add_node(tree: Tree, node: RunView) -> None:
    by_agent: dict[str, dict[int, list[RunEvent]]] = defaultdict(lambda: defaultdict(list))
    for event in node.events:
        if event.kind != "model_started":  # its model_call (or failed attempt) tells it all
            by_agent[event.agent][event.step].append(event)
    for agent, steps in by_agent.items():
        calls = sum(isinstance(e, ModelCallEvent) for s in steps.values() for e in s)
        role = "agent" if calls else "orchestrator"
        branch = tree.add(Text(f"{role} {agent}", style="bold cyan"))
        for step, events in sorted(steps.items()):
            leaf = branch.add(Text(f"step {step}{_duration(events)}", style="bold"))
            for event in events:
                leaf.add(_event(event))
    for child in node.children:
        _add_node(tree.add(_label(child)), child)


def run_tree(view: RunView) -> list[RenderableType]:
    """The whole ``baton show`` page: the tree, the answer, totals and links."""
    tree = Tree(_label(view), guide_style="dim")
    _add_node(tree, view)
    parts: list[RenderableType] = [tree]
    if view.result:
        parts.append(result_panel(view.result, failed_tool_calls(view)))
    return [*parts, *totals_tables(view), *links(view.run_id, view.ui_url)]


def totals_tables(view: RunView) -> list[RenderableType]:
    t = view.totals
    # Short headers and ids that fold rather than shrink to "release_de…": readable at 80
    # columns, where member workflow ids are the longest cells.
    agents = Table(title="per agent (model calls, tool calls)", title_justify="left")
    for column in ("workflow", "agent", "steps", "calls", "tools", "tokens", "USD"):
        agents.add_column(column, justify="right" if column not in ("workflow", "agent")
                          else "left", overflow="fold")
    for a in t.per_agent:
        agents.add_row(Text(a.workflow_id), Text(a.agent), str(a.steps), str(a.model_calls),
                       str(a.tool_calls), str(a.usage.total_tokens), f"{a.cost_usd:.6f}")
    models = Table(title="per model", title_justify="left")
    for column in ("model", "calls", "tokens in", "cached", "cache-written", "tokens out",
                   "latency ms", "USD"):
        models.add_column(column, justify="left" if column == "model" else "right")
    for m in t.per_model:
        models.add_row(Text(m.model), str(m.calls), str(m.usage.input_tokens),
                       str(m.usage.cache_read_tokens), str(m.usage.cache_write_tokens),
                       str(m.usage.output_tokens), f"{m.latency_ms:.0f}", f"{m.cost_usd:.6f}")
    failed = f" ({t.failed_attempts} failed attempts)" if t.failed_attempts else ""
    line = Text(f"total: {t.model_calls} model calls{failed}, {t.tool_calls} tool calls "
                f"({t.cache_hits} cache hits, {t.ledger_hits} ledger hits), "
                f"{t.usage.input_tokens} in{cache_note(t.usage)} + {t.usage.output_tokens} out = "
                f"{t.usage.total_tokens} tokens, ${t.cost_usd:.6f}", style="bold")
    tools = [tools_table(t.per_tool)] if t.per_tool else []
    return [agents, models, *tools, line] if t.per_agent else [*tools, line]


def _message_lines(message: Message) -> list[str]:
    data = message.model_dump(mode="json")
    lines = [f"{data.pop('kind', '?')}:"]
    for key, value in data.items():
        if value in (None, [], {}, False):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        first, *rest = str(text).splitlines() or [""]
        lines.append(f"  {key}: {first}")
        lines += [f"    {more}" for more in rest]
    return lines


def step_diff(diff: StepDiff) -> list[RenderableType]:
    where = f"{diff.agent} step {diff.step} ({diff.workflow_id})"
    head = Text(f"memory diff of {where}", style="bold")
    if diff.messages_before is not None:
        head.append(f": {diff.messages_before} messages before, "
                    f"{diff.messages_before + len(diff.added)} after", style="")
    parts: list[RenderableType] = [head]
    if diff.from_run_log:
        parts.append(Text("(the conversation was compacted; rebuilt from the run log)",
                          style="yellow"))
    body = Text()
    if diff.summarized is not None:  # working memory, before this step's model call
        folded = diff.summarized
        body.append(f"working memory: {folded.folded_messages} earlier messages folded into a "
                    f"summary by {folded.model} ({folded.tokens_before} → "
                    f"{folded.tokens_after} prompt tokens)\n", style="bold")
        body.append(f"- {folded.folded_messages} messages\n", style="red")
        for line in folded.summary.splitlines() or [""]:
            body.append(f"+ summary: {line}\n", style="green")
    for message in diff.added:
        for line in _message_lines(message):
            body.append(f"+ {line}\n", style="green")
    if diff.structured is not None:
        body.append("structured output:\n", style="bold")
        for line in json.dumps(diff.structured, indent=2, ensure_ascii=False).splitlines():
            body.append(f"+ {line}\n", style="green")
    if diff.board_after or diff.board_before:
        body.append("board:\n", style="bold")
        for key in sorted({*diff.board_before, *diff.board_after}):
            if key in diff.board_before and diff.board_before[key] is not None:
                body.append(f"- {key}: {_json(diff.board_before[key])}\n", style="red")
            if key in diff.board_after:
                body.append(f"+ {key}: {_json(diff.board_after[key])}\n", style="green")
    parts.append(body if body.plain else Text("(no changes recorded)", style="dim"))
    return parts


def replay_report(report: ReplayReport) -> list[RenderableType]:
    head = Text(f"{'dry run: ' if report.dry_run else ''}{report.tool} [{report.effect}] call "
                f"{report.call_id} of {report.agent} step {report.step} ({report.workflow_id})",
                style="bold")
    if report.dry_run:
        return [head, Text(f"would run {report.tool} with {_json(report.arguments)}\n"
                           f"idempotency key {report.idempotency_key} (recorded: "
                           f"{report.recorded_key})")]
    table = Table(expand=True, show_lines=True)
    table.add_column("recorded", overflow="fold", ratio=1)
    table.add_column("replayed now", overflow="fold", ratio=1)
    table.add_row(Text(f"args: {_json(report.recorded_arguments)}"),
                  Text(f"args: {_json(report.arguments)}"))
    table.add_row(Text(report.recorded_status, style="green" if report.recorded_status == "ok"
                       else "red"),
                  Text(f"{report.status}{' ' + report.error_type if report.error_type else ''}"
                       f" ({report.duration_ms:.0f} ms)",
                       style="green" if report.status == "ok" else "red"))
    table.add_row(Text(report.recorded_content), Text(report.content or ""))
    table.add_row(Text(f"key {report.recorded_key}", style="dim"),
                  Text(f"key {report.idempotency_key}", style="dim"))
    same = report.content == report.recorded_content
    note = Text("same result as recorded" if same else "the result differs from the recording",
                style="green" if same else "yellow")
    return [head, Group(table, note)]
