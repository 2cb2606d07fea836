"""One attempt's claim on a write call, and the claims that outlive their attempt.

``Lease`` is what an attempt holds after ``LedgerStore.claim`` said ``Claimed``: it renews the
lease (from the heartbeat loop), records the outcome, or releases the claim when the tool did
not act.

``Orphans`` covers the case a lease exists for. A synchronous tool runs in a thread, and nothing
can stop a thread: when the attempt is cancelled (its start-to-close timeout, the worker shutting
down) the activity returns but the tool goes on. Its claim must go on too, or the retry Temporal
schedules would find the lease expired and run the tool a second time, concurrently. So the
orphaned run keeps renewing until the thread ends and then records its outcome, which the retry
(told ``Busy`` meanwhile) returns. ``drain()`` lets the worker wait for them before it closes the
ledger; a worker that is killed instead simply stops renewing, and the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from temporalio import activity

from baton.activities.tools.store import LedgerStore
from baton.calls import ToolOutcome

__all__ = ["Lease", "Orphans"]


class Lease:
    """A claim held by ``owner`` on (``tenant``, ``key``) for ``lease_s`` at a time."""

    def __init__(self, store: LedgerStore, *, tenant: str, key: str, owner: str, tool: str,
                 lease_s: float) -> None:
        self.store, self.tenant, self.key, self.owner = store, tenant, key, owner
        self.tool, self.lease_s = tool, lease_s
        self.lost = False
        self.adopted = False  # handed to ``Orphans``: the attempt ended, the tool did not

    @property
    def renew_every_s(self) -> float:
        return self.lease_s / 3

    async def renew(self) -> None:
        try:
            held = await self.store.renew(self.tenant, self.key, self.owner, self.lease_s)
        except Exception as exc:  # the store is unreachable: try again on the next tick
            activity.logger.warning("tool %s: lease renewal failed: %s", self.tool, exc)
            return
        if not held and not self.lost:
            self.lost = True
            # Only a lease that expired (renewals failed for a whole lease) can be taken over.
            activity.logger.warning(
                "tool %s: claim %s lost while the tool runs; another attempt may run it too",
                self.tool, self.key[:12])

    async def keep_alive(self, stopped: asyncio.Event) -> None:
        """Renew until ``stopped`` is set; the renewal in flight then completes (a cancelled one
        could still commit after a release and extend the claim)."""
        while not stopped.is_set():
            await self.renew()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), self.renew_every_s)

    async def record(self, outcome: ToolOutcome) -> ToolOutcome:
        return await self.store.record(self.tenant, self.key, self.owner, outcome)

    async def release(self) -> None:
        try:
            await self.store.release(self.tenant, self.key, self.owner)
        except Exception as exc:  # the lease then expires on its own: slower, still correct
            activity.logger.warning("tool %s: releasing claim failed: %s", self.tool, exc)


class Orphans:
    """Background work that must finish even though its activity attempt has ended."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # a strong reference: the loop keeps only weak ones
        task.add_done_callback(self._tasks.discard)

    def adopt(self, running: asyncio.Future[Any], lease: Lease,
              settle: Callable[[Any, BaseException | None], ToolOutcome]) -> None:
        """Keep ``lease`` alive until ``running`` (the tool's thread) ends, then record what
        ``settle`` makes of its result; a ``settle`` that raises (a retryable failure: the tool
        did not act) releases the claim instead."""
        self.spawn(self._finish(running, lease, settle))

    @staticmethod
    async def _finish(running: asyncio.Future[Any], lease: Lease,
                      settle: Callable[[Any, BaseException | None], ToolOutcome]) -> None:
        stopped = asyncio.Event()
        keeper = asyncio.create_task(lease.keep_alive(stopped))
        result, error = None, None
        try:
            result = await running
        except Exception as exc:
            error = exc
        finally:
            stopped.set()
            await keeper  # before releasing or recording: see keep_alive
        try:
            outcome = settle(result, error)
        except Exception:
            await lease.release()
            return
        await lease.record(outcome)
        activity.logger.info("tool %s: outcome of a cancelled attempt recorded", lease.tool)

    async def drain(self) -> None:
        """Wait for every orphaned run (the worker calls this before closing the ledger)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
