"""The book of one tenant's budget authority: spend per period, room held for calls in flight,
grants, refusals and alerts. Deterministic: the workflow passes ``workflow.now()`` in.

A grant holds the most a call can cost: its estimated prompt plus the longest answer it may
give (its ``max_tokens`` is capped to that), priced with the run's profile. So what a tenant
spends never passes its limits by more than what providers count beyond Baton's prompt
estimate. A reservation is settled with what the call really cost; one never settled (its run
was terminated mid-call) is counted in full when its lease ends, never forgotten.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from baton.budgets import (
    Grant,
    Period,
    PeriodUsage,
    Reservation,
    ReserveRequest,
    Settlement,
    TenantBudget,
    TenantBudgetReport,
    TenantBudgetState,
    period_key,
)

__all__ = ["TenantBook"]

_KEPT_PERIODS = 2  # of each kind: the current one and the one before
_KEPT_UNCLAIMED = 200


class TenantBook:
    def __init__(self, tenant: str, state: TenantBudgetState | None = None) -> None:
        state = state or TenantBudgetState()
        self.tenant = tenant
        self.budget: TenantBudget | None = state.budget
        self.spent = dict(state.spent)
        self.reservations = dict(state.reservations)
        self.alerted = list(state.alerted)
        self.refused = dict(state.refused)
        self.unclaimed = list(state.unclaimed)

    def state(self) -> TenantBudgetState:
        return TenantBudgetState(budget=self.budget, spent=self.spent,
                                 reservations=self.reservations, alerted=self.alerted,
                                 refused=self.refused, unclaimed=self.unclaimed)

    # -- periods --------------------------------------------------------------------------------
    def current(self, now: datetime) -> dict[Period, str]:
        limits = self.budget.limits() if self.budget is not None else {}
        return {period: period_key(period, now) for period in limits}

    def usage(self, period: Period, key: str) -> PeriodUsage:
        limit = self.budget.limits().get(period) if self.budget is not None else None
        spent = self.spent.get(f"{period}:{key}")
        held = [r for r in self.reservations.values() if r.periods.get(period) == key]
        return PeriodUsage(
            period=period, key=key,
            max_tokens=limit.max_tokens if limit else None,
            max_cost_usd=limit.max_cost_usd if limit else None,
            spent_tokens=spent.spent_tokens if spent else 0,
            spent_usd=spent.spent_usd if spent else 0.0,
            reserved_tokens=sum(r.tokens for r in held),
            reserved_usd=sum(r.cost_usd for r in held))

    def periods(self, now: datetime) -> list[PeriodUsage]:
        return [self.usage(period, key) for period, key in self.current(now).items()]

    def _charge(self, periods: dict[str, str], tokens: int, cost_usd: float) -> None:
        for period, key in periods.items():
            name = f"{period}:{key}"
            old = self.spent.get(name) or PeriodUsage(period=period, key=key)
            self.spent[name] = old.model_copy(update={
                "spent_tokens": old.spent_tokens + tokens, "spent_usd": old.spent_usd + cost_usd})

    # -- settling and housekeeping --------------------------------------------------------------
    def settle(self, settlement: Settlement | None) -> None:
        """Replace a reservation by what its call cost. Unknown ids (settled already, or
        expired and so counted in full) change nothing."""
        if settlement is None:
            return
        held = self.reservations.pop(settlement.reservation_id, None)
        if held is not None:
            self._charge(held.periods, settlement.tokens, settlement.cost_usd)
        else:  # maybe still waiting for room: it must not be granted afterwards
            self.unclaimed = [*self.unclaimed, settlement.reservation_id][-_KEPT_UNCLAIMED:]

    def tidy(self, now: datetime) -> list[Reservation]:
        """Count expired reservations as spent; forget periods and alerts long past."""
        expired = [r for r in self.reservations.values() if r.expires_at <= now]
        for held in expired:
            del self.reservations[held.id]
            self._charge(held.periods, held.tokens, held.cost_usd)
        for kind in ("day", "month"):
            keys = sorted(k for k in self.spent if k.startswith(f"{kind}:"))
            for old in keys[:-_KEPT_PERIODS]:
                del self.spent[old]
                self.refused.pop(old, None)
        current = {f"{p}:{k}" for p, k in self.current(now).items()}
        self.alerted = [a for a in self.alerted if a.rsplit(":", 1)[0] in current]
        return expired

    # -- granting -------------------------------------------------------------------------------
    def room(self, request: ReserveRequest, now: datetime, *, reserved: bool) -> float:
        return min((u.output_room(request, reserved=reserved) for u in self.periods(now)),
                   default=math.inf)

    def must_wait(self, request: ReserveRequest, now: datetime) -> bool:
        """Whether calls in flight hold room this request could have once they settle."""
        free = self.room(request, now, reserved=False)
        if free < request.min_output_tokens or not self.reservations:
            return False
        return self.room(request, now, reserved=True) < min(request.max_output_tokens, free)

    def grant(self, request: ReserveRequest, now: datetime) -> Grant:
        held = self.reservations.get(request.reservation_id)
        if held is not None:  # a retried request: the same answer
            return Grant(granted=True, max_output_tokens=held.max_output_tokens,
                         tokens=held.tokens, cost_usd=held.cost_usd, periods=self.periods(now))
        if request.reservation_id in self.unclaimed:  # its run gave up while it waited
            return Grant(granted=False, reason="the run settled this request before its grant")
        if self.budget is None:  # the operator lifted the budget: nothing to hold
            return Grant(granted=True, max_output_tokens=request.max_output_tokens)
        room = self.room(request, now, reserved=True)
        output = request.max_output_tokens if room == math.inf else int(
            min(request.max_output_tokens, room))
        if output < request.min_output_tokens:
            for period, key in self.current(now).items():
                self.refused[f"{period}:{key}"] = self.refused.get(f"{period}:{key}", 0) + 1
            return Grant(granted=False, reason=self._why(request, now),
                         periods=self.periods(now))
        tokens, cost = request.prompt_tokens + output, request.cost_usd(output)
        self.reservations[request.reservation_id] = Reservation(
            id=request.reservation_id, workflow_id=request.workflow_id, agent=request.agent,
            tokens=tokens, cost_usd=cost, max_output_tokens=output,
            periods=dict(self.current(now)),
            expires_at=now + timedelta(seconds=self.budget.reservation_lease_s))
        periods = self.periods(now)
        return Grant(granted=True, max_output_tokens=output, tokens=tokens, cost_usd=cost,
                     periods=periods, alerts=self._alerts(periods))

    def _alerts(self, periods: Iterable[PeriodUsage]) -> list[str]:
        """Periods and units whose spend (with calls in flight) passed the alert share for the
        first time: each is reported once per period."""
        assert self.budget is not None
        new = []
        for usage in periods:
            for unit in ("tokens", "usd"):
                share = usage.used(unit)
                name = f"{usage.period}:{usage.key}:{unit}"
                if share is not None and share >= self.budget.alert_at and (
                        name not in self.alerted):
                    self.alerted.append(name)
                    new.append(name)
        return new

    def _why(self, request: ReserveRequest, now: datetime) -> str:
        need = f"the next model call needs about {request.prompt_tokens:,} prompt tokens plus " \
               f"at least {request.min_output_tokens} to answer"
        for usage in self.periods(now):
            if usage.output_room(request, reserved=False) < request.min_output_tokens:
                return (f"tenant {self.tenant!r} has used its {usage.period} budget "
                        f"({usage.key}: {_spent(usage)}); {need}")
        flight = len(self.reservations)
        return (f"tenant {self.tenant!r}'s budget left is held by {flight} model call(s) in "
                f"flight; {need}")

    def report(self, now: datetime) -> TenantBudgetReport:
        return TenantBudgetReport(
            tenant=self.tenant, budget=self.budget, periods=self.periods(now),
            open_reservations=len(self.reservations),
            refused={p: self.refused.get(f"{p}:{k}", 0) for p, k in self.current(now).items()},
            updated_at=now)


def _spent(usage: PeriodUsage) -> str:
    parts = []
    if usage.max_tokens is not None:
        parts.append(f"{usage.spent_tokens:,} of {usage.max_tokens:,} tokens")
    if usage.max_cost_usd is not None:
        parts.append(f"${usage.spent_usd:.4f} of ${usage.max_cost_usd:.4f}")
    return ", ".join(parts)
