"""A run's events with its members' events, as they happen: ``BatonClient.event_tree``.

Every member of a pattern run is a child workflow with its own run log; the run logs a
``child`` event when it starts one. :func:`follow_tree` follows the run's own stream and, for
each member it starts, that member's stream too (recursively), and merges them in the order they
arrive, each event tagged with the workflow that logged it (``TreeEvent``). It ends when the run
and every member it followed have finished. ``offset`` applies to the run's own events: members
started before it are not followed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from baton.client._events import follow_events
from baton.client._workflow import WorkflowReader
from baton.errors import RunNotFoundError
from baton.runs import ChildEvent
from baton.streaming import TreeEvent

__all__ = ["follow_tree"]

MAX_DEPTH = 8  # as baton show: nesting deeper than this is not followed
_MEMBER_APPEARS_S = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)  # a child starts after its event


async def follow_tree(reader: WorkflowReader, run_id: str, *, offset: int = 0,
                      interval_s: float = 0.25) -> AsyncIterator[TreeEvent]:
    queue: asyncio.Queue[TreeEvent | BaseException | None] = asyncio.Queue()
    tasks: set[asyncio.Task[None]] = set()

    async def pump(workflow_id: str, member: str | None, depth: int, start: int) -> None:
        try:
            for pause in (0.0, *_MEMBER_APPEARS_S):
                await asyncio.sleep(pause)
                try:
                    async for event in follow_events(reader, workflow_id, offset=start,
                                                     interval_s=interval_s):
                        await queue.put(TreeEvent(workflow_id=workflow_id, member=member,
                                                  depth=depth, event=event))
                    return
                except RunNotFoundError:
                    if depth == 0:
                        raise
            # A member that never appeared (its start failed): the parent's ``child`` finished
            # event still tells how it ended.
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put(exc)
        finally:
            await queue.put(None)

    def spawn(workflow_id: str, member: str | None, depth: int, start: int) -> None:
        task = asyncio.ensure_future(pump(workflow_id, member, depth, start))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    spawn(run_id, None, 0, offset)
    running = 1
    try:
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise item
            yield item
            event = item.event
            if isinstance(event, ChildEvent) and event.action == "started" \
                    and item.depth < MAX_DEPTH:
                spawn(event.workflow_id, event.member, item.depth + 1, 0)
                running += 1
    finally:
        for task in list(tasks):
            task.cancel()
