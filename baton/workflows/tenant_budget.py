"""``TenantBudgetWorkflow``: the one budget authority of a tenant, across every run and worker.

Why a workflow and not a table: every grant is an update recorded in Temporal's history, so
the authority is exactly as durable and as available as the runs it meters, needs no database
of its own (the embedded stack has none shared between hosts), and one workflow id per tenant
serialises all of its grants without locks. It is started by the first run that needs it
(update-with-start from the ``reserve_tenant_budget`` activity) and never ends; it continues as
new when its history grows.

Public interface: update ``reserve`` (a ``ReserveRequest`` → ``Grant``), signal ``settle``
(a ``Settlement``), query ``report`` (a ``TenantBudgetReport``, what ``baton budgets`` shows).
"""

from contextlib import suppress
from datetime import timedelta

from temporalio import workflow

from baton.budgets import (
    Grant,
    ReserveRequest,
    Settlement,
    TenantBudgetInput,
    TenantBudgetReport,
)
from baton.workflows._tenant_book import TenantBook

__all__ = ["TenantBudgetWorkflow"]


# Started with an auto-upgrade versioning override (by the reserve_tenant_budget activity): it
# lives for ever, so under worker versioning it moves to each new build instead of staying
# pinned to the one it started on. Its code changes must therefore stay replay-compatible.
@workflow.defn(name="TenantBudgetWorkflow")
class TenantBudgetWorkflow:
    @workflow.init
    def __init__(self, start: TenantBudgetInput) -> None:
        self._tenant = start.tenant
        self._book = TenantBook(start.tenant, start.state)
        self._limit = start.continue_after_events

    @workflow.run
    async def run(self, start: TenantBudgetInput) -> None:
        workflow.set_current_details(f"budget authority of tenant {self._tenant}")
        await workflow.wait_condition(self._long)
        # Grants waiting for room and settlements in flight finish in this history first.
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._book.tidy(workflow.now())
        workflow.continue_as_new(start.model_copy(update={"state": self._book.state()}))

    def _long(self) -> bool:
        info = workflow.info()
        return (info.is_continue_as_new_suggested()
                or info.get_current_history_length() >= self._limit)

    @workflow.update(name="reserve")
    async def reserve(self, request: ReserveRequest) -> Grant:
        book = self._book
        book.settle(request.settle)
        if request.budget is not None:  # the limits of the worker that asks: the operator's
            book.budget = request.budget
        for expired in book.tidy(workflow.now()):
            workflow.logger.warning(
                "reservation %s of %s expired unsettled; counted in full (%d tokens, $%.6f)",
                expired.id, expired.workflow_id, expired.tokens, expired.cost_usd)
        if book.budget is not None and book.must_wait(request, workflow.now()):
            # Calls in flight hold room this call could have once they settle: wait for them
            # (bounded), so a small budget is not refused while it is only held, not spent.
            with suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: request.reservation_id in book.unclaimed
                    or not book.must_wait(request, workflow.now()),
                    timeout=timedelta(seconds=book.budget.wait_s))
        grant = book.grant(request, workflow.now())
        if grant.alerts:
            workflow.logger.warning("tenant %s passed %.0f%% of its budget: %s", self._tenant,
                                    (book.budget.alert_at if book.budget else 1) * 100,
                                    ", ".join(grant.alerts))
        return grant

    @workflow.signal(name="settle")
    def settle(self, settlement: Settlement) -> None:
        self._book.settle(settlement)

    @workflow.query(name="report")
    def report(self) -> TenantBudgetReport:
        return self._book.report(workflow.now())
