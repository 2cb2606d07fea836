"""An agent loop's side of its tenant's budget: reserve before each model call, settle after.

Only a run whose tenant has a budget (its admission ``Catalog`` says so, from the worker's
configuration) does anything here; every other run makes no extra call. Before a model call the
loop reserves, through the ``reserve_tenant_budget`` activity, what the call can cost at most
(its prompt estimate, scaled as the run's own budget scales it, plus the answer length the run's
budget already allows); the authority may shorten the answer to what the tenant has left, or
refuse, which ends the run ``tenant_budget_exhausted`` before the call, keeping what it has done.
Once the call returned the reservation is settled with what it cost: the ``model_call`` events
logged since it was made (none when the call failed), sent as a signal.
"""

from __future__ import annotations

import asyncio
import math
from typing import Protocol

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError, FailureError

from baton.budgets import ReserveRequest, Settlement, tenant_budget_workflow_id
from baton.calls import Catalog
from baton.runs import ModelCallEvent, RunStatus
from baton.specs import AgentSpec, ServedProfile
from baton.workflows import _activities
from baton.workflows._budget import MIN_OUTPUT_TOKENS, BudgetTracker
from baton.workflows._runlog import RunLog
from baton.workflows._tool_turn import failure_of
from baton.workflows._workflow_tools import Finished

__all__ = ["TenantMeter"]


class _Loop(Protocol):  # what the meter reads of an AgentLoop
    catalog: Catalog
    agent: AgentSpec
    budget: BudgetTracker
    log: RunLog

    @property
    def profile(self) -> ServedProfile: ...


class TenantMeter:
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self._open: str | None = None  # the reservation of the call in flight
        self._mark = 0  # run-log events before that call

    async def room(self, loop: _Loop, prompt_tokens: int, room: int) -> int:
        """The answer length the next call may ask for: ``room`` (what the run's own budget
        allows), capped by the tenant's grant. Raises ``Finished`` when the tenant has none."""
        budget = loop.catalog.tenant_budget
        if budget is None:
            return room
        profile = loop.profile
        reservation = str(workflow.uuid4())
        request = ReserveRequest(
            reservation_id=reservation, tenant=self.tenant,
            workflow_id=workflow.info().workflow_id, agent=loop.agent.name,
            prompt_tokens=math.ceil(prompt_tokens * loop.budget.prompt_ratio),
            max_output_tokens=room, min_output_tokens=MIN_OUTPUT_TOKENS,
            price_input_per_mtok=profile.price_input_per_mtok,
            price_output_per_mtok=profile.price_output_per_mtok,
            settle=self._settlement(loop.log))  # a failed-over call's reservation, if open
        self._open, self._mark = reservation, len(loop.log.events)
        try:
            grant = await _activities.reserve_tenant_budget(request, wait_s=budget.wait_s)
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):  # the run is being cancelled
                raise asyncio.CancelledError from exc
            _, message = failure_of(exc)
            raise Finished(RunStatus.FAILED, f"the budget authority of tenant {self.tenant!r} "
                           f"did not answer: {message}",
                           error_type="tenant_budget_unavailable") from exc
        if not grant.granted:
            self._open = None
            raise Finished(RunStatus.TENANT_BUDGET_EXHAUSTED,
                           grant.reason or f"tenant {self.tenant!r} has no budget left",
                           error_type="tenant_budget_exhausted")
        return min(room, grant.max_output_tokens)

    def _settlement(self, log: RunLog) -> Settlement | None:
        if self._open is None:
            return None
        calls = [e for e in log.events[self._mark:] if isinstance(e, ModelCallEvent)]
        settlement = Settlement(reservation_id=self._open,
                                tokens=sum(c.usage.total_tokens for c in calls),
                                cost_usd=sum(c.cost_usd for c in calls))
        self._open = None
        return settlement

    async def settle(self, log: RunLog) -> None:
        """Settle the open reservation, if any, with what its call cost."""
        settlement = self._settlement(log)
        if settlement is None:
            return
        authority = workflow.get_external_workflow_handle(tenant_budget_workflow_id(self.tenant))
        try:
            await authority.signal("settle", settlement)
        except FailureError as exc:
            # Not settled: the authority counts the reservation in full when its lease ends,
            # so the tenant is overcharged at worst, never undercharged.
            workflow.logger.warning("could not settle reservation %s with tenant %s: %s",
                                    settlement.reservation_id, self.tenant, exc)
