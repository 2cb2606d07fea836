"""``baton mcp list``: what the MCP servers of this configuration offer, and what a worker serves.

The command starts (or connects to) every configured server exactly as a worker does, lists its
tools and prints, per tool, the name runs use and its effect, approval and timeout as the
worker's configuration sets them, next to the server's own hints (``readOnlyHint``…), which are
shown and never trusted. A server that does not start is printed with the reason, and the exit
code is then 1. Nothing is started that outlives the command.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from baton.client.cli._common import Home, console, print_all, run_async, settings_from
from baton.mcp_servers import McpServerConfig

__all__ = ["mcp"]

mcp = typer.Typer(name="mcp", no_args_is_help=True,
                  help="The MCP servers of this worker configuration and their tools.")


def _hints(tool: Any) -> str:
    notes = tool.annotations
    flags = [("read-only", notes.read_only_hint), ("destructive", notes.destructive_hint),
             ("idempotent", notes.idempotent_hint)] if notes is not None else []
    return ", ".join(name for name, value in flags if value)


async def survey(servers: dict[str, McpServerConfig], home: Path) -> list[dict[str, Any]]:
    """Each server: where it is, whether it came up (or why not), each listed tool with what
    this configuration serves it as, and configured tools it cannot serve."""
    from baton.activities.mcp import McpPool
    from baton.tools import ToolRegistry

    pool = McpPool(servers, ToolRegistry(), log_dir=home / "logs")
    report = []
    async with pool.running():
        await asyncio.gather(*(s.settle(s.config.start_timeout_s) for s in pool.servers.values()))
        for name, server in pool.servers.items():
            served = pool.served(server)
            tools = []
            for tool in server.tools:
                spec = served.get(tool.name)
                tools.append({
                    "tool": tool.name, "served_as": spec.name if spec else None,
                    "effect": spec.effect if spec else None,
                    "approval": spec.approval.mode if spec else None,
                    "timeout_s": spec.timeout_s if spec else None, "server_hints": _hints(tool),
                    "description": (tool.description or "").strip().split("\n")[0]})
            report.append({
                "server": name, "where": server.config.describe(), "state": server.state,
                "error": server.error, "tools": tools,
                "problems": [p for n, p in pool.problems.items() if pool.owner(n) is server]})
    return report


def _table(entry: dict[str, Any]) -> Table:
    table = Table(title=f"{entry['server']}: {entry['where']}", title_justify="left")
    for column in ("tool", "served as", "effect", "approval", "timeout", "server says",
                   "description"):
        table.add_column(column, overflow="fold")
    for t in entry["tools"]:
        served = t["served_as"] is not None
        table.add_row(t["tool"], Text(t["served_as"] or "not exposed",
                                      style="" if served else "dim"),
                      t["effect"] or "", t["approval"] or "",
                      f"{t['timeout_s']:g} s" if served else "", t["server_hints"],
                      t["description"])
    return table


@mcp.command("list")
def list_servers(
        examples: Annotated[bool, typer.Option(
            "--examples", help="also the example servers `baton up` serves")] = False,
        json_: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
        home: Home = None) -> None:
    """Start every configured MCP server, list its tools and what a worker serves them as."""
    from baton.telemetry import configure_logging

    configure_logging("console", "error")  # what the servers did is the report, not log lines
    settings = settings_from(home=home)
    servers = dict(settings.mcp_servers)
    if examples:
        from baton.examples import MCP_SERVERS

        servers = {**MCP_SERVERS, **servers}
    if not servers:
        console.print("no MCP servers configured ([mcp_servers.NAME] in baton.toml, or "
                      "BATON_MCP_SERVERS); --examples shows the example ones")
        return
    report = run_async(survey(servers, settings.home), hard_exit=False)
    if json_:
        console.print_json(json.dumps(report))
    else:
        for entry in report:
            if entry["state"] == "up":
                print_all(_table(entry))
            else:
                print_all(Text(f"{entry['server']}: {entry['where']}: {entry['error']}",
                               style="red"))
            for problem in entry["problems"]:
                print_all(Text(f"  {problem}", style="yellow"))
    if any(entry["state"] != "up" for entry in report):
        raise typer.Exit(1)
