"""Re-running one recorded tool call outside its run (``baton replay-tool``).

The call is found in the run log by its call id (across continuations and member runs, read
through :class:`~baton.client.reader.RunReader`); the tool is the one this machine's worker
configuration serves (``settings.tool_modules``), and it runs through the very code the worker runs:
``ToolActivities.execute_tool`` with the ledger at ``settings.resolved_ledger_path``, inside
Temporal's ``ActivityEnvironment`` (an activity context without a worker). Nothing is written
back to the run.

Safety: a read tool bypasses the result cache (a replay should really run). A write tool repeats
its side effect, so it needs ``force`` and always gets a fresh idempotency key
(``replay-<uuid4>``): the recorded key would only return the recorded outcome from the ledger.
"""

from __future__ import annotations

import uuid
from typing import Any

from baton.calls import ToolInvocation
from baton.client.reader import RunReader
from baton.client.views import ReplayReport
from baton.errors import BatonError
from baton.settings import BatonSettings
from baton.tools import default_registry

__all__ = ["replay_tool"]


async def replay_tool(reader: RunReader, settings: BatonSettings, run_id: str, call_id: str, *,
                      arguments: dict[str, Any] | None = None, dry_run: bool = False,
                      force: bool = False) -> ReplayReport:
    """Find the call with ``reader``, then run it with the ledger and limits of ``settings``."""
    recorded = await reader.recorded_call(run_id, call_id)
    root, node, event = recorded.root, recorded.node, recorded.event
    if event.effect == "workflow":
        raise BatonError(f"{event.tool} ({call_id}) is a delegation or transfer handled by the "
                         "workflow, not a tool: it cannot run outside the run")
    registry = default_registry.serving(settings.tool_modules)
    definition = registry.get(event.tool)
    if definition is None:
        raise BatonError(f"tool {event.tool!r} is not served by this configuration's "
                         f"tool_modules ({', '.join(settings.tool_modules) or 'none'})")
    spec = definition.spec
    args = dict(event.arguments if arguments is None else arguments)
    from baton.activities.tools.arguments import check_arguments

    checked = check_arguments(definition, args)
    if isinstance(checked, list):
        problems = "; ".join(f"{p['field']}: {p['message']}" for p in checked)
        raise BatonError(f"invalid arguments for {spec.name}: {problems}") from None
    is_write = "write" in (event.effect, spec.effect)
    if is_write and not force and not dry_run:
        raise BatonError(f"{spec.name} is a write tool: replaying it repeats its side effect. "
                         "Add --force to run it with a fresh idempotency key (or --dry-run)")
    key = f"replay-{uuid.uuid4()}"
    report = ReplayReport(
        run_id=root.run_id, workflow_id=node.run_id, call_id=call_id, tool=spec.name,
        effect="write" if is_write else "read", agent=event.agent, step=event.step,
        recorded_arguments=event.arguments, arguments=args, recorded_status=event.status,
        recorded_content=event.content, recorded_key=event.idempotency_key,
        idempotency_key=key, dry_run=dry_run)
    if dry_run:
        return report
    from temporalio.testing import ActivityEnvironment

    from baton.activities.tools import Ledger, ToolActivities

    settings.resolved_ledger_path.parent.mkdir(parents=True, exist_ok=True)
    activities = ToolActivities(registry, Ledger(settings.resolved_ledger_path),
                                max_result_chars=settings.max_tool_result_chars)
    invocation = ToolInvocation(
        tool=spec.model_copy(update={"cacheable": False}), call_id=f"replay-{call_id}",
        arguments=args, idempotency_key=key, run_id=root.run_id, workflow_id=node.run_id,
        agent=event.agent, step=event.step)
    outcome = await ActivityEnvironment().run(activities.execute_tool, invocation)
    return report.model_copy(update={
        "status": outcome.status, "content": outcome.content, "error_type": outcome.error_type,
        "duration_ms": outcome.duration_ms})
