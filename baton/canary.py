"""Judging a canary: how the runs of a team version went, and the rule that rolls a canary back
(or promotes it) automatically. Pure data and arithmetic, shared by the rollout workflow (which
applies the rule) and ``baton rollout status`` (which shows the same numbers).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["NOT_JUDGED", "RolloutRule", "Verdict", "VersionStats", "evaluate", "percentile"]

# Ends that say nothing about the version itself: a person cancelled the run, or its tenant had
# no budget left. They are counted and shown, but not as failures of the version.
NOT_JUDGED = frozenset({"cancelled", "tenant_budget_exhausted"})


class RolloutRule(BaseModel):
    """When a canary is rolled back or promoted without a person (``rollout:`` in a team YAML).

    Once the canary has ``min_runs`` finished runs it is rolled back when its failure rate
    exceeds the stable version's by more than ``max_failure_points`` percentage points, or its
    cost per run exceeds the stable version's by more than ``max_cost_increase_pct`` percent;
    with ``promote_after_runs`` it is promoted once that many of its runs finished and neither
    limit was passed. Runs are counted from the moment the canary was deployed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_runs: int = Field(default=10, ge=1, le=100_000)
    max_failure_points: float | None = Field(default=10.0, ge=0, le=100)
    max_cost_increase_pct: float | None = Field(default=None, ge=0)
    promote_after_runs: int | None = Field(default=None, ge=1, le=1_000_000)
    check_every_s: float = Field(default=60.0, ge=1, le=86_400)


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in 0..1) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


class VersionStats(BaseModel):
    """How the runs of one team version went: from Temporal visibility (statuses, cost, times)
    and, for ``baton rollout status``, the runs' logs (approvals)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    digest: str
    label: str | None = None
    track: Literal["stable", "canary", "other"] = "other"
    runs: int = 0  # finished
    running: int = 0
    completed: int = 0
    statuses: dict[str, int] = Field(default_factory=dict)  # finished runs by BatonStatus
    cost_usd: float = 0.0
    p50_s: float | None = None
    p95_s: float | None = None
    approvals: int | None = None  # decided approvals in the runs read (None: not read)
    approvals_rejected: int | None = None

    @property
    def judged(self) -> int:
        return self.runs - sum(n for s, n in self.statuses.items() if s in NOT_JUDGED)

    @property
    def failures(self) -> int:
        return self.judged - self.completed

    @property
    def failure_rate(self) -> float | None:
        """Failed runs per judged run, 0..1 (None before any)."""
        return self.failures / self.judged if self.judged else None

    @property
    def completed_share(self) -> float | None:
        return self.completed / self.runs if self.runs else None

    @property
    def cost_per_run(self) -> float | None:
        return self.cost_usd / self.runs if self.runs else None

    @property
    def rejected_share(self) -> float | None:
        if not self.approvals or self.approvals_rejected is None:
            return None
        return self.approvals_rejected / self.approvals


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: Literal["rollback", "promote"] | None = None
    reason: str = ""


def evaluate(rule: RolloutRule, stable: VersionStats, canary: VersionStats) -> Verdict:
    """What ``rule`` says about ``canary`` next to ``stable``, with the numbers in words."""
    if canary.judged < rule.min_runs:
        return Verdict(reason=f"waiting: {canary.judged} of {rule.min_runs} canary runs judged")
    canary_rate, stable_rate = canary.failure_rate or 0.0, stable.failure_rate or 0.0
    points = (canary_rate - stable_rate) * 100
    if rule.max_failure_points is not None and points > rule.max_failure_points:
        return Verdict(action="rollback", reason=(
            f"canary failure rate {canary_rate:.0%} ({canary.failures} of {canary.judged}) "
            f"exceeds stable's {stable_rate:.0%} ({stable.failures} of {stable.judged}) by "
            f"{points:.0f} points, more than {rule.max_failure_points:g}"))
    stable_cost, canary_cost = stable.cost_per_run, canary.cost_per_run
    if (rule.max_cost_increase_pct is not None and stable_cost and canary_cost is not None
            and canary_cost > stable_cost * (1 + rule.max_cost_increase_pct / 100)):
        increase = (canary_cost / stable_cost - 1) * 100
        return Verdict(action="rollback", reason=(
            f"canary cost per run ${canary_cost:.6f} exceeds stable's ${stable_cost:.6f} by "
            f"{increase:.0f}%, more than {rule.max_cost_increase_pct:g}%"))
    if rule.promote_after_runs is not None and canary.judged >= rule.promote_after_runs:
        return Verdict(action="promote", reason=(
            f"{canary.judged} canary runs judged: failure rate {canary_rate:.0%} against "
            f"stable's {stable_rate:.0%}, within the rule"))
    return Verdict(reason=f"within the rule after {canary.judged} canary runs")
