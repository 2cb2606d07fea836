"""Following a run in the terminal (``baton run``, ``baton watch``, ``baton demo``) from its live
event stream, members included, and reporting how it ended."""

from __future__ import annotations

import asyncio
import contextlib

import typer
from rich.status import Status
from rich.text import Text
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client.api import BatonClient
from baton.client.cli import _render
from baton.client.cli._common import console, errors, print_all
from baton.errors import BatonError
from baton.runs import ApprovalEvent, ModelStartedEvent, RunResult, RunStatus
from baton.streaming import TreeEvent

__all__ = ["follow", "report"]

NO_PROGRESS_HINT_S = 10.0
APPROVAL_VISIBLE_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)  # a member's report reaches the run


async def follow(client: BatonClient, run_id: str, *, auto_approve: bool = False,
                 offset: int = 0) -> RunResult:
    """Print each event of the run and its members as it happens, with a spinner while
    waiting; return the result. ``offset`` starts at that event of the run (``baton watch``).

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
        seen: set[str] = set()
        if offset:  # approvals asked before the offset may still wait for a person
            await _announce(client, run_id, seen, None, auto_approve=auto_approve)
        try:
            async for item in client.event_tree(run_id, offset=offset):
                waiting.cancel()
                await _show(client, run_id, item, spinner, seen, auto_approve=auto_approve)
        finally:
            waiting.cancel()
        return await client.result(run_id)


async def _show(client: BatonClient, run_id: str, item: TreeEvent, spinner: Status,
                seen: set[str], *, auto_approve: bool) -> None:
    event = item.event
    if isinstance(event, ModelStartedEvent):  # the spinner says it; the answer gets a line
        spinner.update(f"{event.agent}: step {event.step}, asking {event.model}…")
        return
    console.print(_render.tree_line(item), soft_wrap=True)
    spinner.update(f"{event.agent}: step {event.step}, waiting…")
    if isinstance(event, ApprovalEvent) and event.action == "requested":
        await _announce(client, run_id, seen, event.approval_id, auto_approve=auto_approve)


async def _announce(client: BatonClient, run_id: str, seen: set[str], approval_id: str | None,
                    *, auto_approve: bool) -> None:
    """Every approval the run (or any member of it) waits for, once: what is asked, who may
    decide and the command that decides it; ``baton demo`` then approves it the same way. A
    member's request reaches the run a moment after the member logged it: looked for a while."""
    for pause in (0.0, *APPROVAL_VISIBLE_S):
        await asyncio.sleep(pause)
        pending: list[PendingApproval] = []
        # Not ready for queries yet (no worker, first task pending), or already closed.
        with contextlib.suppress(BatonError, WorkflowQueryFailedError, RPCError):
            pending = await client.pending_approvals(run_id)
        for approval in pending:
            if approval.approval_id not in seen:
                seen.add(approval.approval_id)
                await _on_approval(client, run_id, approval, auto_approve=auto_approve)
        if approval_id is None or approval_id in seen:
            return


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
