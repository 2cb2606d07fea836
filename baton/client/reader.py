"""``RunReader``: everything about reading runs, over nothing but a Temporal client.

One workflow (describe, queries, run-log pages, messages, input, result) comes from
:class:`~baton.client._workflow.WorkflowReader`; this class adds the whole run: the log across
continue-as-new, the tree of member runs with totals, visibility search, open approvals across
runs, step diffs, the lookups a tool replay needs, and following a run as it goes (the live event
stream: ``events`` and ``event_tree``). It never
starts or changes a run (that is :class:`baton.client.api.BatonClient`), so it needs only the
namespace, the task queue and the Temporal UI address::

    reader = RunReader(client, namespace="default", task_queue="baton",
                       ui_url="http://127.0.0.1:8233")
    view = await reader.tree("support-1a2b3c4d")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from baton.approvals import PendingApproval
from baton.client import _diff, _runlog, _search
from baton.client._event_tree import follow_tree
from baton.client._events import follow_events
from baton.client._search import parse_since, runs_query
from baton.client._workflow import WorkflowReader
from baton.client.views import RunRow, RunView, StepDiff
from baton.errors import BatonError
from baton.runs import AgentStatus, RunEvent, ToolCallEvent
from baton.streaming import TreeEvent

__all__ = ["POLL_INTERVAL_S", "RecordedCall", "RunReader", "parse_since", "runs_query"]

POLL_INTERVAL_S = 0.25


@dataclass(frozen=True)
class RecordedCall:
    """One recorded tool call, found anywhere in a run's tree: the run, the workflow (member
    run) that made the call, and the ``tool_call`` event with its arguments and result."""

    root: RunView
    node: RunView
    event: ToolCallEvent


class RunReader(WorkflowReader):
    """Typed reads of runs: one workflow, whole runs, searches. No writes."""

    async def whole_log(self, run_id: str) -> tuple[AgentStatus, list[RunEvent]]:
        """The current status and the events of every continuation, in ``seq`` order."""
        return await _runlog.whole_log(self, run_id)

    async def run_log(self, run_id: str) -> list[RunEvent]:
        """The whole run log of one workflow: every continuation (continue-as-new), oldest
        first, then the current one. Member runs keep their own logs (see :meth:`tree`)."""
        _, events = await self.whole_log(run_id)
        return events

    async def tree(self, run_id: str) -> RunView:
        """The run as a tree: this workflow (all continuations) and, recursively, every member
        run it started (child workflows, found through the run log's ``child`` events), with
        totals per agent and per model."""
        return await _runlog.view(self, run_id)

    async def search(self, query: str, *, limit: int = 50,
                     top_level_only: bool = True) -> list[RunRow]:
        """Runs matching a visibility ``query`` (build one with :func:`runs_query`)."""
        return await _search.search(self.client, query, limit=limit,
                                    top_level_only=top_level_only)

    async def pending_approvals(self, run_id: str | None = None, *, team: str | None = None,
                                tenant: str | None = None) -> list[PendingApproval]:
        """Open approvals of a run: its own, and those of member runs (child workflows) that
        wait for a person, found through the ``BatonStatus`` search attribute. Without a run
        id: every run waiting for a person (``team``/``tenant`` narrow it down)."""
        if run_id is None:
            return await _search.pending_everywhere(self, team=team, tenant=tenant)
        return await _search.pending_of(self, run_id)

    async def step_diff(self, root: RunView, step: int, agent: str | None = None) -> StepDiff:
        """What step ``step`` of ``agent`` added to its memory, in the tree ``root`` (from
        :meth:`tree`); raises ``BatonError`` when the step is missing or ambiguous."""
        return await _diff.step_diff(self, root, step, agent)

    async def recorded_call(self, run_id: str, call_id: str) -> RecordedCall:
        """The recorded tool call ``call_id`` anywhere in the run (continuations, members)."""
        root = await self.tree(run_id)
        for node in root.walk():
            for event in node.events:
                if isinstance(event, ToolCallEvent) and event.call_id == call_id:
                    return RecordedCall(root=root, node=node, event=event)
        raise BatonError(f"no tool call {call_id!r} in run {run_id!r}; `baton show {run_id}` "
                         "lists each call id")

    def events(self, run_id: str, *, offset: int = 0, interval_s: float = POLL_INTERVAL_S
               ) -> AsyncIterator[RunEvent]:
        """The run's events as they are logged, from ``offset`` (a ``seq``) on, across
        continue-as-new; ends after the run's ``finished`` event (see ``_events``)."""
        return follow_events(self, run_id, offset=offset, interval_s=interval_s)

    def event_tree(self, run_id: str, *, offset: int = 0, interval_s: float = POLL_INTERVAL_S
                   ) -> AsyncIterator[TreeEvent]:
        """The run's events and its members' (child workflows, nested), as they are logged."""
        return follow_tree(self, run_id, offset=offset, interval_s=interval_s)

    def watch(self, run_id: str, *, interval_s: float = POLL_INTERVAL_S
              ) -> AsyncIterator[RunEvent]:
        """The run's events as they are logged, from its start (``events`` from 0)."""
        return self.events(run_id, interval_s=interval_s)
