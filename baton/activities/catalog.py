"""The ``resolve_catalog`` activity: what this worker serves of the names a run uses.

A team and its run input only *name* model profiles and tools. When a run starts, the workflow
asks a worker (this activity) for the profiles and tools as that worker serves them, and records
the answer in its history: from then on the run plans with exactly those timeouts, retry
attempts, prices, fallbacks and tool schemas, on every worker and after every replay. Where a
profile connects (URL, API-key variable) stays in the worker: the catalog carries
``ServedProfile``, never ``ModelProfile``.

Names the worker does not serve are answered as data (``unknown_profiles``/``unknown_tools``),
so the run can refuse itself with a located, typed result instead of failing a task.
"""

from __future__ import annotations

from temporalio import activity

from baton.calls import Catalog, CatalogRequest, CatalogResolution
from baton.settings import BatonSettings
from baton.specs import ServedProfile, ToolSpec
from baton.tools import ToolRegistry

__all__ = ["CatalogActivities"]


class CatalogActivities:
    def __init__(self, settings: BatonSettings, registry: ToolRegistry) -> None:
        self._settings = settings
        self._registry = registry

    @activity.defn(name="resolve_catalog")
    async def resolve_catalog(self, request: CatalogRequest) -> CatalogResolution:
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
        for name in dict.fromkeys(request.tools):
            definition = self._registry.get(name)
            if definition is None:
                unknown_tools.append(name)
            else:
                tools[name] = definition.spec
        budget = None if request.tenant is None else self._settings.tenant_budget(request.tenant)
        return CatalogResolution(
            catalog=Catalog(profiles=profiles, tools=tools,
                            approvals=self._settings.approval_authority, tenant_budget=budget),
            unknown_profiles=tuple(unknown_profiles), unknown_tools=tuple(unknown_tools),
            served_profiles=tuple(sorted(configured)) if unknown_profiles else (),
            served_tools=tuple(self._registry.names()) if unknown_tools else ())
