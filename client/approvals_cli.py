"""``baton approvals | approve | reject``: decide a run's approval gates (DESIGN.md decision 6).

Decisions go through the workflow's ``decide`` update, so a refused decision (unknown id, already
decided, approver not allowed) is answered at once instead of being silently dropped. Registered
on the app by :mod:`client.cli`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import typer
from rich.table import Table
from rich.text import Text

from baton.approvals import ApprovalDecision, PendingApproval
from baton.errors import BatonError
from client._cli_common import Address, Namespace, console, run_async, settings_from
from client.api import BatonClient

__all__ = ["approvals", "approve", "reject"]

By = Annotated[str, typer.Option("--by", help="who decides (must be an allowed approver)")]
ApprovalId = Annotated[str | None, typer.Argument(
    help="approval id (default: the run's only open approval)")]


def _table(pending: list[PendingApproval]) -> Table:
    table = Table(title="open approvals")
    for column in ("approval", "agent", "tool", "arguments", "why", "approvers", "expires"):
        table.add_column(column, overflow="fold")
    for p in pending:
        table.add_row(*(Text(cell) for cell in (
            p.approval_id, p.agent, p.tool, json.dumps(p.args, ensure_ascii=False), p.reason,
            ", ".join(p.allowed_deciders) or "anyone",
            f"{p.expires_at:%Y-%m-%d %H:%M:%S}" if p.expires_at else "never")))
    return table


def _pick(pending: list[PendingApproval], run_id: str, approval_id: str | None) -> PendingApproval:
    if approval_id is None:
        if len(pending) == 1:
            return pending[0]
        raise BatonError(f"run {run_id!r} has {len(pending)} open approvals; name one "
                         f"({', '.join(p.approval_id for p in pending) or 'none'})")
    for p in pending:
        if p.approval_id == approval_id:
            return p
    raise BatonError(f"no open approval {approval_id!r} in run {run_id!r}")


def _decide(run_id: str, approval_id: str | None, *,
            decision: Literal["approve", "reject", "edit"], by: str, reason: str | None,
            args: dict[str, Any] | None, address: str | None, namespace: str | None) -> None:
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        chosen = _pick(await client.pending_approvals(run_id), run_id, approval_id)
        receipt = await client.decide(ApprovalDecision(
            approval_id=chosen.approval_id, decision=decision, by=by, reason=reason, args=args),
            workflow_id=chosen.workflow_id)
        console.print(Text(f"{receipt.decision} {receipt.approval_id} ({receipt.tool}) by "
                           f"{receipt.by}, recorded {receipt.recorded_at:%H:%M:%S}",
                           style="green"), soft_wrap=True)

    run_async(go())


def approvals(run_id: str, address: Address = None, namespace: Namespace = None) -> None:
    """List the open approvals of a run (and of its member runs)."""
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        pending = await client.pending_approvals(run_id)
        console.print(_table(pending) if pending else "no open approvals")

    run_async(go())


def approve(run_id: str, approval_id: ApprovalId = None, *, by: By,
            reason: Annotated[str | None, typer.Option(help="why (recorded)")] = None,
            edit: Annotated[str | None, typer.Option(
                help="approve with changed arguments: a JSON object")] = None,
            address: Address = None, namespace: Namespace = None) -> None:
    """Approve a pending tool call (optionally with edited arguments)."""
    args = None
    if edit is not None:
        try:
            args = json.loads(edit)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"--edit is not JSON: {exc}") from exc
    _decide(run_id, approval_id, decision="edit" if args is not None else "approve", by=by,
            reason=reason, args=args, address=address, namespace=namespace)


def reject(run_id: str, approval_id: ApprovalId = None, *, by: By,
           reason: Annotated[str, typer.Option(help="why; the agent is told")],
           address: Address = None, namespace: Namespace = None) -> None:
    """Reject a pending tool call; the reason goes back to the agent."""
    _decide(run_id, approval_id, decision="reject", by=by, reason=reason, args=None,
            address=address, namespace=namespace)
