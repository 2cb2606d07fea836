"""Server-sent events: live pages without a JavaScript framework.

A live part of a page is a server-rendered fragment; its stream sends the fragment again
(``event: update``) whenever it renders differently, and ``event: end`` when nothing will change
any more (a finished run), so the browser stops reconnecting. ``console.js`` swaps the fragment
in. A comment line every few seconds keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.responses import StreamingResponse

__all__ = ["event", "live"]

KEEPALIVE_S = 15.0
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
