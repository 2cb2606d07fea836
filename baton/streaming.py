"""Live event streams: what a client asks a run for, and what it gets back.

A run's events are its run log (``baton.runs.RunEvent``), numbered by ``seq`` across every
continuation of the run. A client waits for events past an offset (a ``seq``) with the
``events`` update (a long poll that answers where the log ends) and reads them with the
``events`` query, which answers at once; both answer with an ``EventsPage``. The update's id is
``events-<offset>``: clients waiting at the same offset share one update, so ten watchers of a
run cost what one does (docs/architecture.md#live-event-streams).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from baton.runs import RunEvent

__all__ = [
    "EVENTS",
    "EVENTS_BUSY",
    "EVENTS_ELSEWHERE",
    "EVENTS_ENDED",
    "EVENTS_MOVED",
    "EventsPage",
    "EventsRequest",
    "TreeEvent",
    "events_update_id",
]

EVENTS = "events"  # the update (long poll) and the query (at once) share the name

# Why the update refused a poll (the ``type`` of its ApplicationError); the validator refuses,
# so none of these costs history.
EVENTS_ENDED = "EventsEnded"  # the run has finished and the offset is past its last event
EVENTS_MOVED = "EventsMoved"  # this run continued as new: ask the workflow's newest run
EVENTS_ELSEWHERE = "EventsElsewhere"  # the offset is in an earlier continuation: read it there
EVENTS_BUSY = "EventsBusy"  # too many polls wait already (or this run took its share): poll


def events_update_id(offset: int, *, with_events: bool = False) -> str:
    """The update id of a poll at ``offset``: shared by every client waiting there."""
    return f"events-{'full-' if with_events else ''}{offset}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EventsRequest(_Model):
    """Events from ``offset`` (a ``seq``) on, at most ``limit`` of them."""

    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=200, ge=1, le=1000)
    # The update answers where the log ends, and the events only when asked: events a client
    # reads with the query are not recorded in history a second time (bench/events.py).
    with_events: bool = False


class EventsPage(_Model):
    """``events`` from the asked offset on; ``next_offset`` is where to ask next. ``closing``
    says this workflow run logs nothing after ``next_offset``: it finished (``finished``) or
    continued as new (ask the workflow's newest run from ``next_offset``)."""

    events: list[RunEvent] = Field(default_factory=list)
    next_offset: int
    end: int = 0  # the seq the next event will have
    first_offset: int = 0  # the first seq this continuation holds
    closing: bool = False
    finished: bool = False


class TreeEvent(_Model):
    """An event of a run or of one of its member runs (child workflows, at any depth):
    ``workflow_id`` logged it, ``member`` is the member's name (None for the run itself) and
    ``depth`` how deep it is nested (0 for the run)."""

    workflow_id: str
    member: str | None = None
    depth: int = 0
    event: RunEvent
