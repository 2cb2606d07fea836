"""Shared pieces of the CLI: option types, settings, consoles, following a run, exit policy."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console, RenderableType
from rich.text import Text

from baton.approvals import ApprovalDecision
from baton.client import render
from baton.client.api import BatonClient
from baton.runs import ApprovalEvent, RunResult, RunStatus
from baton.settings import BatonSettings

__all__ = [
    "HARD_EXIT",
    "Address",
    "Home",
    "ModelPort",
    "Namespace",
    "TaskQueue",
    "TemporalPort",
    "UiPort",
    "console",
    "errors",
    "follow",
    "print_all",
    "report",
    "run_async",
    "settings_from",
]

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)
_T = TypeVar("_T")
NO_PROGRESS_HINT_S = 10.0

Address = Annotated[str | None, typer.Option(
    "--address", help="Temporal frontend host:port (env BATON_TEMPORAL_ADDRESS)")]
Namespace = Annotated[str | None, typer.Option(help="Temporal namespace (env BATON_NAMESPACE)")]
TaskQueue = Annotated[str | None, typer.Option(
    "--task-queue", help="task queue of the workers (env BATON_TASK_QUEUE)")]
Home = Annotated[Path | None, typer.Option(
    help="state directory: SQLite files, logs (env BATON_HOME, default .baton)")]
TemporalPort = Annotated[int | None, typer.Option(
    "--temporal-port", help="dev server port (env BATON_TEMPORAL_PORT, default 7233)")]
UiPort = Annotated[int | None, typer.Option(
    "--ui-port", help="Temporal UI port (env BATON_UI_PORT, default 8233)")]
ModelPort = Annotated[int | None, typer.Option(
    "--model-port", help="scripted model server port (env BATON_MODEL_SERVER_PORT)")]


def settings_from(**overrides: Any) -> BatonSettings:
    """Environment first, then the options the user actually gave."""
    return BatonSettings(**{k: v for k, v in overrides.items() if v is not None})


class _HardExit:
    """Whether ``main`` ends the process with ``os._exit`` (see there why)."""

    active = False


HARD_EXIT = _HardExit()


def run_async(coro: Coroutine[Any, Any, _T], *, hard_exit: bool = True) -> _T:
    """Run a command's coroutine. ``hard_exit``: end the process with ``os._exit`` (see main)."""
    HARD_EXIT.active = hard_exit
    return asyncio.run(coro)


async def follow(client: BatonClient, run_id: str, *, auto_approve: bool = False) -> RunResult:
    """Print each run-log event as it happens, with a spinner while waiting; return the result.

    An approval request prints how to decide it; with ``auto_approve`` (``baton demo``) it is
    approved at once by the first allowed approver, through the same ``decide`` update a person
    would use, so the run log records who approved and why."""
    queue = client.settings.task_queue
    with console.status(f"waiting for {run_id}…", spinner="dots") as spinner:

        async def hint() -> None:
            # Without a worker on the task queue a run waits silently forever; say why.
            await asyncio.sleep(NO_PROGRESS_HINT_S)
            spinner.update(f"no progress yet: is a worker polling task queue {queue!r}? "
                           "(`baton up` or `baton worker`)")

        waiting = asyncio.create_task(hint())
        try:
            async for event in client.watch(run_id):
                waiting.cancel()
                console.print(render.event_line(event), soft_wrap=True)
                spinner.update(f"{event.agent}: step {event.step}, waiting…")
                if isinstance(event, ApprovalEvent) and event.action == "requested":
                    await _on_approval(client, run_id, event, auto_approve=auto_approve)
        finally:
            waiting.cancel()
        return await client.result(run_id)


async def _on_approval(client: BatonClient, run_id: str, event: ApprovalEvent, *,
                       auto_approve: bool) -> None:
    if not auto_approve:
        console.print(Text(f"  waiting for a person: baton approve {run_id} {event.approval_id} "
                           f"--by NAME  (or baton reject … --reason WHY)", style="yellow"),
                      soft_wrap=True)
        return
    for pending in await client.pending_approvals(run_id):
        if pending.approval_id == event.approval_id:
            by = pending.allowed_deciders[0] if pending.allowed_deciders else "baton-demo"
            # Show what a person would type, then do exactly that through the same update.
            console.print(Text(
                f"  pending approval {pending.approval_id}: {pending.tool}({pending.args}) — "
                f"allowed: {', '.join(pending.allowed_deciders) or 'anyone'}\n"
                f"  the demo now runs: baton approve {run_id} {pending.approval_id} --by {by}",
                style="yellow"), soft_wrap=True)
            await client.decide(ApprovalDecision(
                approval_id=pending.approval_id, decision="approve", by=by,
                reason="approved automatically by `baton demo`"), workflow_id=pending.workflow_id)


def print_all(*items: RenderableType) -> None:
    for item in items:
        # Plain lines (links, ids) never wrap or crop; panels and tables fit the terminal.
        console.print(item, soft_wrap=isinstance(item, Text))


def report(client: BatonClient, result: RunResult) -> None:
    url = client.ui_url(result.run_id)
    print_all(render.result_panel(result), *render.links(result.run_id, url))
    if result.status != RunStatus.COMPLETED:
        errors.print(Text(f"run ended with status {result.status.value}"
                          f"{': ' + result.reason if result.reason else ''}", style="red"))
        raise typer.Exit(1)


