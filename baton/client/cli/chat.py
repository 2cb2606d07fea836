"""``baton chat TEAM.yaml [--resume SESSION]``: a conversation with a running team.

Each line is a message to the session (a ``send`` update); its reply is printed when it comes,
and while a turn runs its tool calls and approvals stream in from the session's events. Lines
starting with ``/`` are commands: ``/approve [ID] [REASON]``, ``/reject [ID] REASON``,
``/status``, ``/help`` and ``/exit`` (which ends the session; end of input or Ctrl-C only
leaves it, to ``--resume`` later). A turn waiting for an approval does not block the prompt:
decide it here, or from anywhere with ``baton approve SESSION``. Lines piped in (not a
terminal) are a scripted conversation: each is sent once the previous one has its reply.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from baton.approvals import ApprovalDecision
from baton.client.api import BatonClient
from baton.client.cli import _render
from baton.client.cli._common import (
    Address,
    Namespace,
    TaskQueue,
    console,
    run_async,
    settings_from,
)
from baton.client.cli._common import errors as err
from baton.client.cli.approvals import _pick
from baton.client.session import Session
from baton.errors import BatonError
from baton.loader import load_team
from baton.runs import RunStatus
from baton.sessions import SessionReply
from baton.streaming import TreeEvent

__all__ = ["chat"]

HELP = ("/approve [ID] [REASON]  approve what the turn waits for   /reject [ID] REASON\n"
        "/status  the session's turns and spend   /exit  end the session   "
        "(end of input leaves it open: baton chat --resume ID)")
_SHOWN = {"tool_call", "tool_refused", "approval", "failover", "model_attempt", "output_invalid"}


def chat(
    team: Annotated[str | None, typer.Argument(help="team YAML file (not with --resume)")] = None,
    *,
    resume: Annotated[str | None, typer.Option(
        "--resume", help="reattach to this session (its id)")] = None,
    session_id: Annotated[str | None, typer.Option(
        "--id", help="the new session's id (default TEAM-chat-<8 hex>)")] = None,
    tenant: Annotated[str, typer.Option(help="tenant (budgets, search attribute)")] = "default",
    idle_timeout: Annotated[float, typer.Option(
        "--idle-timeout", min=1, help="end the session after this many seconds without a "
        "message")] = 1800.0,
    by: Annotated[str | None, typer.Option(
        "--by", help="who decides approvals typed here (default: BATON_DECIDER or your user)")
    ] = None,
    address: Address = None, namespace: Namespace = None, task_queue: TaskQueue = None,
) -> None:
    """Talk to a team: one run of the team per message, in one durable session."""
    if (team is None) == (resume is None):
        raise typer.BadParameter("give a team file, or --resume SESSION")
    spec = load_team(Path(team)) if team is not None else None
    settings = settings_from(temporal_address=address, namespace=namespace, task_queue=task_queue)
    decider = by or settings.decider or getpass.getuser()

    async def go() -> None:
        client = await BatonClient.connect(settings)
        if resume is not None:
            session = await client.resume_session(resume)
            view = await session.view()
            for turn in view.recent:
                console.print(Text(f"you> {turn.message}", style="bold"), soft_wrap=True)
                console.print(Text(turn.reply or f"({turn.status.value})"), soft_wrap=True)
        else:
            assert spec is not None
            session = await client.session(spec, tenant=tenant, session_id=session_id,
                                           idle_timeout_s=idle_timeout)
        err.print(f"session {session.id}  ({client.ui_url(session.id)})\n{HELP}",
                  soft_wrap=True)
        await _converse(client, session, decider)

    run_async(go())


async def _converse(client: BatonClient, session: Session, decider: str) -> None:
    follower = asyncio.ensure_future(_follow(session, await session.log_end()))
    replies: list[asyncio.Future[SessionReply]] = []
    exited, interactive = False, sys.stdin.isatty()
    try:
        while (line := await _read_line()) is not None:
            text = line.strip()
            if not text:
                continue
            if text.startswith("/"):
                if await _command(client, session, text, decider):
                    exited = True
                    break
                continue
            try:
                reply = await session.submit(text)
            except BatonError as exc:  # busy, or the session has ended
                err.print(Text(str(exc), style="red"), soft_wrap=True)
                continue
            reply.add_done_callback(_print_reply)
            replies.append(reply)
            if not interactive:  # a piped conversation: each line once the last is answered
                await asyncio.wait([reply])
        await asyncio.gather(*replies, return_exceptions=True)
    finally:
        follower.cancel()
    state = "ended" if exited else (await session.view()).state
    err.print(f"session {session.id} ended" if state == "ended" else
              f"session {session.id} stays open: baton chat --resume {session.id}",
              soft_wrap=True)


async def _read_line() -> str | None:
    line = await asyncio.to_thread(sys.stdin.readline)
    return line if line else None


def _print_reply(reply: asyncio.Future[SessionReply]) -> None:
    if reply.cancelled():
        return
    problem = reply.exception()
    if problem is not None:
        err.print(Text(str(problem), style="red"), soft_wrap=True)
        return
    answer = reply.result()
    if answer.status is RunStatus.COMPLETED:
        console.print(Text(answer.text or ""), soft_wrap=True)
    else:
        console.print(Text(f"[turn {answer.turn} ended {answer.status.value}: "
                           f"{answer.reason or ''}] {answer.text or ''}", style="yellow"),
                      soft_wrap=True)
    if not answer.open:
        err.print(Text("the session's budget is spent: it has ended", style="red"))


async def _follow(session: Session, offset: int) -> None:
    """What the turns do, as it happens: tool calls, approvals (with how to decide), retries."""
    async for item in session.events(offset):
        if _worth_showing(item):
            console.print(_render.tree_line(item.model_copy(update={"depth": item.depth - 1})),
                          soft_wrap=True)
        event = item.event
        if event.kind == "approval" and getattr(event, "action", None) == "requested":
            err.print(Text(f"  decide with /approve {getattr(event, 'approval_id', '')} or "
                           f"/reject {getattr(event, 'approval_id', '')} REASON",
                           style="yellow"), soft_wrap=True)


def _worth_showing(item: TreeEvent) -> bool:
    kind = item.event.kind
    return item.depth >= 1 and (kind in _SHOWN or (kind == "child" and item.depth >= 2))


async def _command(client: BatonClient, session: Session, text: str, decider: str) -> bool:
    """Run a /command; True when the conversation is over."""
    word, *rest = text.split(maxsplit=2)
    try:
        if word == "/exit":
            await session.close()
            return True
        if word == "/status":
            view = await session.view()
            console.print(f"{view.state}: {view.turns} turns, {view.queued} waiting, "
                          f"{view.usage.total_tokens} tokens, ${view.cost_usd:.4f}")
        elif word in ("/approve", "/reject"):
            await _decide(client, session, word[1:], rest, decider)
        else:
            console.print(HELP)
    except BatonError as exc:
        err.print(Text(str(exc), style="red"), soft_wrap=True)
    return False


async def _decide(client: BatonClient, session: Session, what: str, rest: list[str],
                  decider: str) -> None:
    pending = await client.pending_approvals(session.id)
    named = rest[0] if rest and any(p.approval_id == rest[0] for p in pending) else None
    reason = " ".join(rest[1:] if named else rest) or None
    chosen = _pick(pending, session.id, named)
    receipt = await client.decide(ApprovalDecision(
        approval_id=chosen.approval_id, decision="approve" if what == "approve" else "reject",
        by=decider, reason=reason), workflow_id=chosen.workflow_id, run_id=chosen.run_id)
    console.print(Text(f"{receipt.decision} {receipt.approval_id} ({receipt.tool}) by "
                       f"{receipt.by}", style="green"), soft_wrap=True)
