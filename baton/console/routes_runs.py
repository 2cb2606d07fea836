"""Finding runs and following one: the search page and the run page.

The search is ``baton runs``'s visibility query (team, tenant, status, start time), shown so it
can be pasted into the Temporal UI. The run page is the tree of members with every step, tool
call and cost, the plain-language summary and the approvals that wait, rendered again whenever
the run's live event stream delivers an event and final once it has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from baton.client.cli._summary import summary
from baton.client.reader import parse_since, runs_query
from baton.client.views import RunView
from baton.console import present
from baton.console.app import console_of, person_of, render
from baton.console.feed import visible_to
from baton.console.streams import live_on
from baton.errors import BatonError, RunNotFoundError
from baton.runs import RunStatus, StartedEvent

__all__ = ["routes"]

_FILTERS = ("team", "tenant", "status", "since")


@dataclass(frozen=True)
class Node:
    """One workflow of the run's tree, flattened for the page (``depth`` indents it)."""

    depth: int
    view: RunView
    lines: list[present.Line]
    ui_url: str


def _nodes(view: RunView, depth: int = 0) -> list[Node]:
    # A model call being asked shows while it is the newest event; once answered, its
    # model_call line says it all.
    events = [e for i, e in enumerate(view.events)
              if e.kind != "model_started" or i == len(view.events) - 1]
    out = [Node(depth, view, [present.event_line(e) for e in events], view.ui_url)]
    for child in view.children:
        out += _nodes(child, depth + 1)
    return out


async def runs(request: Request) -> Response:
    person = person_of(request)
    if isinstance(person, Response):
        return person
    client = console_of(request).client
    given = {name: request.query_params.get(name, "").strip() for name in _FILTERS}
    error, rows, query = None, [], ""
    try:
        since = parse_since(given["since"]) if given["since"] else None
        query = runs_query(team=given["team"] or None, tenant=given["tenant"] or None,
                           status=given["status"] or None, since=since)
        rows = await client.search_runs(query, limit=100)
    except BatonError as exc:
        error = str(exc)
    return render(request, "runs.html", {
        "rows": rows, "given": given, "query": query, "error": error,
        "statuses": [s.value for s in RunStatus], "ui_url": client.settings.temporal_ui_url,
        "namespace": client.settings.namespace}, person=person)


async def _run_context(request: Request, person: str, run_id: str) -> dict[str, Any]:
    client = console_of(request).client
    tree = await client.tree(run_id)
    running = tree.execution_status == "RUNNING"
    waiting = []
    if running:
        try:
            waiting = visible_to(person, await client.pending_approvals(run_id))
        except BatonError:
            waiting = []  # not answering queries yet; the next update shows them
    # Runs started without Baton's search attributes (a bare `temporal workflow start`) still
    # say their team and tenant in their first event.
    started = next((e for e in tree.events if isinstance(e, StartedEvent)), None)
    return {"tree": tree, "nodes": _nodes(tree), "summary": summary(tree), "running": running,
            "waiting": waiting, "status": tree.run_status.value if tree.run_status else
            tree.execution_status.lower(),
            "team": tree.team or (started.team if started else "?"),
            "tenant": tree.tenant or (started.tenant if started else "?")}


async def run(request: Request) -> Response:
    person = person_of(request)
    if isinstance(person, Response):
        return person
    run_id = request.path_params["run_id"]
    try:
        context = await _run_context(request, person, run_id)
    except RunNotFoundError as exc:
        return render(request, "gone.html", {"run_id": run_id, "missing": str(exc)},
                      person=person, status_code=404)
    decided = {"decision": request.query_params.get("decided"),
               "approval": request.query_params.get("approval")}
    return render(request, "run.html", {**context, "run_id": run_id, "decided": decided},
                  person=person)


async def run_stream(request: Request) -> Response:
    person = person_of(request)
    if isinstance(person, Response):
        return person
    console = console_of(request)
    run_id = request.path_params["run_id"]

    async def fragment() -> tuple[str, bool]:
        context = await _run_context(request, person, run_id)
        return console.fragment("_run.html", **context), not context["running"]

    # Rendered again when the run or one of its members logs an event (its live event stream),
    # not on a clock: a page costs nothing while the run waits, and shows a step at once.
    return live_on(fragment, lambda: console.client.event_tree(run_id))


routes = [Route("/runs", runs), Route("/runs/{run_id}", run),
          Route("/runs/{run_id}/stream", run_stream)]
