"""One MCP server and the connection a worker keeps to it, restarted whenever it ends.

A supervising task owns the connection (the SDK's ``Client``: its task groups must be entered and
left by one task) and runs the same loop for the whole life of the worker: start the server (or
connect to it), list its tools, serve calls until the connection ends, then start it again after
a backoff (0.5 s doubling to 30 s, back to 0.5 s once a connection stayed up for a minute). A
server that cannot start is therefore retried in the background: its tools are served from the
first time it answers.

Calls come from ``execute_tool`` activities, on other tasks: they use the live connection, and
one that finds it gone says so (``connection_lost``) so the restart does not wait for the
transport to notice. While a server is down a call fails at once with a retryable error that
says why; Temporal retries it, by then on the restarted server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TextIO

import anyio
import mcp_types
import structlog
from mcp import Client
from mcp.shared.exceptions import MCPError

from baton.activities.mcp.transport import open_transport, watched
from baton.backoff import Backoff
from baton.mcp_servers import McpServerConfig

__all__ = ["McpServer", "State"]

log = structlog.get_logger("baton.mcp")

State = Literal["stopped", "starting", "up", "down"]
_CLIENT = mcp_types.Implementation(name="baton", version="1")
_PAGES = 100  # a paginated tools/list that never ends cannot hang a start


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _cancelling() -> bool:
    """Whether this task itself is being cancelled (not only a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _open_log(path: Path) -> TextIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("a", encoding="utf-8", errors="replace", buffering=1)


class McpServer:
    """``state``: ``starting`` (connecting and listing), ``up`` (``tools`` is its listing),
    ``down`` (``error`` says why; the next start is due at ``retry_at``) or ``stopped``."""

    def __init__(self, name: str, config: McpServerConfig, *, log_dir: Path,
                 on_up: Callable[[McpServer], None] = lambda _: None) -> None:
        self.name, self.config = name, config
        self.log_path = log_dir / f"mcp-{name}.log"
        self.state: State = "stopped"
        self.error: str | None = None
        self.tools: list[mcp_types.Tool] = []
        self.starts = 0  # connections that came up: more than one means it was restarted
        self.retry_at: float | None = None  # time.time() of the next start while down
        self.crashed = False  # down after having been up: a restart, worth waiting for
        self._on_up = on_up
        self._client: Client | None = None
        self._closed: anyio.Event | None = None  # set to end the current connection
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._set("starting")
            self._task = asyncio.create_task(self._supervise(), name=f"mcp-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._set("stopped")

    async def settle(self, within_s: float) -> None:
        """Wait (at most ``within_s``) until a start in progress, or a restart due within that
        time (after a connection that was up ended), has come up or failed."""
        deadline = time.monotonic() + within_s
        while (left := deadline - time.monotonic()) > 0 and (self.state == "starting" or (
                self.state == "down" and self.crashed and self.retry_at is not None
                and self.retry_at - time.time() < left)):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def client(self) -> Client:
        """The live connection, waiting for a start in progress; ``ConnectionError`` says why
        there is none (the caller's retry will find the restarted server)."""
        await self.settle(self.config.start_timeout_s)
        if self.state == "up" and self._client is not None:
            return self._client
        raise ConnectionError(self.unavailable_reason())

    def connection_lost(self, client: Client) -> None:
        """A call found ``client``'s connection broken: end it now, so the server restarts."""
        if client is self._client and self._closed is not None:
            self._closed.set()

    def unavailable_reason(self) -> str:
        what = f"MCP server {self.name!r} ({self.config.describe()})"
        if self.state == "starting":
            return f"{what} is still starting"
        if self.state == "stopped":
            return f"{what} is not running: the worker is stopping"
        due = (f"; next start in {max(self.retry_at - time.time(), 0):.0f} s"
               if self.retry_at else "")
        return f"{what} is not running: {self.error or 'its connection just ended'}{due}"

    def _set(self, state: State, error: str | None = None) -> None:
        self.state, self.error = state, error
        self._changed.set()
        self._changed = asyncio.Event()

    # -- the supervising task --------------------------------------------------------------------
    async def _supervise(self) -> None:
        backoff = Backoff()
        while True:
            self.retry_at = None
            self._set("starting")
            began = time.monotonic()
            reason, self.crashed = await self._connection()
            delay = backoff.next_delay(up_for_s=time.monotonic() - began)
            self.retry_at = time.time() + delay
            self._set("down", reason)
            log.warning(f"MCP server {self.name} is down: {reason}; starting it again in "
                        f"{delay:g} s", server=self.name, retry_in_s=delay)
            await asyncio.sleep(delay)

    async def _connection(self) -> tuple[str, bool]:
        """Run one connection to its end: why it ended, and whether it had come up."""
        up, errlog = asyncio.Event(), _open_log(self.log_path)
        with errlog:
            errlog.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting "
                         f"{self.config.describe()}\n")
            errlog.flush()
            since = self.log_path.stat().st_size  # this start's lines: where its stderr begins
            session = asyncio.ensure_future(self._session(errlog, up))
            started = asyncio.ensure_future(up.wait())
            try:
                await asyncio.wait({session, started}, timeout=self.config.start_timeout_s,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                started.cancel()
                if not up.is_set() and not session.done():
                    session.cancel()  # stuck starting: stop it (and its process) before retrying
            try:
                await session
                why = "the server closed the connection"
            except asyncio.CancelledError:
                if _cancelling():
                    raise  # the worker is stopping
                why = f"no answer within {self.config.start_timeout_s:g} s"
            except Exception as exc:
                why = self._describe(exc)
        if up.is_set():  # what it wrote while it worked is in its log, not in the reason
            return why, True
        return f"{why} before it listed its tools{self._stderr_tail(since)}", False

    async def _session(self, errlog: TextIO, up: asyncio.Event) -> None:
        closed = anyio.Event()
        transport = watched(open_transport(self.config, errlog), closed)
        async with Client(transport, cache=None, client_info=_CLIENT) as client:
            tools: list[mcp_types.Tool] = []
            cursor: str | None = None
            for _ in range(_PAGES):
                page = await client.list_tools(cursor=cursor)
                tools += page.tools
                if (cursor := page.next_cursor) is None:
                    break
            self.tools, self._client, self._closed = tools, client, closed
            self.starts += 1
            self._set("up")
            log.info(f"MCP server {self.name} is up with {len(tools)} tools", server=self.name,
                     tools=[t.name for t in tools], starts=self.starts)
            self._on_up(self)
            up.set()
            try:
                await closed.wait()
            finally:
                self._client = self._closed = None

    @staticmethod
    def _describe(exc: BaseException) -> str:
        parts = []
        for leaf in _leaves(exc):
            if isinstance(leaf, MCPError):
                parts.append("the server closed the connection"
                             if leaf.code == mcp_types.CONNECTION_CLOSED else
                             f"MCP error {leaf.code}: {leaf.message}")
            else:
                parts.append(f"{type(leaf).__name__}: {leaf}" if str(leaf)
                             else type(leaf).__name__)
        return "; ".join(dict.fromkeys(parts))

    def _stderr_tail(self, since: int, lines: int = 5) -> str:
        if self.config.transport != "stdio":
            return ""
        with contextlib.suppress(OSError), self.log_path.open("rb") as handle:
            handle.seek(since)
            text = handle.read().decode("utf-8", "replace")
            tail = [line for line in text.splitlines() if line.strip()][-lines:]
            if tail:
                return f" (its stderr ends: {' | '.join(tail)}; see {self.log_path})"
        return ""
