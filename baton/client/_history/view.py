"""A run read from its Temporal event history alone: no query, no worker, no replay.

A query of a closed workflow makes a worker replay it on the *current* workflow code, so after a
deploy that changed that code, or with no worker polling, ``baton show`` and ``summary`` of a
closed run would fail or tell something the run never did. Its history is what the run did,
whichever release recorded it: ``_runlog.view`` reads closed runs (and running ones no worker
answers for) from it, and ``baton show --history FILE`` reads a saved history with no server.

The events are rebuilt by :class:`baton.client._history.walk.Walk` (whose docstring says what
history shows and what it cannot), with every payload decoded leniently through the data
converter's codec (``decode``). A continue-as-new chain is walked back from its last run
through each start event's ``continued_execution_run_id``. A member run is read from its own
history when the server has it; otherwise (a history file, retention) from what its parent's
history tells: started, ended, its typed result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from baton.client._history.decode import Decoder
from baton.client._history.state import MemberFacts, jdict
from baton.client._history.walk import Walk
from baton.client._totals import totals
from baton.client.views import RunView
from baton.errors import RunNotFoundError
from baton.runs import AgentStatus, RunEvent, RunResult, RunStatus

__all__ = ["HistoryRead", "fetch_chain", "file_view", "member_view", "read_chain"]

MAX_CHAIN = 100_000  # continuations followed back; a chain this long is a bug, not a run


@dataclass
class HistoryRead:
    """One workflow id's whole run, as its histories tell it."""

    workflow_id: str
    workflow_type: str | None
    team: str | None
    agent: str | None
    tenant: str | None
    execution_status: str
    started_at: datetime | None
    closed_at: datetime | None
    status: AgentStatus | None
    result: RunResult | None
    events: list[RunEvent]
    previous_runs: list[str] = field(default_factory=list)
    members: dict[str, MemberFacts] = field(default_factory=dict)  # by workflow id
    notes: list[str] = field(default_factory=list)


async def fetch_chain(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """The history of every run of ``workflow_id``'s continue-as-new chain, oldest first."""
    chain: list[WorkflowHistory] = []
    run_id: str | None = None  # None: the latest run
    while len(chain) < MAX_CHAIN:
        try:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise RunNotFoundError(f"no run {workflow_id!r} in namespace "
                                       f"{client.namespace!r}") from exc
            raise
        chain.append(history)
        first = history.events[0] if history.events else None
        run_id = first.workflow_execution_started_event_attributes.continued_execution_run_id \
            if first is not None else None
        if not run_id:
            break
    return chain[::-1]


async def read_chain(chain: Sequence[WorkflowHistory], converter: DataConverter) -> HistoryRead:
    """Read the histories of one workflow id's runs (oldest first) into a run log."""
    walk = Walk(workflow_id=chain[-1].workflow_id, decoder=Decoder(converter))
    for history in chain:
        await walk.read(history)
    events = walk.events()
    previous = [h.run_id for h in chain[:-1]]
    if walk.workflow_type is not None and walk.result is None \
            and walk.execution_status not in ("RUNNING", "CONTINUED_AS_NEW"):
        walk.notes.append("the run's result could not be read from its history")
    return HistoryRead(
        workflow_id=walk.workflow_id, workflow_type=walk.workflow_type,
        team=walk.team if walk.run_input else None, agent=walk.host,
        tenant=str(walk.run_input.get("tenant") or "default") if walk.run_input else None,
        execution_status=walk.execution_status, started_at=walk.started_at,
        closed_at=walk.closed_at, status=_status(walk, events, previous),
        result=walk.result, events=events, previous_runs=previous,
        members={m.workflow_id: m for m in walk.members},
        notes=[*walk.notes, *walk.decoder.notes()])


def _status(walk: Walk, events: list[RunEvent], previous: list[str]) -> AgentStatus | None:
    """What the ``status`` query would answer, as far as history tells."""
    if not walk.run_input:
        return None
    result = walk.result
    try:
        state = result.status if result else RunStatus(walk.run_status or "running")
    except ValueError:  # a status this release does not know
        state = RunStatus.RUNNING
    agents = jdict(walk.run_input.get("team")).get("agents") or []
    max_steps = next((jdict(a).get("max_steps") for a in agents
                      if jdict(a).get("name") == walk.host), None)
    usage, cost = (result.usage, result.cost_usd) if result else walk.spent()
    return AgentStatus(
        run_id=walk.team_run_id, team=walk.team, agent=walk.host, status=state,
        step=result.steps if result else walk.step,
        max_steps=max_steps if isinstance(max_steps, int) else 0, usage=usage, cost_usd=cost,
        last_event=events[-1].kind if events else None, previous_runs=previous)


def member_view(facts: MemberFacts, *, ui_url: str, why: str) -> RunView:
    """A member run from its parent's history only (``why``: its own is not at hand)."""
    built = RunView(
        run_id=facts.workflow_id, member=facts.member, member_kind=facts.kind, sees=facts.sees,
        workflow_type=facts.workflow_type, team=facts.team, agent=facts.agent,
        tenant=facts.tenant, execution_status=facts.execution_status,
        started_at=facts.started_at or facts.initiated_at, closed_at=facts.closed_at,
        status=None, result=facts.result, events=[], ui_url=ui_url, source="parent",
        notes=[f"{why}: its own model and tool calls are not shown"])
    return built.model_copy(update={"totals": totals(built)})


async def file_view(history: WorkflowHistory, converter: DataConverter, *,
                    ui_base: str) -> RunView:
    """A run from one saved history (``baton show --history FILE``): no server is asked, so
    its member runs are what this history tells of them. ``ui_base``: the Temporal UI's
    workflows page, for the links."""
    read = await read_chain([history], converter)
    children = [member_view(facts, ui_url=f"{ui_base}/{facts.workflow_id}",
                            why="only its parent's history is in the file")
                for facts in read.members.values()]
    built = RunView(
        run_id=read.workflow_id, workflow_type=read.workflow_type, team=read.team,
        agent=read.agent, tenant=read.tenant, execution_status=read.execution_status,
        started_at=read.started_at, closed_at=read.closed_at, status=read.status,
        result=read.result, events=read.events, children=children,
        ui_url=f"{ui_base}/{read.workflow_id}", source="history", notes=read.notes)
    return built.model_copy(update={"totals": totals(built)})
