"""Child processes of the embedded stack: spawn with a log file, stop politely, read log tails.

Kept apart from :mod:`baton.client.stack` so the stack module reads as "what runs, in which
order" and this one as "how one process is handled".
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton.errors import StackError

__all__ = ["ManagedProcess", "check_port_free", "free_port", "tail"]

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux only: if the parent (a `baton up`, a test run) is SIGKILLed it cannot clean up, so ask
    # the kernel to send SIGTERM to the child. Otherwise an orphaned dev server keeps the port.
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free now and stays likely free: it is picked *below* the OS's ephemeral
    range, because a port the OS handed out for ``bind(0)`` can be handed out again, to the dev
    server's internal services or any outgoing connection, before our process binds it."""
    low, _ = _ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(10_000, max(low, 10_001))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # fall back to the OS
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int, *, what: str, hint: str) -> None:
    """Raise ``StackError`` naming the port and how to change it when something listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Go's listeners set SO_REUSEADDR, so a port whose old connections sit in TIME_WAIT is
        # usable by the dev server; mirror that so the check does not refuse a usable port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = "address in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise StackError(
                f"port {port} is in use ({what} cannot listen on {host}:{port}: {reason}; "
                f"is another `baton up` running?); set {hint}"
            ) from exc


def tail(path: Path, *, offset: int = 0, lines: int = 30) -> str:
    """The last ``lines`` lines written to ``path`` after byte ``offset`` (this run's output)."""
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """One child process whose output goes to ``log``; ``offset`` marks where this run began.

    ``start`` may be called again after the process exited (the stack's supervisor restarts it
    that way): same command line, same log file, a new banner.
    """

    name: str
    argv: Sequence[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    stop_timeout_s: float = 10.0
    process: asyncio.subprocess.Process | None = None
    offset: int = 0
    started_at: float = 0.0  # wall clock: compared with the times the server reports
    started_monotonic: float = 0.0  # how long this run has been up

    async def start(self, note: str = "") -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as handle:
            # A banner per start: logs append across restarts, the banner shows where each began.
            why = f" ({note})" if note else ""
            handle.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')}{why} {' '.join(self.argv)}\n"
                         .encode())
            self.offset = handle.tell()
        out = self.log.open("ab")
        try:
            # asyncio's subprocess, not Popen: ``wait`` is then an awaitable the supervisor can
            # sit on, instead of a thread or a polling loop per child.
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                # Own session: Ctrl-C in the terminal reaches only the parent, which then stops
                # the children in order (worker before the server it talks to).
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise StackError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc
        finally:
            out.close()
        self.started_at, self.started_monotonic = time.time(), time.monotonic()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exited(self) -> int | None:
        """The exit code when the process has ended, else None (negative: killed by a signal)."""
        return self.process.returncode if self.process else None

    async def wait(self) -> int:
        """Until the process ends; its exit code."""
        if self.process is None:
            raise StackError(f"{self.name} was never started")
        return await self.process.wait()

    def tail(self, lines: int = 30) -> str:
        return tail(self.log, offset=self.offset, lines=lines)

    def failure(self, problem: str) -> StackError:
        """A StackError that says what failed and shows the end of this run's log."""
        text = self.tail()
        shown = f"\n--- last lines of {self.log} ---\n{text}" if text else f" (log: {self.log})"
        return StackError(f"{self.name}: {problem}{shown}")

    async def stop(self) -> None:
        """SIGTERM, wait ``stop_timeout_s``, then SIGKILL. Safe to call twice."""
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.stop_timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
