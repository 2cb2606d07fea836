"""A run's events as they happen: the client side of the ``events`` update and query.

:func:`follow_events` long-polls the workflow's newest run with the ``events`` update (id
``events-<offset>``, shared with every other client waiting at that offset), reads what it
announces with the ``events`` query, yields each event once, in ``seq`` order, and follows the
run across continue-as-new: a run that continues logs ``continued`` and then refuses polls at
its end, so the next poll lands on the new run. It ends after the run's own ``finished`` event;
a run that closed without one (terminated, crashed) is drained and ends there. ``offset``
resumes a stream after a disconnect: events are numbered across continuations, so an offset
names one event forever.

Events of an earlier continuation and of a closed run are read by query (from history when no
worker answers); while a run refuses more long polls (``EventsBusy``: enough clients wait
already) the stream reads with the ``events`` query every ``interval_s`` instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from baton.client._history.view import fetch_chain, read_chain
from baton.client._workflow import WorkflowReader
from baton.errors import QueryTimeoutError
from baton.runs import RunEvent
from baton.streaming import (
    EVENTS,
    EVENTS_BUSY,
    EVENTS_ELSEWHERE,
    EVENTS_ENDED,
    EVENTS_MOVED,
    EventsPage,
    EventsRequest,
    events_update_id,
)

__all__ = ["follow_events"]

MOVED_RETRY_S = 0.02  # between a run's "continued" and its successor taking polls
_RETRY_S = (0.1, 0.25, 0.5, 1.0, 2.0)  # a Temporal server that is briefly unreachable
_QUERY_PROBLEMS = (QueryTimeoutError, WorkflowQueryFailedError, RPCError)
_TRANSIENT = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
              RPCStatusCode.CANCELLED, RPCStatusCode.INTERNAL, RPCStatusCode.UNKNOWN,
              RPCStatusCode.RESOURCE_EXHAUSTED)
_END = EventsPage(next_offset=0, closing=True, finished=True)  # marker: the stream is over


async def follow_events(reader: WorkflowReader, run_id: str, *, offset: int = 0,
                        interval_s: float = 0.25, with_events: bool = False
                        ) -> AsyncIterator[RunEvent]:
    """Yield the run's events from ``offset`` on as they are logged; end after it finished.
    ``with_events`` has the update carry the events instead of the query (measured in
    bench/events.py: one query faster, three times the history)."""
    await reader.describe(run_id)  # RunNotFoundError at once, not inside the loop
    stream = _Stream(reader, run_id, interval_s=interval_s, with_events=with_events)
    while True:
        page = await stream.next(offset)
        if page is _END:
            return
        for event in page.events:
            if event.seq >= offset:
                yield event
        offset = max(offset, page.next_offset)
        if page.finished:
            return


class _Stream:
    def __init__(self, reader: WorkflowReader, run_id: str, *, interval_s: float,
                 with_events: bool) -> None:
        self.reader, self.run_id = reader, run_id
        self.handle = reader.client.get_workflow_handle(run_id)  # no run id: the newest run
        self.interval_s, self.with_events = interval_s, with_events
        self.failures = 0

    async def next(self, offset: int) -> EventsPage:
        """The next page from ``offset`` (waiting for it), or ``_END``."""
        while True:
            try:
                page: EventsPage = await self.handle.execute_update(
                    EVENTS, EventsRequest(offset=offset, with_events=self.with_events),
                    id=events_update_id(offset, with_events=self.with_events),
                    result_type=EventsPage)
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                continue  # the long poll outlived its RPC: ask again, the same update answers
            except WorkflowUpdateFailedError as exc:
                refused = await self._refused(getattr(exc.cause, "type", None), offset, exc)
                if refused is not None:
                    return refused
                continue
            except RPCError as exc:
                if await self._closed(exc):
                    return EventsPage(events=await self._drain(offset), next_offset=offset,
                                      finished=True)
                continue
            self.failures = 0
            if not self.with_events and page.end > offset:
                return await self._read(offset)
            return page

    async def _refused(self, refused: str | None, offset: int,
                       exc: WorkflowUpdateFailedError) -> EventsPage | None:
        """What a refused poll means: the end, a page read another way, or None (poll again)."""
        if refused == EVENTS_ENDED:
            return _END
        if refused == EVENTS_MOVED:  # the successor run is about to start
            await asyncio.sleep(MOVED_RETRY_S)
            return None
        if refused == EVENTS_ELSEWHERE:
            return await self._earlier(offset)
        if refused == EVENTS_BUSY:
            page = await self._read(offset)
            if not page.events and not page.closing:
                await asyncio.sleep(self.interval_s)
            return page
        raise exc

    async def _closed(self, exc: RPCError) -> bool:
        """Whether the poll failed because the run closed; False (after a pause) when Temporal
        was briefly away; raises for anything else (an unknown run among them)."""
        if exc.status != RPCStatusCode.NOT_FOUND and exc.status not in _TRANSIENT:
            raise exc
        try:
            description = await self.reader.describe(self.run_id)
        except RPCError:
            description = None
        if description is not None and description.status not in (
                None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
            return True
        await asyncio.sleep(_RETRY_S[min(self.failures, len(_RETRY_S) - 1)])
        self.failures += 1
        return False

    async def _query(self, offset: int) -> EventsPage:
        page: EventsPage = await self.reader.query(self.run_id, EVENTS,
                                                   EventsRequest(offset=offset), EventsPage)
        return page

    async def _read(self, offset: int) -> EventsPage:
        """The events from ``offset`` on, by query. The query goes to the newest run: when the
        run continued as new since the poll answered, the events from ``offset`` to the new
        run's first are in the previous run, and are read there first."""
        page = await self._query(offset)
        if page.first_offset <= offset:
            return page
        earlier = await self._earlier(offset)
        return page.model_copy(update={"events": [*earlier.events, *page.events]})

    async def _earlier(self, offset: int) -> EventsPage:
        """Events earlier continuations logged, from ``offset`` up to the current run's first."""
        status = await self.reader.status(self.run_id)
        events: list[RunEvent] = []
        for temporal_run in status.previous_runs:
            events += await self.reader.current_log(self.run_id, temporal_run_id=temporal_run)
        wanted = [e for e in events if e.seq >= offset]
        return EventsPage(events=wanted, next_offset=wanted[-1].seq + 1 if wanted else offset)

    async def _drain(self, offset: int) -> list[RunEvent]:
        """What a closed run logged from ``offset`` on: by query (earlier continuations too, when
        the offset lies there), or from its history when no worker answers."""
        try:
            out: list[RunEvent] = []
            page = await self._query(offset)
            if page.first_offset > offset:
                out = (await self._earlier(offset)).events
            while page.events:
                out += page.events
                page = await self._query(page.next_offset)
            return out
        except _QUERY_PROBLEMS:
            read = await read_chain(await fetch_chain(self.reader.client, self.run_id),
                                    self.reader.client.data_converter)
            return [e for e in read.events if e.seq >= offset]
