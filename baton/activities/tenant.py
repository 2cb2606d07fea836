"""The ``reserve_tenant_budget`` activity: a run's request for room, sent to its tenant's
budget authority with the limits this worker is configured with.

The limits come from here, the worker's configuration (``tenant_budgets``), never from the run:
the request the workflow sends carries none, and whatever it carried would be replaced. The
authority (``TenantBudgetWorkflow``) is started on first use by the same request
(update-with-start), on this worker's task queue. Every grant updates the
``baton.tenant_budget.used`` gauge; a period passing the tenant's ``alert_at`` share logs one
warning and counts ``baton.tenant_budget.alerts``; a refusal counts
``baton.tenant_budget.refusals``.
"""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import AutoUpgradeVersioningOverride, WorkflowIDConflictPolicy

from baton.budgets import (
    Grant,
    ReserveRequest,
    TenantBudgetInput,
    tenant_budget_workflow_id,
)
from baton.settings import BatonSettings
from baton.telemetry import metrics as m

__all__ = ["TenantActivities"]

log = structlog.get_logger("baton.tenant_budget")


class TenantActivities:
    """``client`` is set by the plugin once the worker exists (the same client it polls with)."""

    def __init__(self, settings: BatonSettings) -> None:
        self._settings = settings
        self.client: Client | None = None

    @activity.defn(name="reserve_tenant_budget")
    async def reserve_tenant_budget(self, request: ReserveRequest) -> Grant:
        if self.client is None:
            raise RuntimeError("the tenant budget activity runs on a worker built by BatonPlugin")
        request = request.model_copy(
            update={"budget": self._settings.tenant_budget(request.tenant)})
        authority = tenant_budget_workflow_id(request.tenant)
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            "TenantBudgetWorkflow", TenantBudgetInput(tenant=request.tenant), id=authority,
            task_queue=activity.info().task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"budget authority of tenant {request.tenant}",
            # It lives for ever: under worker versioning it follows new builds, never pinned.
            versioning_override=AutoUpgradeVersioningOverride())
        # The reservation id as the update id: a retried attempt gets the first one's answer.
        grant: Grant = await self.client.execute_update_with_start_workflow(
            "reserve", request, start_workflow_operation=start, id=request.reservation_id,
            result_type=Grant)
        self._observe(request, grant)
        return grant

    def _observe(self, request: ReserveRequest, grant: Grant) -> None:
        tenant = request.tenant
        for usage in grant.periods:
            for unit in ("tokens", "usd"):
                share = usage.used(unit)
                if share is not None:
                    m.TENANT_BUDGET_USED.set(share, {"baton.tenant": tenant,
                                                     "baton.period": usage.period,
                                                     "baton.unit": unit})
        for alert in grant.alerts:
            period, key, unit = alert.split(":")
            usage = next(u for u in grant.periods if u.period == period)
            m.TENANT_BUDGET_ALERTS.add(1, {"baton.tenant": tenant, "baton.period": period,
                                           "baton.unit": unit})
            share = usage.used("tokens" if unit == "tokens" else "usd")
            log.warning("tenant budget threshold passed", tenant=tenant, period=period,
                        period_key=key, unit=unit, used=round(share or 0.0, 4),
                        spent_tokens=usage.spent_tokens, reserved_tokens=usage.reserved_tokens,
                        max_tokens=usage.max_tokens, spent_usd=round(usage.spent_usd, 6),
                        max_cost_usd=usage.max_cost_usd,
                        alert_at=request.budget.alert_at if request.budget else None)
        if not grant.granted:
            m.TENANT_BUDGET_REFUSALS.add(1, {"baton.tenant": tenant})
            log.info("tenant budget refused a model call", tenant=tenant, agent=request.agent,
                     workflow_id=request.workflow_id, reason=grant.reason)
