"""MCP servers in a worker's configuration: how to reach each one and how its tools are served.

``[mcp_servers.NAME]`` in ``baton.toml`` (or ``BATON_MCP_SERVERS`` as JSON) is worker
configuration, like ``tool_modules``: a run names the tools (``NAME__tool``) and never says where
a server is, how it starts or which secrets it gets. A server is either a command the worker
starts and talks to over stdio, or a streamable-HTTP URL. Values of ``env`` and ``headers`` may
name the worker's environment variables as ``${VAR}``; they are read when the worker connects, so
secrets stay in its environment and never enter a run. See docs/configuration.md.

What Baton does with a server's tools is the operator's word, not the server's: a tool is a
``write`` tool behind ``approval = "always"`` unless the configuration says otherwise. The
server's own annotations (``readOnlyHint``…) come from the server, so they are shown by
``baton mcp list`` and never relax anything.

Pure: no I/O (``expand`` takes the environment as an argument).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from baton.specs import ApprovalPolicy, RetrySpec

__all__ = [
    "SEPARATOR",
    "WILDCARD",
    "McpServerConfig",
    "McpToolOptions",
    "check_server_name",
    "expand",
    "served_name",
]

SEPARATOR = "__"  # served name = server + SEPARATOR + tool: valid for every provider's rules
WILDCARD = "*"  # ``tools = ["*"]``: every tool the server lists
_SERVER = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _policy(value: Any) -> Any:
    return ApprovalPolicy(mode=value) if isinstance(value, str) else value


class McpToolOptions(BaseModel):
    """One tool's overrides of its server's defaults (``[mcp_servers.NAME.tools.TOOL]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None  # the name runs use; default: SERVER__TOOL
    description: str | None = None  # what the model reads; default: the server's description
    effect: Literal["read", "write"] | None = None
    approval: ApprovalPolicy | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    heartbeat_s: float | None = Field(default=None, gt=0)
    retry: RetrySpec | None = None
    cacheable: bool | None = None
    cache_ttl_s: float | None = Field(default=None, gt=0)
    expiry_may_approve: bool | None = None

    _v_policy = field_validator("approval", mode="before")(_policy)


_PER_TOOL = ("effect", "approval", "timeout_s", "heartbeat_s", "retry", "cacheable",
             "cache_ttl_s", "expiry_may_approve")


class McpServerConfig(BaseModel):
    """One MCP server: ``command`` (stdio) or ``url`` (streamable HTTP), the tools to expose and
    the defaults of their specs. Default: ``write`` tools behind ``approval = "always"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)  # added to a minimal inherited environment
    cwd: Path | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # Which listed tools are served: a list of names (or "*"), or a table of per-tool options.
    tools: dict[str, McpToolOptions]
    effect: Literal["read", "write"] = "write"
    approval: ApprovalPolicy = ApprovalPolicy(mode="always")
    timeout_s: float = Field(default=30.0, gt=0)
    heartbeat_s: float | None = Field(default=None, gt=0)
    retry: RetrySpec = RetrySpec()
    cacheable: bool = False
    cache_ttl_s: float = Field(default=300.0, gt=0)
    expiry_may_approve: bool = False
    start_timeout_s: float = Field(default=30.0, gt=0)  # start (or connect) and list the tools

    _v_policy = field_validator("approval", mode="before")(_policy)

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_list(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {str(name): {} for name in value}
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server needs either command (stdio) or url (streamable "
                             "HTTP), not both")
        if self.url is None and self.headers:
            raise ValueError("headers are for url servers; a command server gets env")
        if self.command is None and (self.args or self.env or self.cwd):
            raise ValueError("args, env and cwd are for command servers; a url server gets "
                             "headers")
        if not self.tools:
            raise ValueError('list the tools to serve (tools = ["name", ...], or ["*"] for all)')
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    def exposes(self, tool: str) -> bool:
        return tool in self.tools or WILDCARD in self.tools

    def spec_options(self, tool: str) -> dict[str, Any]:
        """The ``ToolSpec`` fields for ``tool``: its own options over the server's defaults."""
        own = self.tools.get(tool) or McpToolOptions()
        options = {key: getattr(self, key) for key in _PER_TOOL}
        options.update({key: getattr(own, key) for key in _PER_TOOL
                        if getattr(own, key) is not None})
        return options

    def describe(self) -> str:
        """Where the server is, for messages (no headers or environment: they may be secret)."""
        if self.url is not None:
            return self.url
        return " ".join([self.command or "", *self.args])


def served_name(server: str, tool: str, options: McpToolOptions | None = None) -> str:
    """The name a run uses for ``tool`` of ``server``: ``SERVER__TOOL`` with characters providers
    refuse in function names (``.``, ``/``, spaces) replaced by ``_``, unless configured."""
    if options is not None and options.name:
        return options.name
    return f"{server}{SEPARATOR}{_UNSAFE.sub('_', tool)}"


def check_server_name(name: str) -> str:
    if not _SERVER.match(name) or len(name) > 32:
        raise ValueError(f"MCP server name {name!r}: use up to 32 letters and digits, single "
                         "'-' or '_' between them, starting with a letter ('__' separates the "
                         "server from the tool in served names)")
    return name


def expand(value: str, environ: Mapping[str, str]) -> str:
    """``value`` with every ``${VAR}`` replaced by the worker's variable; KeyError names the
    variable that is not set."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise KeyError(f"environment variable {name} is not set")
        return environ[name]

    return _VAR.sub(one, value)
