"""Following a run in the terminal (``baton run``, ``baton demo``) and reporting how it ended."""

from __future__ import annotations

import asyncio

import typer
from rich.text import Text

from baton.approvals import ApprovalDecision
from baton.client.api import BatonClient
from baton.client.cli import _render
from baton.client.cli._common import console, errors, print_all
from baton.runs import ApprovalEvent, RunResult, RunStatus

__all__ = ["follow", "report"]

NO_PROGRESS_HINT_S = 10.0


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
                console.print(_render.event_line(event), soft_wrap=True)
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
                reason="approved automatically by `baton demo`"), workflow_id=pending.workflow_id,
                run_id=pending.run_id)


def report(client: BatonClient, result: RunResult) -> None:
    """The answer panel and the links; a run that did not complete exits with code 1."""
    url = client.ui_url(result.run_id)
    print_all(_render.result_panel(result), *_render.links(result.run_id, url))
    if result.status != RunStatus.COMPLETED:
        errors.print(Text(f"run ended with status {result.status.value}"
                          f"{': ' + result.reason if result.reason else ''}", style="red"))
        raise typer.Exit(1)


