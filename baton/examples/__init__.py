"""Example teams (``*.yaml``) and the offline tools they use. Runnable from an installed wheel.

What the embedded stack (``baton up``, ``baton demo``) serves in addition to its configuration,
so every example runs there without a ``baton.toml``: the example tools (``TOOL_MODULES``), the
example MCP server (``MCP_SERVERS``) and the approver groups their approval policies name
(``APPROVER_GROUPS``).
"""

import sys

from baton.mcp_servers import McpServerConfig

__all__ = ["APPROVER_GROUPS", "MCP_SERVERS", "TOOL_MODULES"]

APPROVER_GROUPS = {
    "support-leads": ["alice", "demo"],
    "ops-managers": ["morgan"],
}

TOOL_MODULES = (
    "baton.examples.support_tools",
    "baton.examples.desk_tools",
    "baton.examples.incident_tools",
    "baton.examples.code_tools",
    "baton.examples.research_tools",
)

# The official MCP time server (PyPI ``mcp-server-time``, in Baton's ``examples`` extra), started
# by the worker over stdio with its own Python: world_clock.yaml uses it. Its tools only read
# the clock, so the operator (this configuration) says so: no approval, no ledger.
MCP_SERVERS = {
    "time": McpServerConfig(
        command=sys.executable, args=["-m", "mcp_server_time", "--local-timezone", "UTC"],
        tools=["get_current_time", "convert_time"], effect="read", approval="never",
        timeout_s=15.0),
}
