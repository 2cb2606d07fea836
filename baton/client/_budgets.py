"""Reading tenant budgets for ``baton budgets``: every tenant's budget authority (found through
visibility) answers its ``report`` query; tenants this configuration limits that have not
spent anything yet are shown with their limits and nothing used."""

from __future__ import annotations

from datetime import UTC, datetime

from baton.budgets import (
    PeriodUsage,
    TenantBudget,
    TenantBudgetReport,
    period_key,
    tenant_budget_workflow_id,
)
from baton.client._search import quoted
from baton.client._workflow import WorkflowReader

__all__ = ["AUTHORITIES", "reports"]

AUTHORITIES = "WorkflowType = 'TenantBudgetWorkflow' AND ExecutionStatus = 'Running'"


def _unused(tenant: str, budget: TenantBudget, now: datetime) -> TenantBudgetReport:
    return TenantBudgetReport(tenant=tenant, budget=budget, periods=[
        PeriodUsage(period=period, key=period_key(period, now), max_tokens=limit.max_tokens,
                    max_cost_usd=limit.max_cost_usd)
        for period, limit in budget.limits().items()])


async def reports(reader: WorkflowReader, configured: dict[str, TenantBudget], *,
                  tenant: str | None = None) -> list[TenantBudgetReport]:
    """Each tenant's spend and what is left, per period, sorted by tenant."""
    query = AUTHORITIES
    if tenant is not None:
        query += f" AND WorkflowId = {quoted('--tenant', tenant_budget_workflow_id(tenant))}"
    found: dict[str, TenantBudgetReport] = {}
    async for authority in reader.client.list_workflows(query):
        report = await reader.query(authority.id, "report", None, TenantBudgetReport)
        found[report.tenant] = report
    now = datetime.now(UTC)
    for name, budget in configured.items():
        if name != "*" and name not in found and tenant in (None, name):
            found[name] = _unused(name, budget, now)
    return [found[name] for name in sorted(found)]
