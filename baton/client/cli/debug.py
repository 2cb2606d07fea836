"""``baton show | replay-tool | summary``: the run log as the debugging surface.

``show`` walks the whole run (continuations and member runs) into a tree; ``--step N --diff``
shows what one step added to an agent's memory; ``replay-tool`` re-runs one recorded tool call
outside the run; ``summary`` tells a reviewer in plain words what happened.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.text import Text

from baton.client.api import BatonClient
from baton.client.cli import _render_debug
from baton.client.cli._common import (
    Address,
    Namespace,
    console,
    print_all,
    run_async,
    settings_from,
)
from baton.client.cli._summary import summary as plain_summary
from baton.client.views import RunView

__all__ = ["replay_tool", "show", "summary"]

Json = Annotated[bool, typer.Option("--json", help="machine-readable output (stable model)")]


def _only_step(view: RunView, step: int, agent: str | None) -> RunView:
    """The tree with only the events of ``step`` (of ``agent``, when given)."""
    events = [e for e in view.events
              if e.step == step and agent in (None, e.agent, view.run_id, view.member)]
    return view.model_copy(update={
        "events": events, "children": [_only_step(c, step, agent) for c in view.children]})


def show(run_id: str, *, json_: Json = False,
         step: Annotated[int | None, typer.Option(
             "--step", help="only step N (with --diff: what it changed in memory)")] = None,
         diff: Annotated[bool, typer.Option(
             "--diff", help="with --step: messages, structured output and board keys the "
                            "step added")] = False,
         agent: Annotated[str | None, typer.Option(
             help="with --step: the agent (or member workflow id) when several have step N")
         ] = None,
         address: Address = None, namespace: Namespace = None) -> None:
    """The whole run as a tree: members, agents, steps, model and tool calls, approvals,
    failovers, continuations; totals per agent and per model."""
    if diff and step is None:
        raise typer.BadParameter("--diff needs --step N")
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        view = await client.tree(run_id)
        if step is not None and diff:
            changed = await client.runs.step_diff(view, step, agent)
            if json_:
                typer.echo(changed.model_dump_json(indent=2))
            else:
                print_all(*_render_debug.step_diff(changed))
            return
        if step is not None:
            view = _only_step(view, step, agent)
        if json_:
            typer.echo(view.model_dump_json(indent=2))
        else:
            print_all(*_render_debug.run_tree(view))

    run_async(go())


def replay_tool(
    run_id: str,
    call_id: Annotated[str, typer.Argument(help="the tool call's id (see `baton show RUN`)")],
    *,
    args: Annotated[str | None, typer.Option(
        "--args", help="run with these arguments instead: a JSON object")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="validate the arguments and print what would run")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="allow re-running a write tool (with a fresh idempotency key)")] = False,
    json_: Json = False, address: Address = None, namespace: Namespace = None,
) -> None:
    """Re-run one recorded tool call outside the run and print old and new results."""
    arguments: dict[str, Any] | None = None
    if args is not None:
        try:
            arguments = json.loads(args)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"--args is not JSON: {exc}") from exc
        if not isinstance(arguments, dict):
            raise typer.BadParameter("--args must be a JSON object")
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        report = await client.replay_tool(run_id, call_id, arguments=arguments,
                                          dry_run=dry_run, force=force)
        if json_:
            typer.echo(report.model_dump_json(indent=2))
        else:
            print_all(*_render_debug.replay_report(report))

    run_async(go())


def summary(run_id: str, address: Address = None, namespace: Namespace = None) -> None:
    """A plain-language account of a run for a reviewer: the ask, who did what, approvals,
    cost and how it ended (from the run log; no model is called)."""
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        for paragraph in plain_summary(await client.tree(run_id)):
            console.print(Text(paragraph), soft_wrap=True)
            console.print()

    run_async(go())
