"""Heartbeats for one running tool, and the lease renewal that rides on them.

The ticks come from the event loop, so they prove the *worker* is alive; a tool stuck in a
thread is caught by the start-to-close timeout, not by heartbeats. The same loop renews the
attempt's ledger claim (:class:`baton.activities.tools.lease.Lease`): a claim lives exactly as
long as the process that holds it keeps ticking, so a crashed worker's claim expires on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import Any

from temporalio import activity

from baton.activities.tools.lease import Lease

__all__ = ["IDLE_HEARTBEAT_S", "Heartbeat"]

# Without a heartbeat timeout nothing waits on heartbeats, but they still carry cancellation.
IDLE_HEARTBEAT_S = 10.0


class Heartbeat:
    """Automatic ticks plus the tool's own ``ctx.heartbeat``.

    ``ctx.heartbeat`` may be called from the tool's thread: the SDK's heartbeat must run on the
    loop, so it is handed over with ``call_soon_threadsafe`` inside the activity's context.
    """

    def __init__(self, lease: Lease | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        self._lease = lease
        self._stopped = asyncio.Event()
        self.details: tuple[Any, ...] = ()

    def __call__(self, *details: Any) -> None:
        self.details = details
        # RuntimeError: the loop is gone, so the activity already ended and nobody listens.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._send, context=self._context)

    def _send(self) -> None:
        activity.heartbeat(*self.details)

    def interval_s(self, heartbeat_s: float | None) -> float:
        """A third of the heartbeat timeout (room for two late beats before the server gives
        up), and at least three renewals per lease."""
        interval = heartbeat_s / 3 if heartbeat_s else IDLE_HEARTBEAT_S
        return min(interval, self._lease.renew_every_s) if self._lease else interval

    async def tick(self, interval_s: float) -> None:
        """Beat (and renew) every ``interval_s`` until ``stop()``. The first beat comes one
        interval in: the claim was just taken, and a tool that ends sooner (most do) costs the
        server no heartbeat at all."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), interval_s)
            if self._stopped.is_set():
                return
            self._send()  # resend the latest details so ticks never erase the tool's progress
            if self._lease is not None:
                await self._lease.renew()

    def stop(self) -> None:
        """End ``tick`` after the renewal in flight, if any. Not a task cancel: a cancelled
        renewal may still commit in the store after the claim was released, and extend it."""
        self._stopped.set()
