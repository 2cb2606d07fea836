"""What a walk over one workflow's history keeps, and the lenient readers its steps share.

``WalkState`` is the state of :class:`baton.client._history.walk.Walk` (the handlers live in
mixins, one module per kind of history event); the helpers read plain JSON field by field, so a
payload of an older release (missing fields, other shapes) still reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent

from baton.client._history.approvals import Approvals
from baton.client._history.decode import Decoder, tolerant
from baton.messages import Usage
from baton.runs import (
    RUN_NOT_COMPLETED,
    ChildEvent,
    ChildRecord,
    ModelCallEvent,
    RunEvent,
    RunResult,
    SummarizedEvent,
    ToolCallEvent,
)
from baton.sessions import SESSION_AGENT, SESSION_WORKFLOW
from baton.workflows._workflow_tools import TRANSFER_PREFIX
from baton.workflows.supervisor import DELEGATE_PREFIX

__all__ = ["Call", "MemberFacts", "WalkState", "at", "host_of", "jdict", "number", "text"]


def at(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def jdict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def host_of(workflow_type: str | None, run: dict[str, Any]) -> str:
    """The agent (or pattern) a workflow's own run-log events are logged under: the agent of an
    ``AgentWorkflow``, the router of a supervisor, ``session`` for a session, else the team's
    pattern."""
    team = jdict(run.get("team"))
    if workflow_type == SESSION_WORKFLOW:
        return SESSION_AGENT
    if workflow_type in ("SupervisorWorkflow", "HierarchicalWorkflow"):
        router = jdict(team.get("supervisor") or team.get("hierarchical")).get("router")
        if isinstance(router, str):
            return router
    if workflow_type == "AgentWorkflow":
        first = next((jdict(a).get("name") for a in team.get("agents") or []), None)
        return str(run.get("agent") or team.get("entry") or first or "?")
    return str(team.get("pattern") or (workflow_type or "?").removesuffix("Workflow").lower())


@dataclass
class MemberFacts:
    """One member run as its parent's history tells it."""

    workflow_id: str
    member: str
    kind: Literal["agent", "team"]
    task: str
    workflow_type: str | None
    team: str | None
    agent: str | None
    tenant: str | None
    initiated_at: datetime
    step: int = 0  # the parent's step the member belongs to
    started_at: datetime | None = None
    closed_at: datetime | None = None
    execution_status: str = "RUNNING"
    result: RunResult | None = None
    sees: str | None = None  # what it was given of earlier work


@dataclass
class Call:
    """A tool call the model made that no event has accounted for yet."""

    call_id: str
    agent: str
    step: int
    name: str
    arguments: dict[str, Any]


@dataclass
class WalkState:
    """What the histories read so far told; ``out`` holds the events in the order they
    happened (numbered only at the end, so a wrong one can be left out with a note)."""

    workflow_id: str
    decoder: Decoder
    workflow_type: str | None = None
    run_input: dict[str, Any] = field(default_factory=dict)  # the first run's input, as JSON
    host: str = "?"  # the agent (or pattern) the workflow's own events are logged under
    run_id: str = ""  # the Temporal run being read
    result: RunResult | None = None
    execution_status: str = "RUNNING"
    started_at: datetime | None = None
    closed_at: datetime | None = None
    run_status: str | None = None  # the last BatonStatus the workflow set
    members: list[MemberFacts] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    steps: dict[str, int] = field(default_factory=dict)  # agent → its latest step
    out: list[tuple[type[Any], datetime, dict[str, Any]]] = field(default_factory=list)
    # by scheduled id: the activity type, its input, when it was scheduled
    activities: dict[int, tuple[str, Any, datetime]] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)  # tool calls awaiting their outcome
    # agent → its last model call that failed for good: profile, error type, the run's reason
    failed_chat: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    began: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # agent → step, start
    children: dict[int, MemberFacts] = field(default_factory=dict)  # by initiated event id
    updates: dict[str, Any] = field(default_factory=dict)  # decide updates awaiting an answer
    size: int = 0  # bytes of the current run's events so far

    def __post_init__(self) -> None:
        self.approvals = Approvals(self.emit)

    def emit(self, kind: type[Any], when: datetime, **fields: Any) -> None:
        self.out.append((kind, when, fields))

    def events(self) -> list[RunEvent]:
        """The events in history order, numbered."""
        out: list[RunEvent] = []
        for kind, when, fields in self.out:
            try:
                out.append(kind(seq=len(out), at=when, **fields))
            except ValidationError as exc:  # a shape no release should produce: say so, go on
                self.notes.append(f"a {kind.__name__.removesuffix('Event').lower()} event at "
                                  f"{when:%H:%M:%S} could not be shown: {exc.errors()[0]['msg']}")
        return out

    @property
    def step(self) -> int:
        return self.steps.get(self.host, 0)

    @property
    def team(self) -> str:
        return str(jdict(self.run_input.get("team")).get("name") or "?")

    @property
    def team_run_id(self) -> str:
        """The run this workflow belongs to (a member belongs to its parent's run)."""
        return str(self.run_input.get("parent_run_id") or self.workflow_id)

    def workflow_tool(self, event: HistoryEvent, call: Call, content: str, *,
                      is_error: bool) -> None:
        target = call.name.removeprefix(DELEGATE_PREFIX).removeprefix(TRANSFER_PREFIX)
        task = str(call.arguments.get("task") or "").strip()
        # A delegation is identified by the member run it started, as in the live log.
        key = next((m.workflow_id for m in reversed(self.members)
                    if m.member == target and m.task == task), "")
        value = {"to": target, "reason": call.arguments.get("reason")} \
            if call.name.startswith(TRANSFER_PREFIX) else None
        self.emit(ToolCallEvent, at(event), agent=call.agent, step=call.step,
                  call_id=call.call_id, tool=call.name, effect="workflow",
                  arguments=call.arguments, status="error" if is_error else "ok", result=value,
                  content=content, idempotency_key=key)

    def spent(self) -> tuple[Usage, float]:
        """Usage and cost so far: this workflow's model calls and its finished members."""
        usage, cost = Usage(), 0.0
        for kind, _, fields in self.out:
            if kind in (ModelCallEvent, SummarizedEvent) or (
                    kind is ChildEvent and fields["action"] == "finished"):
                usage, cost = usage + fields["usage"], cost + fields["cost_usd"]
        return usage, round(cost, 6)

    def run_result(self, value: Any, **defaults: Any) -> RunResult | None:
        """A ``RunResult`` from any release's JSON (``defaults`` fill what it lacks)."""
        data = dict(jdict(value))
        if not data:
            return None
        data["children"] = [r for c in data.get("children") or []
                            if (r := tolerant(ChildRecord, c)) is not None]
        data["usage"] = tolerant(Usage, data.get("usage")) or Usage()
        return tolerant(RunResult, data, run_id=self.team_run_id, team=self.team, **defaults)

    async def typed_result(self, failure: Failure, agent: str) -> RunResult | None:
        """The ``RunResult`` a run that did not complete closes with: its failure's first
        detail (see ``baton.workflows._ending``), wherever it is in the cause chain."""
        current: Failure | None = failure
        while current is not None:
            info = current.application_failure_info
            if info.type == RUN_NOT_COMPLETED and info.details.payloads:
                value = await self.decoder.first(info.details.payloads,
                                                 f"the typed result of {agent}'s failure")
                return self.run_result(value, agent=agent)
            current = current.cause if current.HasField("cause") else None
        return None

    async def message(self, failure: Failure) -> str:
        """A failure's own message (decrypted when the converter encrypts messages too)."""
        message = failure.message
        if failure.HasField("encoded_attributes"):
            attributes = await self.decoder.value(failure.encoded_attributes, "a failure message")
            message = str(jdict(attributes).get("message") or message)
        return message

    async def failure(self, failure: Failure) -> tuple[str, str]:
        """The innermost cause's type and message: what actually went wrong, worded as the
        workflow saw it (the SDK's ``str()`` of an ``ApplicationError`` leads with its type)."""
        while failure.HasField("cause"):
            failure = failure.cause
        message = await self.message(failure)
        kind = failure.WhichOneof("failure_info") or ""
        error_type = failure.application_failure_info.type if kind == \
            "application_failure_info" else {"timeout_failure_info": "TimeoutError",
                                             "canceled_failure_info": "CancelledError",
                                             "terminated_failure_info": "TerminatedError"}.get(kind)
        if kind == "application_failure_info" and error_type:
            message = f"{error_type}: {message}"
        return error_type or "ActivityError", message or error_type or "no message"
