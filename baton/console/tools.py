"""The schema of the tool an approval would run, as the run itself knows it.

An edit is checked against the tool's JSON schema in the console, before it is sent, so a person
sees the problem on the page; the workflow checks again. The schema comes from the run's own
catalog — what the worker served when the run started, recorded in its history — not from the
console's configuration: the console imports no tool code, and a deploy that changed a tool
since does not change what this run validates against.

Where the catalog is: a member run and a continuation carry it in their input; a top-level run
resolved it with the ``resolve_catalog`` local activity, whose result is a marker among its
first history events. Catalogs never change, so each workflow's is read once.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from baton.calls import Catalog, CatalogResolution
from baton.client.reader import RunReader
from baton.runs import RunInput
from baton.schemas import schema_error
from baton.specs import ToolSpec

__all__ = ["ToolCatalogs", "edit_problem"]

_CATALOG_ACTIVITY = "resolve_catalog"
_SCAN_EVENTS = 200  # the catalog is resolved before the first model call: early in history


class ToolCatalogs:
    """Catalogs of workflows, read from their history once and kept."""

    def __init__(self, reader: RunReader) -> None:
        self._reader = reader
        self._cache: dict[str, Catalog] = {}

    async def tool(self, workflow_id: str, name: str) -> ToolSpec | None:
        """The tool ``name`` as workflow ``workflow_id`` runs it, or None when unknown."""
        catalog = self._cache.get(workflow_id)
        if catalog is None:
            catalog = await self._read(workflow_id)
            if catalog is not None:
                self._cache[workflow_id] = catalog
        return catalog.tools.get(name) if catalog else None

    async def _read(self, workflow_id: str) -> Catalog | None:
        run: RunInput = await self._reader.workflow_input(workflow_id)
        if run.catalog is not None:
            return run.catalog
        return await _resolved(self._reader.client, workflow_id)


async def _resolved(client: Client, workflow_id: str) -> Catalog | None:
    """The result of the run's ``resolve_catalog`` local activity: a marker in its history
    whose ``data`` names the activity and whose ``result`` is the payload the worker returned."""
    seen = 0
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        seen += 1
        if seen > _SCAN_EVENTS:
            return None
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        details = event.marker_recorded_event_attributes.details
        if "data" not in details or "result" not in details:
            continue
        data = [json.loads(p.data) for p in details["data"].payloads]  # the SDK's own JSON
        if not any(isinstance(d, dict) and d.get("activity_type") == _CATALOG_ACTIVITY
                   for d in data):
            continue
        [resolution] = await client.data_converter.decode(
            list(details["result"].payloads), [CatalogResolution])
        if isinstance(resolution, CatalogResolution):
            return resolution.catalog
    return None


def edit_problem(original: dict[str, Any], changes: dict[str, Any],
                 tool: ToolSpec | None) -> str | None:
    """Why ``changes`` merged over ``original`` does not fit the tool's schema, or None. The
    merge is the workflow's: an edit is a partial object over the original arguments."""
    if not changes:
        return "nothing was changed: approve instead, or change an argument"
    if tool is None:
        return None  # the schema is not known here; the workflow still checks
    problem = schema_error({**original, **changes}, tool.parameters)
    return None if problem is None else f"the arguments do not fit {tool.name}: {problem}"
