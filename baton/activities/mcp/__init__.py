"""MCP servers as durable tools: a worker's pool of server connections (:mod:`.pool`), each kept
up by its own supervising task (:mod:`.server`), and the tools they serve (:mod:`.tools`).

Calls go through the ordinary ``execute_tool`` activity (:mod:`baton.activities.tools`): MCP
tools are definitions in the worker's tool registry whose callable talks to the server.
"""

from baton.activities.mcp.pool import McpPool
from baton.activities.mcp.server import McpServer
from baton.activities.mcp.tools import IDEMPOTENCY_KEY_META, McpToolError

__all__ = ["IDEMPOTENCY_KEY_META", "McpPool", "McpServer", "McpToolError"]
