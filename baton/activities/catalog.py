"""The ``resolve_catalog`` activity: what this worker serves of the names a run uses.

A team and its run input only *name* model profiles and tools. When a run starts, the workflow
asks a worker (this activity) for the profiles and tools as that worker serves them, and records
the answer in its history: from then on the run plans with exactly those timeouts, retry
attempts, prices, fallbacks and tool schemas, on every worker and after every replay. Where a
profile connects (URL, API-key variable) stays in the worker: the catalog carries
``ServedProfile``, never ``ModelProfile``.

Names the worker does not serve are answered as data (``unknown_profiles``/``unknown_tools``),
so the run can refuse itself with a located, typed result instead of failing a task. A tool of
one of the worker's MCP servers is waited for while its server starts (a few seconds, within
this local activity's timeout); if the server is down, the answer says why
(``unavailable_tools``), so the person starting the run reads what to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from temporalio import activity

from baton.calls import Catalog, CatalogRequest, CatalogResolution
from baton.settings import BatonSettings
from baton.specs import ServedProfile, ToolSpec
from baton.tools import ToolRegistry

if TYPE_CHECKING:  # the pool (and the MCP SDK) belong to the worker, not to workflow imports
    from baton.activities.mcp import McpPool

__all__ = ["MCP_ADMISSION_WAIT_S", "CatalogActivities"]

# How long admission waits for MCP servers still starting: well inside the local activity's
# 10 s start-to-close timeout, so a slow server refuses the run with its reason instead.
MCP_ADMISSION_WAIT_S = 8.0


class CatalogActivities:
    def __init__(self, settings: BatonSettings, registry: ToolRegistry,
                 mcp: McpPool | None = None) -> None:
        self._settings = settings
        self._registry = registry
        self._mcp = mcp

    @activity.defn(name="resolve_catalog")
    async def resolve_catalog(self, request: CatalogRequest) -> CatalogResolution:
        if self._mcp is not None:
            await self._mcp.settle(request.tools, MCP_ADMISSION_WAIT_S)
        return self.resolve(request)

    def resolve(self, request: CatalogRequest) -> CatalogResolution:
        configured = self._settings.profiles
        profiles: dict[str, ServedProfile] = {}
        unknown_profiles: list[str] = []
        for name in dict.fromkeys(request.profiles):
            # A profile brings its fallback chain: failing over needs no second resolution.
            current: str | None = name
            while current is not None and current not in profiles:
                if current not in configured:
                    unknown_profiles.append(current)
                    break
                profiles[current] = configured[current].served()
                current = configured[current].fallback
        tools: dict[str, ToolSpec] = {}
        unknown_tools: list[str] = []
        unavailable: dict[str, str] = {}
        why_not: Callable[[str], str | None] = (
            self._mcp.why_unavailable if self._mcp is not None else lambda _: None)
        for name in dict.fromkeys(request.tools):
            definition, why = self._registry.get(name), why_not(name)
            if definition is None or why is not None:
                unknown_tools.append(name)
                if why is not None:
                    unavailable[name] = why
            else:
                tools[name] = definition.spec
        budget = None if request.tenant is None else self._settings.tenant_budget(request.tenant)
        return CatalogResolution(
            catalog=Catalog(profiles=profiles, tools=tools,
                            approvals=self._settings.approval_authority, tenant_budget=budget),
            unknown_profiles=tuple(unknown_profiles), unknown_tools=tuple(unknown_tools),
            served_profiles=tuple(sorted(configured)) if unknown_profiles else (),
            served_tools=tuple(self._registry.names()) if unknown_tools else (),
            unavailable_tools=unavailable)
