"""Tenant budgets: what an operator allows a tenant to spend per day and per month, and the
messages between runs and the tenant's budget authority (docs/operations.md#tenant-budgets).

Limits are the worker's configuration (``[tenant_budgets.NAME]`` in ``baton.toml``), never run
input. Every tenant with a budget has one authority, the ``TenantBudgetWorkflow`` with the id
:func:`tenant_budget_workflow_id`: before each model call a run reserves what the call can cost
at most (its estimated prompt plus the answer it may give), and settles the reservation with what
the call really cost once it returns. Pure data and arithmetic: no clock, no I/O.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "PERIODS",
    "Grant",
    "Period",
    "PeriodLimit",
    "PeriodUsage",
    "Reservation",
    "ReserveRequest",
    "Settlement",
    "TenantBudget",
    "TenantBudgetInput",
    "TenantBudgetReport",
    "TenantBudgetState",
    "period_key",
    "tenant_budget_workflow_id",
]

Period = Literal["day", "month"]
PERIODS: tuple[Period, ...] = ("day", "month")


def tenant_budget_workflow_id(tenant: str) -> str:
    """The one budget authority of ``tenant`` in a namespace."""
    return f"baton-tenant-budget-{tenant}"


def period_key(period: Period, now: datetime) -> str:
    """Which period ``now`` (UTC) falls in: ``2026-05-04`` for a day, ``2026-05`` for a month."""
    return f"{now:%Y-%m-%d}" if period == "day" else f"{now:%Y-%m}"


class _Config(BaseModel):
    # Operator configuration: a typo must not silently lift a limit.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PeriodLimit(_Config):
    max_tokens: int | None = Field(default=None, gt=0)
    max_cost_usd: float | None = Field(default=None, gt=0)


class TenantBudget(_Config):
    """One tenant's limits (``[tenant_budgets.acme.day]`` / ``.month``), the share of a limit at
    which a warning and a metric fire, and how long an unsettled reservation is held before it
    is counted as spent (a run terminated mid-call never settles)."""

    day: PeriodLimit | None = None
    month: PeriodLimit | None = None
    alert_at: float = Field(default=0.8, gt=0, le=1)
    # How long a reservation waits for calls in flight to settle before it takes what is left.
    wait_s: float = Field(default=30.0, ge=0, le=600)
    reservation_lease_s: float = Field(default=3600.0, gt=0)

    @model_validator(mode="after")
    def _limits_something(self) -> TenantBudget:
        if self.day is None and self.month is None:
            raise ValueError("a tenant budget limits a day, a month or both")
        return self

    def limits(self) -> dict[Period, PeriodLimit]:
        return {p: limit for p in PERIODS if (limit := getattr(self, p)) is not None}


class _Payload(BaseModel):
    # Wire payloads: an older worker must decode what a newer one sent during a rolling deploy.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Settlement(_Payload):
    """What the call a reservation was made for really cost (zero when it failed)."""

    reservation_id: str
    tokens: int = 0
    cost_usd: float = 0.0


class ReserveRequest(_Payload):
    """Room for one model call: the prompt as estimated, the answer at most ``max_output_tokens``
    (at least ``min_output_tokens`` or the call is not worth making), at the profile's prices."""

    reservation_id: str
    tenant: str
    workflow_id: str
    agent: str
    prompt_tokens: int = Field(ge=0)
    max_output_tokens: int = Field(ge=0)
    min_output_tokens: int = Field(default=16, ge=1)
    price_input_per_mtok: float = Field(default=0.0, ge=0)
    price_output_per_mtok: float = Field(default=0.0, ge=0)
    settle: Settlement | None = None  # the same agent's previous reservation, if still open
    budget: TenantBudget | None = None  # set by the worker from its configuration

    def cost_usd(self, output_tokens: int) -> float:
        return (self.prompt_tokens * self.price_input_per_mtok
                + output_tokens * self.price_output_per_mtok) / 1_000_000


class PeriodUsage(_Payload):
    """One period of one tenant: its limits, what is spent and what calls in flight hold."""

    period: Period
    key: str
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    spent_tokens: int = 0
    spent_usd: float = 0.0
    reserved_tokens: int = 0
    reserved_usd: float = 0.0

    @property
    def remaining_tokens(self) -> int | None:
        if self.max_tokens is None:
            return None
        return max(self.max_tokens - self.spent_tokens - self.reserved_tokens, 0)

    @property
    def remaining_usd(self) -> float | None:
        if self.max_cost_usd is None:
            return None
        return max(self.max_cost_usd - self.spent_usd - self.reserved_usd, 0.0)

    def used(self, unit: Literal["tokens", "usd"], *, reserved: bool = True) -> float | None:
        """Share of the limit spent (and held, with ``reserved``), or None without a limit."""
        if unit == "tokens":
            if self.max_tokens is None:
                return None
            held = self.reserved_tokens if reserved else 0
            return (self.spent_tokens + held) / self.max_tokens
        if self.max_cost_usd is None:
            return None
        return (self.spent_usd + (self.reserved_usd if reserved else 0.0)) / self.max_cost_usd

    def output_room(self, request: ReserveRequest, *, reserved: bool) -> float:
        """The longest answer this period still pays for after the request's prompt (inf when
        it limits nothing the request spends)."""
        room = math.inf
        if self.max_tokens is not None:
            held = self.reserved_tokens if reserved else 0
            room = min(room, self.max_tokens - self.spent_tokens - held - request.prompt_tokens)
        if self.max_cost_usd is not None:
            held_usd = self.reserved_usd if reserved else 0.0
            left = self.max_cost_usd - self.spent_usd - held_usd - request.cost_usd(0)
            if request.price_output_per_mtok > 0:
                room = min(room, math.floor(left * 1_000_000 / request.price_output_per_mtok))
            elif left < 0:
                room = -math.inf
        return room


class Grant(_Payload):
    """The authority's answer: the answer length the call may ask for, or why not."""

    granted: bool
    max_output_tokens: int = 0
    tokens: int = 0  # held for the call until it settles
    cost_usd: float = 0.0
    reason: str | None = None
    periods: list[PeriodUsage] = Field(default_factory=list)  # after this grant
    # Periods and units whose spend (with calls in flight) passed the alert share with this grant.
    alerts: list[str] = Field(default_factory=list)


class TenantBudgetReport(_Payload):
    """What ``baton budgets`` shows of one tenant (the ``report`` query)."""

    tenant: str
    budget: TenantBudget | None = None
    periods: list[PeriodUsage] = Field(default_factory=list)
    open_reservations: int = 0
    refused: dict[str, int] = Field(default_factory=dict)  # per period shown ("day" → count)
    updated_at: datetime | None = None


class Reservation(_Payload):
    """Room held for one call in flight, in the periods current when it was granted."""

    id: str
    workflow_id: str
    agent: str
    tokens: int
    cost_usd: float
    max_output_tokens: int
    periods: dict[str, str]  # period → key ("day" → "2026-05-04")
    expires_at: datetime


class TenantBudgetState(_Payload):
    """What the authority carries into its next continuation: spend per period (keyed
    ``day:2026-05-04``), the reservations in flight, the alerts already given, refusals."""

    budget: TenantBudget | None = None
    spent: dict[str, PeriodUsage] = Field(default_factory=dict)
    reservations: dict[str, Reservation] = Field(default_factory=dict)
    alerted: list[str] = Field(default_factory=list)
    refused: dict[str, int] = Field(default_factory=dict)
    # Settled before they were granted (a run cancelled while its request waited for room):
    # such a request, granted later, would hold room nobody uses until its lease ends.
    unclaimed: list[str] = Field(default_factory=list)


class TenantBudgetInput(_Payload):
    tenant: str
    state: TenantBudgetState | None = None
    # History length at which the authority continues as new (a grant and its settlement add
    # about ten events); carried into each continuation.
    continue_after_events: int = Field(default=10_000, ge=50)
