"""The typed, append-only run log kept in workflow state and served by the ``run_log`` query."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from baton.runs import RunEvent

__all__ = ["RunLog"]


class RunLog:
    """Events of this continuation; ``offset`` is how many earlier continuations logged."""

    def __init__(self, agent: str, offset: int = 0,
                 events: list[RunEvent] | None = None) -> None:
        self.agent = agent
        self.offset = offset
        self.events: list[RunEvent] = [] if events is None else events

    def as_agent(self, agent: str) -> RunLog:
        """The same log, written by ``agent``: an agent loop a pattern hosts in its own workflow
        logs into the pattern's log (one sequence, one ``run_log`` query)."""
        return RunLog(agent, self.offset, self.events)

    def add(self, event_type: type[Any], *, step: int, **fields: Any) -> RunEvent:
        event: RunEvent = event_type(
            seq=self.offset + len(self.events), at=workflow.now(), agent=self.agent, step=step,
            **fields,
        )
        self.events.append(event)
        return event

    def page(self, offset: int, limit: int) -> list[RunEvent]:
        return self.events[offset : offset + limit]
