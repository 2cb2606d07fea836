"""An MCP server's tools as Baton tools: specs built from its listing, calls through its
connection.

The spec of a served tool is data the run records at admission like any other: the server's
``inputSchema`` becomes ``ToolSpec.parameters``, and the configuration decides the rest (effect,
approval, timeout, retry, cache). Workflow code never talks to a server: each call is an
``execute_tool`` activity whose callable is :func:`call_tool`, so MCP tools get the idempotency
key, the ledger, the read cache, heartbeats and the approval gate exactly as Python tools do.

A call carries its idempotency key in the request's ``_meta`` (``baton/idempotencyKey``), for
the server to deduplicate on as an HTTP API would on an ``Idempotency-Key`` header. What comes
back is sorted the way Baton sorts a Python tool's behaviour: ``isError`` results and protocol
errors about the call (unknown tool, invalid params) are tool errors the model reads; a
connection that broke, a server that is down or a request that timed out are transient, retried
by Temporal on the restarted server.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import anyio
import httpx2
import jsonschema
import mcp_types
from mcp.shared.exceptions import MCPError

from baton.activities.mcp.server import McpServer
from baton.activities.tools.retry import RetryableToolError
from baton.mcp_servers import WILDCARD, served_name
from baton.specs import ToolSpec
from baton.tools import ToolContext, ToolDefinition

__all__ = ["IDEMPOTENCY_KEY_META", "McpToolError", "call_tool", "definitions", "result_value"]

IDEMPOTENCY_KEY_META = "baton/idempotencyKey"
_TRANSIENT_CODES = {mcp_types.CONNECTION_CLOSED, mcp_types.REQUEST_TIMEOUT}


class McpToolError(Exception):
    """The server answered the call with an error (``isError``, or an error response about the
    call itself): the model reads it, as it reads an exception a Python tool raised."""


def _parameters(schema: dict[str, Any]) -> dict[str, Any]:
    """The server's input schema as a run's parameters: titles dropped (the model reads
    descriptions; titles only cost tokens), and unknown arguments refused unless the schema says
    otherwise, as for a Python tool: models invent keys, and a precise error lets them fix it."""
    params = copy.deepcopy(schema)
    params.pop("title", None)
    for prop in (params.get("properties") or {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    if params.get("type") == "object" and "additionalProperties" not in params:
        params["additionalProperties"] = False
    return params


def _check_schema(params: dict[str, Any]) -> None:
    """Refuse a schema the workflow could not check arguments against: an invalid one, or one
    that refers outside itself (workflow code never fetches anything)."""
    jsonschema.validators.validator_for(params).check_schema(params)
    stack: list[Any] = [params]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("$ref", "$dynamicRef") and not str(value).startswith("#"):
                    raise ValueError(f"its input schema refers to {value!r}: only references "
                                     "within the schema are supported")
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def definitions(server: McpServer) -> tuple[list[ToolDefinition], dict[str, str]]:
    """The served definitions of ``server``'s current listing, and for each configured tool it
    cannot serve, why (served name → reason)."""
    config, listed = server.config, {tool.name: tool for tool in server.tools}
    served: list[ToolDefinition] = []
    problems: dict[str, str] = {}
    for name, tool in listed.items():
        if not config.exposes(name):
            continue
        own = config.tools.get(name)
        public = served_name(server.name, name, own)
        try:
            params = _parameters(tool.input_schema)
            _check_schema(params)
            spec = ToolSpec(
                name=public, parameters=params,
                description=(own.description if own else None) or tool.description
                or tool.title or f"{name} (MCP server {server.name})",
                **config.spec_options(name))
        except (ValueError, jsonschema.SchemaError) as exc:
            problems[public] = f"MCP tool {name!r} of {server.name!r} cannot be served: {exc}"
            continue
        served.append(ToolDefinition(spec=spec, module=f"mcp:{server.name}",
                                     fn=_caller(server, name), arguments_model=None,
                                     context_param="ctx"))
    for name, options in config.tools.items():
        if name != WILDCARD and name not in listed:
            problems[served_name(server.name, name, options)] = (
                f"MCP server {server.name!r} lists no tool {name!r} "
                f"(it lists: {', '.join(sorted(listed)) or 'none'})")
    return served, problems


def _caller(server: McpServer, tool: str) -> Any:
    async def call(arguments: dict[str, Any], ctx: ToolContext) -> Any:
        return await call_tool(server, tool, arguments, ctx)

    call.__qualname__ = call.__name__ = f"mcp_{server.name}_{tool}"
    return call


async def call_tool(server: McpServer, tool: str, arguments: dict[str, Any],
                    ctx: ToolContext) -> Any:
    """Call ``tool`` on ``server``: its value, ``McpToolError`` for an error the model reads,
    ``RetryableToolError`` for a failure Temporal retries."""
    try:
        client = await server.client()
    except ConnectionError as exc:
        raise RetryableToolError(str(exc)) from None
    # An open map on the wire; the SDK types only its reserved keys.
    meta = cast(mcp_types.RequestParamsMeta, {
        IDEMPOTENCY_KEY_META: ctx.idempotency_key, "baton/runId": ctx.run_id,
        "baton/callId": ctx.call_id})

    async def report(progress: float, total: float | None, message: str | None) -> None:
        # The server's progress becomes the activity's heartbeat details (shown by Temporal).
        ctx.heartbeat({"progress": progress, "total": total, "message": message})

    try:
        result = await client.call_tool(tool, arguments, meta=meta, progress_callback=report)
    except MCPError as exc:
        if exc.code not in _TRANSIENT_CODES:
            raise McpToolError(f"{exc.message} (MCP error {exc.code})") from None
        server.connection_lost(client)
        raise RetryableToolError(f"MCP server {server.name!r}: {exc.message} during the call; "
                                 "it is retried on the restarted server") from exc
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream,
            httpx2.TransportError) as exc:
        server.connection_lost(client)
        raise RetryableToolError(f"MCP server {server.name!r}: connection lost during the call "
                                 f"({type(exc).__name__}); it is retried") from exc
    if result.is_error:
        raise McpToolError(_text(result.content) or "the tool reported an error")
    return result_value(result)


def result_value(result: mcp_types.CallToolResult) -> Any:
    """What the model and the run log get: the structured result when there is one, else the
    text of the content blocks (non-text blocks described, not inlined)."""
    if result.structured_content is not None:
        return result.structured_content
    return _text(result.content)


def _text(content: list[mcp_types.ContentBlock]) -> str:
    parts = []
    for block in content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
            kind = "image" if isinstance(block, mcp_types.ImageContent) else "audio"
            parts.append(f"[{kind} {block.mime_type}, {len(block.data) * 3 // 4} bytes, omitted]")
        elif isinstance(block, mcp_types.EmbeddedResource):
            resource = block.resource
            parts.append(resource.text if isinstance(resource, mcp_types.TextResourceContents)
                         else f"[resource {resource.uri}, binary, omitted]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource link {block.uri}: {block.name}]")
    return "\n".join(parts)
