"""The ``events`` update and query: a run's log, streamed to clients as it grows.

The run log already lives in workflow state (``RunLog``), so streaming it needs no publishing:
the update waits (``workflow.wait_condition``) until the log holds events at or past the asked
offset, then answers where the log ends; the query reads the events, at once and without
touching history. Per batch of events the history records only the update (about 250 bytes
per event on the benchmark, against about 800 when the update carried the events too:
``with_events``), and clients waiting at the same offset share one update (its id is
``events-<offset>``), so watchers cost history per batch, not per watcher.

Temporal bounds updates per workflow run (10 in flight, 2,000 in all by default) and the same
budget serves ``decide`` and ``send``; so at most ``MAX_WAITING`` polls wait at once and a run
takes at most ``MAX_POLLS`` of them per continuation. Past either bound the validator refuses
(nothing is recorded) and the client reads with the query instead. Once the run has finished or
is continuing as new, polls at the end of the log are refused so the workflow can close without
handlers in flight.
"""

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from baton.runs import ContinuedEvent, FinishedEvent, RunEvent
from baton.streaming import (
    EVENTS,
    EVENTS_BUSY,
    EVENTS_ELSEWHERE,
    EVENTS_ENDED,
    EVENTS_MOVED,
    EventsPage,
    EventsRequest,
)
from baton.workflow_records import Polls as _Polls
from baton.workflows._runlog import RunLog

__all__ = ["MAX_POLLS", "MAX_WAITING", "EventsHost", "events_page"]

MAX_WAITING = 3  # polls waiting at once: leaves Temporal's other in-flight slots to people
MAX_POLLS = 1_000  # polls per continuation: half of Temporal's per-run update limit
_PAGE_BYTES = 512_000  # a page stays far below Temporal's 2 MB payload limit
_TAIL = 4


def _ending(log: RunLog) -> tuple[bool, bool]:
    """(closing, finished): whether this workflow run logs nothing more, and whether that is
    because the run ended. A hosted agent's ``finished`` (a supervisor's router) is not the
    run's: only the log owner's is. Both are among the last events (a tenant settlement may
    follow them), so only the tail is looked at: this runs at every workflow activation."""
    for event in reversed(log.events[-_TAIL:]):
        if isinstance(event, ContinuedEvent):
            return True, False
        if isinstance(event, FinishedEvent) and event.agent == log.agent:
            return True, True
    return False, False


def events_page(log: RunLog, request: EventsRequest, *, with_events: bool = True
                ) -> EventsPage:
    """The events of ``log`` from ``request.offset`` (a ``seq``) on, bounded in number and size
    (without ``with_events``: only where the log ends)."""
    start = max(request.offset - log.offset, 0)
    events: list[RunEvent] = []
    size = 0
    for event in log.events[start : start + request.limit] if with_events else []:
        size += len(event.model_dump_json())
        if events and size > _PAGE_BYTES:
            break
        events.append(event)
    closing, finished = _ending(log)
    end = log.offset + len(log.events)
    next_offset = log.offset + start + len(events)
    return EventsPage(events=events, next_offset=next_offset, first_offset=log.offset, end=end,
                      closing=closing and next_offset == end,
                      finished=finished and next_offset == end)


class EventsHost:
    """Mixed into every workflow with a run log; the subclass says which log it streams."""

    def _event_log(self) -> RunLog:
        raise NotImplementedError  # the host's run state holds it

    @property
    def _polls(self) -> _Polls:
        # The hosts' @workflow.init constructors stay untouched: the state is made on first use.
        polls: _Polls | None = self.__dict__.get("_event_polls")
        if polls is None:
            polls = self.__dict__["_event_polls"] = _Polls()
        return polls

    @workflow.query(name=EVENTS)
    def events_now(self, request: EventsRequest) -> EventsPage:
        return events_page(self._event_log(), request)

    @workflow.update(name=EVENTS)
    async def events(self, request: EventsRequest) -> EventsPage:
        log, polls = self._event_log(), self._polls
        polls.taken += 1
        polls.waiting += 1
        try:
            await workflow.wait_condition(
                lambda: log.offset + len(log.events) > request.offset or _ending(log)[0])
        finally:
            polls.waiting -= 1
        return events_page(log, request, with_events=request.with_events)

    @events.validator
    def _validate_events(self, request: EventsRequest) -> None:
        log, polls = self._event_log(), self._polls
        end = log.offset + len(log.events)
        if request.offset < log.offset:
            raise ApplicationError(
                f"events before {log.offset} were logged by an earlier continuation of this run",
                type=EVENTS_ELSEWHERE, non_retryable=True)
        closing, finished = _ending(log)
        if closing and request.offset >= end:
            if finished:
                raise ApplicationError("the run has finished: no events follow",
                                       type=EVENTS_ENDED, non_retryable=True)
            raise ApplicationError("this run continues as new: ask its newest run",
                                   type=EVENTS_MOVED, non_retryable=True)
        if polls.taken >= MAX_POLLS or (request.offset >= end and polls.waiting >= MAX_WAITING):
            raise ApplicationError("enough clients wait on this run already; read the events "
                                   "with the query", type=EVENTS_BUSY, non_retryable=True)
