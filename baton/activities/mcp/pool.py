"""Every MCP server of a worker's configuration, and the tools they add to its registry.

The pool starts one :class:`~baton.activities.mcp.server.McpServer` per configured server when
the worker starts, without waiting for them: a worker whose runs use no MCP tool is not held up
by a slow server. Each time a server comes up (and after each restart) its listing is turned
into tool definitions in the worker's registry, which ``resolve_catalog`` and ``execute_tool``
read like any other tool.

Admission waits for the servers a run needs that are still starting (``settle``), then a tool
of a server that is down is refused with the reason (``why_unavailable``): "MCP server 'git'
is not running: ...", never a run that hangs on its first call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import structlog

from baton.activities.mcp.server import McpServer
from baton.activities.mcp.tools import definitions
from baton.errors import ToolDefinitionError
from baton.mcp_servers import SEPARATOR, McpServerConfig, served_name
from baton.specs import ToolSpec
from baton.tools import ToolRegistry

__all__ = ["McpPool"]

log = structlog.get_logger("baton.mcp")


class McpPool:
    def __init__(self, servers: Mapping[str, McpServerConfig], registry: ToolRegistry, *,
                 log_dir: Path) -> None:
        self.registry = registry
        self.servers = {name: McpServer(name, config, log_dir=log_dir, on_up=self._serve)
                        for name, config in servers.items()}
        # Served names configured explicitly (``name = ...``): which server they belong to.
        self._renamed = {options.name: name for name, config in servers.items()
                         for options in config.tools.values() if options.name}
        self.problems: dict[str, str] = {}  # served name → why this worker cannot serve it

    @asynccontextmanager
    async def running(self) -> AsyncIterator[McpPool]:
        """The servers started in the background for the duration; stopped (their processes
        ended, their connections closed) on exit."""
        for server in self.servers.values():
            server.start()
        try:
            yield self
        finally:
            await asyncio.gather(*(server.stop() for server in self.servers.values()))

    def owner(self, name: str) -> McpServer | None:
        """The server a served name belongs to (``SERVER__TOOL`` or a configured name)."""
        server = self._renamed.get(name)
        if server is None and SEPARATOR in name:
            server = name.split(SEPARATOR, 1)[0]
        return self.servers.get(server) if server else None

    async def settle(self, names: Iterable[str], within_s: float) -> None:
        """Wait (at most ``within_s``) for the servers of ``names`` that are still starting."""
        owners = {id(s): s for s in map(self.owner, names) if s is not None}
        if owners:
            await asyncio.gather(*(s.settle(within_s) for s in owners.values()))

    def why_unavailable(self, name: str) -> str | None:
        """Why a tool of one of this worker's MCP servers cannot be called right now (its server
        is down, or does not list it); None for any other name."""
        server = self.owner(name)
        if server is None:
            return None
        if server.state != "up":
            return server.unavailable_reason()
        return None if self.registry.get(name) is not None else self.problems.get(name)

    def served(self, server: McpServer) -> dict[str, ToolSpec]:
        """Each tool of ``server``'s current listing that this worker serves: its spec."""
        found = {}
        for tool in server.tools:
            name = served_name(server.name, tool.name, server.config.tools.get(tool.name))
            definition = self.registry.get(name)
            if server.config.exposes(tool.name) and definition is not None and (
                    definition.module == f"mcp:{server.name}"):
                found[tool.name] = definition.spec
        return found

    def _serve(self, server: McpServer) -> None:
        """Register what ``server`` lists now (called each time it comes up)."""
        served, problems = definitions(server)
        for definition in served:
            try:
                self.registry.register(definition)
            except ToolDefinitionError as exc:
                problems[definition.spec.name] = str(exc)
            else:
                self.problems.pop(definition.spec.name, None)
        self.problems.update(problems)
        for name, problem in problems.items():
            log.warning(f"MCP tool {name} is not served: {problem}", server=server.name)
