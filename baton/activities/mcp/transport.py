"""Opening one MCP server's transport: a stdio subprocess or a streamable-HTTP endpoint.

The configuration's ``${VAR}`` references are resolved here, from the worker's environment, at
every (re)connect: a rotated token is picked up by the next connection, and nothing secret is
kept anywhere else. A stdio server's stderr goes to its own log file (``HOME/logs/mcp-NAME.log``),
whose last lines explain a server that would not start.

``watched`` wraps either transport so the worker learns that a connection ended the moment the
server's side closes (a stdio server that exited, a stream that broke), not only when the next
call fails on it: the server is restarted before anyone needs it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TextIO

import anyio
import httpx2
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from baton.mcp_servers import McpServerConfig, expand

__all__ = ["open_transport", "watched"]

# Connect/write as the SDK's own default; reads wait long: a tool's response may take its time
# (the activity's start-to-close timeout is what bounds a call).
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=3600.0)

Streams = tuple[Any, Any]


def _expanded(values: Mapping[str, str], environ: Mapping[str, str], what: str) -> dict[str, str]:
    try:
        return {key: expand(value, environ) for key, value in values.items()}
    except KeyError as exc:
        raise ValueError(f"{what}: {exc.args[0]}") from None


@asynccontextmanager
async def _http(config: McpServerConfig, environ: Mapping[str, str]) -> AsyncIterator[Streams]:
    assert config.url is not None
    headers = _expanded(config.headers, environ, "headers")
    async with httpx2.AsyncClient(headers=headers, timeout=_HTTP_TIMEOUT) as http, \
            streamable_http_client(config.url, http_client=http) as streams:
        yield streams


def open_transport(config: McpServerConfig, errlog: TextIO,
                   environ: Mapping[str, str] | None = None
                   ) -> AbstractAsyncContextManager[Streams]:
    """The transport of ``config``: enter it to start the server (stdio) or reach it (HTTP)."""
    environ = os.environ if environ is None else environ
    if config.url is not None:
        return _http(config, environ)
    assert config.command is not None
    params = StdioServerParameters(
        command=config.command, args=list(config.args), cwd=config.cwd,
        env=_expanded(config.env, environ, "env"))
    return stdio_client(params, errlog=errlog)


@asynccontextmanager
async def watched(transport: AbstractAsyncContextManager[Streams],
                  closed: anyio.Event) -> AsyncIterator[Streams]:
    """``transport``, with ``closed`` set once the server's side of it has ended."""
    async with transport as (read, write):
        relay_in, relay_out = anyio.create_memory_object_stream[Any](0)

        async def relay() -> None:
            try:
                async with relay_in:
                    async for item in read:
                        await relay_in.send(item)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
                pass  # the session went away first: it is closing the connection itself
            finally:
                closed.set()

        async with anyio.create_task_group() as group:
            group.start_soon(relay)
            try:
                yield relay_out, write
            finally:
                group.cancel_scope.cancel()
