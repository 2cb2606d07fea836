"""Per-run budget accounting, deterministic and kept in workflow state
(docs/architecture.md#budgets)."""

from __future__ import annotations

from datetime import datetime, timedelta

from baton.messages import Usage
from baton.specs import Budget

__all__ = ["BudgetTracker"]


class BudgetTracker:
    def __init__(self, budget: Budget, started_at: datetime, usage: Usage | None = None,
                 cost_usd: float = 0.0, waited_s: float = 0.0) -> None:
        self.budget = budget
        self.started_at = started_at
        self.usage = usage or Usage()
        self.cost_usd = cost_usd
        # Time spent waiting for people, which the wall clock does not count (unless the team
        # says so): the closed intervals, and the start of the one still open.
        self.waited_s = waited_s
        self.waiting_since: datetime | None = None
        # Slices handed to members still running: parallel branches must not each be given
        # the same remaining money.
        self.reserved_tokens = 0
        self.reserved_cost_usd = 0.0

    def reserve(self, budget: Budget) -> None:
        self.reserved_tokens += budget.max_tokens or 0
        self.reserved_cost_usd += budget.max_cost_usd or 0.0

    def release(self, budget: Budget) -> None:
        self.reserved_tokens -= budget.max_tokens or 0
        self.reserved_cost_usd -= budget.max_cost_usd or 0.0

    def wait_for_people(self, waiting: bool, now: datetime) -> None:
        """Someone started (or stopped) waiting for a person: pause (or resume) the clock."""
        if self.budget.count_human_wait:
            return
        if waiting and self.waiting_since is None:
            self.waiting_since = now
        elif not waiting and self.waiting_since is not None:
            self.waited_s += (now - self.waiting_since).total_seconds()
            self.waiting_since = None

    def paused_s(self, now: datetime) -> float:
        """Seconds the wall clock has not counted so far."""
        open_ = (now - self.waiting_since).total_seconds() if self.waiting_since else 0.0
        return self.waited_s + open_

    def charge(self, usage: Usage, cost_usd: float) -> None:
        self.usage = self.usage + usage
        self.cost_usd += cost_usd

    def slice(self, own: Budget, share: float = 1.0, *, now: datetime) -> Budget:
        """A member's budget: its own limits, capped by ``share`` of what this run has left."""
        def cap(limit: float | None, left: float | None) -> float | None:
            if left is None:
                return limit
            return left * share if limit is None else min(limit, left * share)

        budget = self.budget
        tokens = cap(own.max_tokens, None if budget.max_tokens is None
                     else budget.max_tokens - self.usage.total_tokens - self.reserved_tokens)
        cost = cap(own.max_cost_usd, None if budget.max_cost_usd is None
                   else budget.max_cost_usd - self.cost_usd - self.reserved_cost_usd)
        deadline = self.deadline(now)
        wall = cap(own.max_wall_clock_s, None if deadline is None
                   else (deadline - now).total_seconds())
        return Budget(
            max_tokens=None if tokens is None else max(int(tokens), 1),
            max_cost_usd=None if cost is None else max(cost, 1e-9),
            max_wall_clock_s=None if wall is None else max(wall, 1e-3),
            count_human_wait=budget.count_human_wait)

    def deadline(self, now: datetime) -> datetime | None:
        """When the wall clock runs out, if nobody waits for a person from ``now`` on."""
        if self.budget.max_wall_clock_s is None:
            return None
        return self.started_at + timedelta(
            seconds=self.budget.max_wall_clock_s + self.paused_s(now))

    def exhausted(self, now: datetime) -> str | None:
        """Which limit is used up, in words, or None while there is room for another step."""
        budget = self.budget
        if budget.max_tokens is not None and self.usage.total_tokens >= budget.max_tokens:
            return f"token budget used up: {self.usage.total_tokens} of {budget.max_tokens} tokens"
        if budget.max_cost_usd is not None and self.cost_usd >= budget.max_cost_usd:
            return f"cost budget used up: ${self.cost_usd:.4f} of ${budget.max_cost_usd:.4f}"
        if budget.max_wall_clock_s is not None:
            elapsed = now - self.started_at - timedelta(seconds=self.paused_s(now))
            if elapsed >= timedelta(seconds=budget.max_wall_clock_s):
                return (f"wall-clock budget used up: {elapsed.total_seconds():.0f}s of "
                        f"{budget.max_wall_clock_s:.0f}s")
        return None
