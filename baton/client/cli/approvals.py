"""``baton approvals | approve | edit | reject``: list and decide approval gates.

``baton approvals`` without a run id lists what waits for a person across every run (the
``BatonStatus = 'awaiting_approval'`` visibility query, member runs included). Decisions go
through the workflow's ``decide`` update, so a refused decision (unknown id, already decided,
approver not allowed) is answered at once instead of being silently dropped.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import typer
from rich.text import Text

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client.api import BatonClient
from baton.client.cli._common import Address, Namespace, console, run_async, settings_from
from baton.client.cli._tables import approvals_table
from baton.errors import BatonError

__all__ = ["approvals", "approve", "edit", "reject"]

By = Annotated[str | None, typer.Option(
    "--by", help="who decides: an allowed approver (default: BATON_DECIDER); decisions are "
                 "signed with BATON_DECIDER_KEY_FILE when it is set")]
ApprovalId = Annotated[str | None, typer.Argument(
    help="approval id (default: the run's only open approval)")]


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
            decision: Literal["approve", "reject", "edit"], by: str | None, reason: str | None,
            args: dict[str, Any] | None, address: str | None, namespace: str | None) -> None:
    settings = settings_from(temporal_address=address, namespace=namespace)
    decider = by or settings.decider
    if decider is None:
        raise typer.BadParameter("say who decides: --by NAME (or set BATON_DECIDER)")

    async def go() -> None:
        client = await BatonClient.connect(settings)
        chosen = _pick(await client.pending_approvals(run_id), run_id, approval_id)
        receipt = await client.decide(ApprovalDecision(
            approval_id=chosen.approval_id, decision=decision, by=decider, reason=reason,
            args=args), workflow_id=chosen.workflow_id, run_id=chosen.run_id)
        console.print(Text(f"{receipt.decision} {receipt.approval_id} ({receipt.tool}) by "
                           f"{receipt.by}, recorded {receipt.recorded_at:%H:%M:%S}",
                           style="green"), soft_wrap=True)

    run_async(go())


def approvals(run_id: Annotated[str | None, typer.Argument(
                  help="a run (default: every run waiting for a person)")] = None,
              team: Annotated[str | None, typer.Option(help="only this team's runs")] = None,
              tenant: Annotated[str | None, typer.Option(help="only this tenant's runs")] = None,
              address: Address = None, namespace: Namespace = None) -> None:
    """List open approvals: of one run (and its member runs), or of every run."""
    if run_id is not None and (team or tenant):
        raise typer.BadParameter("--team/--tenant filter the list across runs; drop RUN_ID")
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        pending = await client.pending_approvals(run_id, team=team, tenant=tenant)
        console.print(approvals_table(pending, runs=run_id is None, width=console.width)
                      if pending else "no open approvals")

    run_async(go())


def approve(run_id: str, approval_id: ApprovalId = None, *, by: By,
            reason: Annotated[str | None, typer.Option(help="why (recorded)")] = None,
            edit: Annotated[str | None, typer.Option(
                help="approve with changed arguments: a JSON object")] = None,
            address: Address = None, namespace: Namespace = None) -> None:
    """Approve a pending tool call (optionally with edited arguments)."""
    args = None if edit is None else _json_object(edit, "--edit")
    _decide(run_id, approval_id, decision="edit" if args is not None else "approve", by=by,
            reason=reason, args=args, address=address, namespace=namespace)


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{option} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise typer.BadParameter(f"{option} must be a JSON object")
    return value


def edit(run_id: str, approval_id: ApprovalId = None, *, by: By,
         args: Annotated[str, typer.Option("--args", help="the arguments to run with: a JSON "
                                                          "object")],
         reason: Annotated[str | None, typer.Option(help="why (recorded)")] = None,
         address: Address = None, namespace: Namespace = None) -> None:
    """Approve a pending tool call with changed arguments (like approve --edit)."""
    _decide(run_id, approval_id, decision="edit", by=by, reason=reason,
            args=_json_object(args, "--args"), address=address, namespace=namespace)


def reject(run_id: str, approval_id: ApprovalId = None, *, by: By,
           reason: Annotated[str, typer.Option(help="why; the agent is told")],
           address: Address = None, namespace: Namespace = None) -> None:
    """Reject a pending tool call; the reason goes back to the agent."""
    _decide(run_id, approval_id, decision="reject", by=by, reason=reason, args=None,
            address=address, namespace=namespace)
