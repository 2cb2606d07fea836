"""Following a run in the terminal (``baton run``, ``baton demo``) and reporting how it ended."""

from __future__ import annotations

import asyncio
import contextlib

import typer
from rich.text import Text
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client.api import BatonClient
from baton.client.cli import _render
from baton.client.cli._common import console, errors, print_all
from baton.errors import BatonError
from baton.runs import RunResult, RunStatus

__all__ = ["follow", "report"]

NO_PROGRESS_HINT_S = 10.0
APPROVALS_POLL_S = 0.5


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
        people = asyncio.create_task(_watch_approvals(client, run_id, auto_approve=auto_approve))
        try:
            async for event in client.watch(run_id):
                waiting.cancel()
                console.print(_render.event_line(event), soft_wrap=True)
                spinner.update(f"{event.agent}: step {event.step}, waiting…")
        finally:
            waiting.cancel()
            people.cancel()
        return await client.result(run_id)


async def _watch_approvals(client: BatonClient, run_id: str, *, auto_approve: bool) -> None:
    """Every approval the run (or any member of it) waits for, once: what is asked, who may
    decide and the command that decides it; ``baton demo`` then approves it the same way."""
    seen: set[str] = set()
    while True:
        # Not ready for queries yet (no worker, first task pending), or already closed.
        with contextlib.suppress(BatonError, WorkflowQueryFailedError, RPCError):
            for pending in await client.pending_approvals(run_id):
                if pending.approval_id not in seen:
                    seen.add(pending.approval_id)
                    await _on_approval(client, run_id, pending, auto_approve=auto_approve)
        await asyncio.sleep(APPROVALS_POLL_S)


async def _on_approval(client: BatonClient, run_id: str, pending: PendingApproval, *,
                       auto_approve: bool) -> None:
    args = ", ".join(f"{k}={v}" for k, v in pending.args.items())
    who = ", ".join(pending.allowed_deciders) or "anyone"
    where = f" in {pending.workflow_id}" if pending.workflow_id != run_id else ""
    by = pending.allowed_deciders[0] if pending.allowed_deciders else "NAME"
    command = f"baton approve {run_id} {pending.approval_id} --by {by}"
    console.print(Text(
        f"  awaiting approval {pending.approval_id}{where}: {pending.agent} wants "
        f"{pending.tool}({args}) — {pending.reason}; may decide: {who}\n"
        f"  {'the demo now runs' if auto_approve else 'decide with'}: {command}"
        + ("" if auto_approve else "  (or baton reject … --reason WHY)"),
        style="yellow"), soft_wrap=True)
    if auto_approve:  # exactly what a person would type, through the same update
        await client.decide(ApprovalDecision(
            approval_id=pending.approval_id, decision="approve",
            by=pending.allowed_deciders[0] if pending.allowed_deciders else "baton-demo",
            reason="approved automatically by `baton demo`"), workflow_id=run_id,
            run_id=pending.run_id)


async def report(client: BatonClient, result: RunResult) -> None:
    """The answer panel (with the tool calls that failed anywhere in the run) and the links; a
    run that did not complete exits with code 1."""
    url = client.ui_url(result.run_id)
    try:
        failed = _render.failed_tool_calls(await client.tree(result.run_id))
    except (BatonError, WorkflowQueryFailedError, RPCError):  # the panel still says the rest
        failed = []
    print_all(_render.result_panel(result, failed), *_render.links(result.run_id, url))
    if result.status != RunStatus.COMPLETED:
        hint = _render.resume_hint(result)
        errors.print(Text(f"run ended with status {result.status.value}"
                          f"{': ' + result.reason if result.reason else ''}"
                          + (f"\n{hint}" if hint else ""), style="red"))
        raise typer.Exit(1)
