"""Server-sent events: live pages without a JavaScript framework.

A live part of a page is a server-rendered fragment; its stream sends the fragment again
(``event: update``) whenever it renders differently, and ``event: end`` when nothing will change
any more (a finished run), so the browser stops reconnecting. ``console.js`` swaps the fragment
in. A comment line every few seconds keeps proxies from closing an idle stream.

What makes a fragment render again is either a clock (``live``: the approvals inbox, whose
source is a shared poll) or a source of changes (``live_on``: a run page re-renders when the
run's live event stream delivers an event, and only then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.responses import StreamingResponse

__all__ = ["event", "live", "live_on"]

KEEPALIVE_S = 15.0
SETTLE_S = 0.05  # events that arrive together (a step's model and tool calls) render once
FALLBACK_S = 1.0  # when the change source fails: re-render on a clock, as `live` does
_log = logging.getLogger("baton.console")


def event(name: str, data: str) -> str:
    """One SSE event; every line of ``data`` becomes a ``data:`` line (the browser joins them
    with newlines again)."""
    lines = "".join(f"data: {line}\n" for line in (data.splitlines() or [""]))
    return f"event: {name}\n{lines}\n"


async def _frames(render: Callable[[], Awaitable[tuple[str, bool]]], interval_s: float
                  ) -> AsyncIterator[str]:
    last: str | None = None
    quiet_since = time.monotonic()
    failing = False
    while True:
        try:
            html, finished = await render()
        except Exception:  # Temporal away for a moment: say so once, keep the page, try again
            if not failing:
                _log.warning("console: a live update failed", exc_info=True)
            failing = True
            await asyncio.sleep(max(interval_s, 1.0))
            continue
        failing = False
        if html != last:
            yield event("update", html)
            last, quiet_since = html, time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_S:
            yield ": keep-alive\n\n"
            quiet_since = time.monotonic()
        if finished:
            yield event("end", "")
            return
        await asyncio.sleep(interval_s)


def live(render: Callable[[], Awaitable[tuple[str, bool]]], *, interval_s: float
         ) -> StreamingResponse:
    """A stream of ``render()``'s fragment; ``render`` also says whether it is final."""
    return StreamingResponse(_frames(render, interval_s), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _on_changes(render: Callable[[], Awaitable[tuple[str, bool]]],
                      changes: Callable[[], AsyncIterator[Any]]) -> AsyncIterator[str]:
    html, finished = await render()
    yield event("update", html)
    if finished:
        yield event("end", "")
        return
    dirty, done = asyncio.Event(), asyncio.Event()

    async def watch() -> None:
        try:
            async for _ in changes():
                dirty.set()
        except Exception:  # the stream failed (Temporal away): the page falls back to a clock
            _log.warning("console: a live event stream failed; polling instead", exc_info=True)
            while True:
                dirty.set()
                await asyncio.sleep(FALLBACK_S)
        finally:
            done.set()
            dirty.set()

    watcher = asyncio.ensure_future(watch())
    last = html
    try:
        while True:
            try:
                await asyncio.wait_for(dirty.wait(), KEEPALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            await asyncio.sleep(SETTLE_S)
            dirty.clear()
            try:
                html, finished = await render()
            except Exception:  # Temporal away for a moment: keep the page, try again
                _log.warning("console: a live update failed", exc_info=True)
                dirty.set()
                await asyncio.sleep(FALLBACK_S)
                continue
            if html != last:
                yield event("update", html)
                last = html
            if finished:
                yield event("end", "")
                return
            if done.is_set():  # the stream ended before the run closed: render until final
                dirty.set()
                await asyncio.sleep(FALLBACK_S)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


def live_on(render: Callable[[], Awaitable[tuple[str, bool]]],
            changes: Callable[[], AsyncIterator[Any]]) -> StreamingResponse:
    """A stream of ``render()``'s fragment, rendered again whenever ``changes()`` yields (and,
    once it has ended, until ``render`` says the fragment is final)."""
    return StreamingResponse(_on_changes(render, changes), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
