"""``baton show | replay-tool | summary``: the run log as the debugging surface.

``show`` walks the whole run (continuations and member runs) into a tree; ``--step N --diff``
shows what one step added to an agent's memory; ``replay-tool`` re-runs one recorded tool call
outside the run; ``summary`` tells a reviewer in plain words what happened. A closed run is read
from its event history; ``--history FILE`` reads a saved history with no server at all.
"""

from __future__ import annotations

import json
from pathlib import Path
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
from baton.settings import BatonSettings

__all__ = ["replay_tool", "show", "summary"]

Json = Annotated[bool, typer.Option("--json", help="machine-readable output (stable model)")]
RunId = Annotated[str | None, typer.Argument(
    help="the run id (workflow id); or read a saved history with --history", show_default=False)]
HistoryFile = Annotated[Path | None, typer.Option(
    "--history", help="read this saved history (JSON from the Temporal UI's download, "
                      "`temporal workflow show --output json` or WorkflowHistory.to_json()) "
                      "instead of asking a server; codec keys from the settings decrypt it")]


def _one_source(run_id: str | None, history: Path | None) -> None:
    if (run_id is None) == (history is None):
        raise typer.BadParameter("give a RUN id or --history FILE (one of them)")


async def _from_file(history: Path, settings: BatonSettings) -> RunView:
    """A run from a saved history: no server is asked (codec keys come from ``settings``)."""
    from baton.client._history.decode import load_history_file
    from baton.client._history.view import file_view
    from baton.worker import data_converter

    return await file_view(load_history_file(history), data_converter(settings), ui_base=(
        f"{settings.temporal_ui_url}/namespaces/{settings.namespace}/workflows"))


def _only_step(view: RunView, step: int, agent: str | None) -> RunView:
    """The tree with only the events of ``step`` (of ``agent``, when given)."""
    events = [e for e in view.events
              if e.step == step and agent in (None, e.agent, view.run_id, view.member)]
    return view.model_copy(update={
        "events": events, "children": [_only_step(c, step, agent) for c in view.children]})


def show(run_id: RunId = None, *, json_: Json = False,
         step: Annotated[int | None, typer.Option(
             "--step", help="only step N (with --diff: what it changed in memory)")] = None,
         diff: Annotated[bool, typer.Option(
             "--diff", help="with --step: messages, structured output and board keys the "
                            "step added")] = False,
         agent: Annotated[str | None, typer.Option(
             help="with --step: the agent (or member workflow id) when several have step N")
         ] = None,
         history: HistoryFile = None,
         address: Address = None, namespace: Namespace = None) -> None:
    """The whole run as a tree: members, agents, steps, model and tool calls, approvals,
    failovers, continuations; totals per agent and per model. A closed run is read from its
    event history (no worker needed)."""
    _one_source(run_id, history)
    if diff and step is None:
        raise typer.BadParameter("--diff needs --step N")
    if diff and history is not None:
        raise typer.BadParameter("--diff asks a running worker for the agent's memory; "
                                 "with --history use --step N alone")
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client: BatonClient | None = None
        if history is not None:
            view = await _from_file(history, settings)
        else:
            assert run_id is not None  # _one_source checked
            client = await BatonClient.connect(settings)
            view = await client.tree(run_id)
        if step is not None and diff and client is not None:  # --history refused --diff
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


def summary(run_id: RunId = None, history: HistoryFile = None, address: Address = None,
            namespace: Namespace = None) -> None:
    """A plain-language account of a run for a reviewer: the ask, who did what, approvals,
    cost and how it ended (from the run log; no model is called)."""
    _one_source(run_id, history)
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        if history is not None:
            view = await _from_file(history, settings)
        else:
            assert run_id is not None  # _one_source checked
            view = await (await BatonClient.connect(settings)).tree(run_id)
        for paragraph in plain_summary(view):
            console.print(Text(paragraph), soft_wrap=True)
            console.print()

    run_async(go())
