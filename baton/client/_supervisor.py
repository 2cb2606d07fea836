"""Keep the embedded stack's children running: a child that exits on its own is started again.

A worker SIGKILLed by the OOM killer, a model server that crashed, a dev server that died: each
is restarted with its own command line (the dev server on the same SQLite file, so nothing is
lost) after an exponential backoff (:class:`baton.backoff.Backoff`: 0.5 s doubling to 30 s,
back to 0.5 s once a run stayed up a minute). Every exit and every restart is reported, so
``baton up`` can say what died, how, and when it comes back.

A restart cannot fix a child that keeps dying (a broken configuration, a port someone else
took): after ``max_exits`` exits within ``window_s`` the supervisor gives up on it and
:meth:`Supervisor.wait` raises, so the stack stops and ``baton up`` exits non-zero.

Children that merely lose a peer are not restarted: a worker rides out a dev server restart by
reconnecting itself (``baton.worker.run_worker``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from baton.backoff import Backoff
from baton.client._procs import ManagedProcess
from baton.errors import StackError

__all__ = [
    "ChildExited", "ChildRestarted", "Supervisor", "SupervisorEvent", "describe_exit", "log_event",
]

_log = logging.getLogger("baton.stack")


@dataclass(frozen=True)
class ChildExited:
    """A child exited on its own; ``restart_in_s`` is None when the supervisor gives up."""

    name: str
    pid: int | None
    code: int
    log: Path
    tail: str
    restart_in_s: float | None

    def __str__(self) -> str:
        what = f"{self.name} (pid {self.pid}) exited: {describe_exit(self.code)}"
        if self.restart_in_s is None:
            return f"{what}; it keeps exiting, giving up"
        return f"{what}; restarting in {self.restart_in_s:g} s"


@dataclass(frozen=True)
class ChildRestarted:
    """A child was started again (``restarts`` times so far)."""

    name: str
    pid: int | None
    restarts: int

    def __str__(self) -> str:
        return f"{self.name} restarted (pid {self.pid}, restart {self.restarts})"


SupervisorEvent = ChildExited | ChildRestarted


def describe_exit(code: int) -> str:
    """``exit code 1`` or ``killed by SIGKILL`` (asyncio reports a signal as ``-signum``)."""
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


def log_event(event: SupervisorEvent) -> None:
    """A report for when nobody prints them (``baton up`` does): a warning on ``baton.stack``."""
    _log.warning("%s", event)


class Supervisor:
    """Watch children (:meth:`watch`) and restart each one that exits, until :meth:`stop`."""

    def __init__(self, report: Callable[[SupervisorEvent], None], *, max_exits: int = 5,
                 window_s: float = 60.0, backoff: Callable[[], Backoff] = Backoff) -> None:
        self._report = report
        self._max_exits, self._window_s = max_exits, window_s
        self._backoff = backoff
        self._tasks: list[asyncio.Task[None]] = []
        self._gave_up = asyncio.Event()
        self._failure: Exception | None = None

    def watch(self, proc: ManagedProcess) -> None:
        """Restart ``proc`` whenever it exits, from now until :meth:`stop`."""
        self._tasks.append(asyncio.create_task(self._guard(proc), name=f"supervise {proc.name}"))

    async def wait(self) -> None:
        """Return never; raise (a ``StackError`` saying which child and why) on giving up."""
        await self._gave_up.wait()
        raise self._failure or StackError("the supervisor gave up")

    async def stop(self) -> None:
        """Stop watching. Call it before stopping the children, or they would come back."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._gave_up.clear()  # the children are started afresh, if ever
        self._failure = None

    async def _guard(self, proc: ManagedProcess) -> None:
        try:
            await self._keep_running(proc)
        except Exception as exc:  # a restart that cannot spawn, or a bug: never silent
            self._give_up(exc)

    async def _keep_running(self, proc: ManagedProcess) -> None:
        backoff = self._backoff()
        exits: deque[float] = deque()
        restarts = 0
        while True:
            code = await proc.wait()
            now = time.monotonic()
            exits.append(now)
            while now - exits[0] > self._window_s:
                exits.popleft()
            looping = len(exits) >= self._max_exits
            delay = None if looping else backoff.next_delay(
                up_for_s=now - proc.started_monotonic)
            self._report(ChildExited(name=proc.name, pid=proc.pid, code=code, log=proc.log,
                                     tail=proc.tail(lines=10), restart_in_s=delay))
            if delay is None:
                self._give_up(StackError(
                    f"{proc.name} exited {len(exits)} times within {self._window_s:g} s (last: "
                    f"{describe_exit(code)}); giving up, see {proc.log}"))
                return
            await asyncio.sleep(delay)
            await proc.start(note=f"restart after {describe_exit(code)}")
            restarts += 1
            self._report(ChildRestarted(name=proc.name, pid=proc.pid, restarts=restarts))

    def _give_up(self, failure: Exception) -> None:
        if self._failure is None:  # the first child given up on is the one to report
            self._failure = failure
        self._gave_up.set()
