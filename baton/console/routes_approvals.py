"""The approvals inbox and the page where one approval is decided.

The inbox lists what waits for a person across every run, members included, filtered to what
the signed-in person may decide; its fragment is streamed live (:mod:`.streams`). The approval
page shows what the agent wants to do, its arguments, the conversation that led there, the run's
summary so far and the time left, with three forms: approve, reject with a reason, approve with
edited arguments (checked against the tool's schema here before anything is sent).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal, cast

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from temporalio.service import RPCError

from baton.approvals import PendingApproval
from baton.client.cli._summary import summary
from baton.console import present
from baton.console.app import console_of, person_of, render
from baton.console.deciding import FIELD_PREFIX, changes_from_form, edit_fields
from baton.console.feed import may_decide, visible_to
from baton.console.streams import live
from baton.console.tools import edit_problem
from baton.errors import ApprovalRefusedError, BatonError, RunNotFoundError

__all__ = ["routes"]

_ACTIONS = ("approve", "reject", "edit")


async def inbox(request: Request) -> Response:
    person = person_of(request)
    if isinstance(person, Response):
        return person
    console = console_of(request)
    try:
        mine, problem = visible_to(person, await console.feed.current()), None
    except (BatonError, RPCError) as exc:  # Temporal out of reach: say so, the stream retries
        mine, problem = [], f"cannot read open approvals right now: {exc}"
    return render(request, "inbox.html", {"approvals": mine, "problem": problem}, person=person)


async def inbox_stream(request: Request) -> Response:
    person = person_of(request)
    if isinstance(person, Response):
        return person
    console = console_of(request)

    async def fragment() -> tuple[str, bool]:
        mine = visible_to(person, await console.feed.current())
        return console.fragment("_inbox.html", approvals=mine), False

    return live(fragment, interval_s=console.feed.interval_s)


async def _context(request: Request, pending: PendingApproval) -> dict[str, Any]:
    """Everything the approval page shows besides the forms' state."""
    console = console_of(request)
    client = console.client
    try:
        messages = await client.runs.messages(pending.workflow_id)
        lines, omitted = present.conversation(messages)
    except BatonError as exc:
        lines, omitted = [present.Line("console", "error", "conversation unavailable",
                                       str(exc))], 0
    try:
        paragraphs = summary(await client.tree(pending.run_id))
    except BatonError as exc:
        paragraphs = [f"The summary is unavailable: {exc}"]
    return {"approval": pending, "conversation": lines, "omitted": omitted,
            "summary": paragraphs, "ui_url": client.ui_url(pending.run_id),
            "member_ui_url": client.ui_url(pending.workflow_id)}


async def approval(request: Request) -> Response:
    person = person_of(request)
    if isinstance(person, Response):
        return person
    console = console_of(request)
    run_id, approval_id = request.path_params["run_id"], request.path_params["approval_id"]
    try:
        pending = await console.feed.find(run_id, approval_id)
    except RunNotFoundError:
        pending = None
    if pending is None:
        return render(request, "gone.html", {"run_id": run_id, "approval_id": approval_id},
                      person=person, status_code=404)
    if not may_decide(person, pending):
        # Nothing about the call itself: the inbox would not have shown it either.
        return render(request, "gone.html", {"run_id": run_id, "approval_id": approval_id,
                                             "forbidden": True}, person=person, status_code=403)
    tool = await console.catalogs.tool(pending.workflow_id, pending.tool)
    fields = edit_fields(pending, tool)
    state: dict[str, Any] = {"tool": tool, "fields": fields, "error": None, "reason": ""}
    if request.method == "POST":
        form = {k: str(v) for k, v in (await request.form()).items()}
        if not console.identity.token_ok(person, form.get("token", "")):
            return render(request, "gone.html", {"run_id": run_id, "approval_id": approval_id,
                                                 "forbidden": True}, person=person,
                          status_code=403)
        done = await _decide(request, person, pending, form, state)
        if done is not None:
            return done
    page = {**await _context(request, pending), **state}
    return render(request, "approval.html", page, person=person,
                  status_code=400 if state["error"] else 200)


async def _decide(request: Request, person: str, pending: PendingApproval,
                  form: dict[str, str], state: dict[str, Any]) -> Response | None:
    """Send the decision and redirect to the run, or fill ``state`` with what went wrong."""
    action = form.get("action", "")
    reason = form.get("reason", "").strip()
    state["reason"] = reason
    # The page keeps what the person typed, so a fix is one change away.
    state["fields"] = [replace(f, value=form.get(FIELD_PREFIX + f.name, f.value))
                       for f in state["fields"]]
    changes: dict[str, Any] = {}
    if action not in _ACTIONS:
        state["error"] = "choose approve, reject or edit"
    elif action == "reject" and not reason:
        state["error"] = "say why you reject it: the agent is told"
    elif action == "edit":
        changes = changes_from_form(form, pending, state["tool"])
        state["error"] = edit_problem(pending.args, changes, state["tool"])
    if state["error"]:
        return None
    console = console_of(request)
    try:
        receipt = await console.decider.decide(
            person, pending, action=cast(Literal["approve", "reject", "edit"], action),
            reason=reason, changes=changes)
    except ApprovalRefusedError as exc:
        state["error"] = f"the run refused the decision: {exc}"
        return None
    target = (f"/runs/{present.quote(pending.run_id)}?decided={present.quote(receipt.decision)}"
              f"&approval={present.quote(receipt.approval_id)}")
    return RedirectResponse(target, status_code=303)


routes = [Route("/approvals", inbox), Route("/approvals/stream", inbox_stream),
          Route("/approvals/{run_id}/{approval_id}", approval, methods=["GET", "POST"])]
