"""Staged rollout of team versions: what a version is, which version a new run gets, and the
audited changes ``baton deploy`` and ``baton rollout promote|rollback`` make.

A *version* of a team is its content digest (:func:`team_digest`, over the team as loaded, so
comments and formatting do not make a new version) plus a human label. Each team with a rollout
has one ``RolloutWorkflow`` (id :func:`rollout_workflow_id`) holding the stable version, at most
one canary and the share of new runs the canary gets. A run's version is chosen from its run id
(:func:`bucket`), so the same id always gets the same version. Pure data: no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from baton.canary import RolloutRule
from baton.specs import TeamSpec

__all__ = [
    "MAX_AUDIT",
    "AuditEntry",
    "DeployRequest",
    "RolloutDecision",
    "RolloutInput",
    "RolloutState",
    "TeamVersion",
    "Track",
    "VersionQuery",
    "VersionRef",
    "bucket",
    "rollout_workflow_id",
    "team_digest",
]

MAX_AUDIT = 500  # the newest entries are kept; older ones stay in the workflow's histories
Track = Literal["stable", "canary", "as-is"]


def rollout_workflow_id(team: str) -> str:
    return f"baton-rollout-{team}"


def team_digest(spec: TeamSpec) -> str:
    """The version digest: canonical JSON of the team without its defaults (a field Baton adds
    later with a default does not change the digest of an existing team)."""
    canonical = json.dumps(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def bucket(run_id: str) -> int:
    """0..99, stable for a run id: a run goes to the canary when its bucket is below the
    canary's percentage."""
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:8], "big") % 100


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TeamVersion(_Model):
    digest: str
    label: str
    spec: TeamSpec
    deployed_at: datetime
    deployed_by: str


class AuditEntry(_Model):
    at: datetime
    by: str
    action: Literal["deploy", "canary", "percent", "promote", "rollback"]
    digest: str
    label: str
    percent: int = 0
    reason: str = ""


class DeployRequest(_Model):
    """``baton deploy``: ``percent`` 0 (or 100) makes the version stable at once; 1..99 makes it
    the canary for that share of new runs. A team's first version is stable whatever the
    percentage; deploying the canary's own version with 0 or 100 promotes it."""

    spec: TeamSpec
    label: str | None = None
    percent: int = Field(default=0, ge=0, le=100)
    by: str
    reason: str = ""


class RolloutDecision(_Model):
    by: str
    reason: str = ""


class RolloutState(_Model):
    team: str
    stable: TeamVersion | None = None
    canary: TeamVersion | None = None
    percent: int = 0
    canary_since: datetime | None = None
    deployed: int = 0  # versions deployed so far: the default label is v<deployed + 1>
    audit: list[AuditEntry] = Field(default_factory=list)

    @property
    def rule(self) -> RolloutRule | None:
        """The canary's own rule (its team YAML's ``rollout:``), if it has one."""
        return self.canary.spec.rollout if self.canary is not None else None

    def choose(self, run_id: str) -> tuple[TeamVersion, Track]:
        """The version a new run with ``run_id`` gets."""
        if self.stable is None:
            raise ValueError(f"team {self.team!r} has no deployed version")
        if self.canary is not None and bucket(run_id) < self.percent:
            return self.canary, "canary"
        return self.stable, "stable"

    def _audited(self, entry: AuditEntry, **changes: object) -> RolloutState:
        audit = [*self.audit, entry][-MAX_AUDIT:]
        return self.model_copy(update={**changes, "audit": audit})

    def deploy(self, request: DeployRequest, now: datetime) -> RolloutState:
        spec = request.spec
        if spec.name != self.team:
            raise ValueError(f"this rollout is team {self.team!r}'s, not {spec.name!r}'s")
        digest = team_digest(spec)
        canary = 0 < request.percent < 100 and self.stable is not None
        if self.canary is not None and digest == self.canary.digest and canary:
            return self._audited(AuditEntry(
                at=now, by=request.by, action="percent", digest=digest,
                label=self.canary.label, percent=request.percent, reason=request.reason),
                percent=request.percent)
        if self.canary is not None and digest == self.canary.digest:  # all of it: a promotion
            return self.promote(RolloutDecision(by=request.by, reason=request.reason), now)
        if self.stable is not None and digest == self.stable.digest:
            raise ValueError(f"version {digest} ({self.stable.label}) is already stable")
        version = TeamVersion(digest=digest, label=request.label or f"v{self.deployed + 1}",
                              spec=spec, deployed_at=now, deployed_by=request.by)
        entry = AuditEntry(at=now, by=request.by, action="canary" if canary else "deploy",
                           digest=digest, label=version.label,
                           percent=request.percent if canary else 100, reason=request.reason)
        if canary:
            return self._audited(entry, canary=version, percent=request.percent,
                                 canary_since=now, deployed=self.deployed + 1)
        return self._audited(entry, stable=version, canary=None, percent=0, canary_since=None,
                             deployed=self.deployed + 1)

    def promote(self, decision: RolloutDecision, now: datetime) -> RolloutState:
        canary = self._canary("promote")
        return self._audited(AuditEntry(
            at=now, by=decision.by, action="promote", digest=canary.digest, label=canary.label,
            percent=100, reason=decision.reason), stable=canary, canary=None, percent=0,
            canary_since=None)

    def rollback(self, decision: RolloutDecision, now: datetime) -> RolloutState:
        canary = self._canary("roll back")
        return self._audited(AuditEntry(
            at=now, by=decision.by, action="rollback", digest=canary.digest, label=canary.label,
            percent=0, reason=decision.reason), canary=None, percent=0, canary_since=None)

    def _canary(self, doing: str) -> TeamVersion:
        if self.canary is None:
            raise ValueError(f"team {self.team!r} has no canary to {doing}")
        return self.canary


class RolloutInput(_Model):
    """The rollout workflow's input: its team, and its state when it continues as new."""

    team: str
    state: RolloutState | None = None
    # History length at which the rollout workflow continues as new, carried along.
    continue_after_events: int = Field(default=5_000, ge=50)


class VersionRef(_Model):
    digest: str
    label: str | None = None
    track: Literal["stable", "canary", "other"] = "other"


class VersionQuery(_Model):
    """Which versions of a team to count, over runs started since ``since``."""

    team: str
    versions: list[VersionRef]
    since: datetime | None = None
    limit: int = Field(default=2_000, ge=1)  # finished runs read per version, newest first
