"""What operators do beyond single runs, as ``BatonClient`` methods (a mixin, so the client
module stays about starting, deciding and reading runs): starting a run on the version its
team's rollout chooses, deploying, promoting and rolling back versions, tenant budgets and the
cost report.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict
from temporalio.client import Client

from baton.budgets import TenantBudgetReport
from baton.client import _budgets, _cost, _rollouts
from baton.client._cost import CostReport
from baton.client._rollouts import RolloutReport, identity
from baton.client.reader import RunReader
from baton.errors import BatonError
from baton.loader import load_team
from baton.rollout import DeployRequest, RolloutDecision, RolloutState, Track, team_digest
from baton.runs import RunInput
from baton.settings import BatonSettings
from baton.specs import TeamSpec

__all__ = ["Operations", "StartedRun", "new_run_id"]


def new_run_id(team: str) -> str:
    """A fresh run id: the team's name and eight hex digits (``support-1a2b3c4d``)."""
    return f"{team}-{uuid.uuid4().hex[:8]}"


class StartedRun(BaseModel):
    """A run just started, and the team version it runs."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    digest: str
    label: str | None = None
    track: Track = "as-is"
    given_digest: str | None = None  # the version the caller passed, when the rollout chose


def _team(team: TeamSpec | str | Path) -> TeamSpec | str:
    """A spec, a loaded YAML file, or (a string naming no file) a deployed team's name."""
    if isinstance(team, TeamSpec):
        return team
    path = Path(team)
    if isinstance(team, Path) or path.suffix in (".yaml", ".yml") or path.is_file():
        return load_team(path)
    return str(team)


class Operations:
    client: Client
    settings: BatonSettings
    runs: RunReader

    async def start_input(self, run: RunInput, *, run_id: str | None = None,
                          version: StartedRun | None = None) -> str:
        raise NotImplementedError  # BatonClient's

    async def start_run(self, team: TeamSpec | str | Path, input: str, *,
                        tenant: str = "default", subject: str | None = None,
                        run_id: str | None = None, use_rollout: bool = True) -> StartedRun:
        """Start a run of ``team`` (a spec, a YAML path, or a deployed team's name). When the
        team has a rollout, the run gets the stable version or, for the canary's share of run
        ids, the canary — whatever ``team`` itself holds; ``use_rollout=False`` runs ``team``
        exactly as given (it still carries its digest as ``BatonTeamVersion``)."""
        given = _team(team)
        name = given if isinstance(given, str) else given.name
        if isinstance(given, TeamSpec):  # the input is checked before anything is sent
            RunInput(team=given, input=input, tenant=tenant, subject=subject)
        run_id = run_id or new_run_id(name)
        state = await _rollouts.read_state(self.client, name) if use_rollout else None
        if state is not None and state.stable is not None:
            chosen, track = state.choose(run_id)
            started = StartedRun(run_id=run_id, digest=chosen.digest, label=chosen.label,
                                 track=track, given_digest=None if isinstance(given, str)
                                 else team_digest(given))
            spec = chosen.spec
        elif isinstance(given, str):
            raise BatonError(f"no team file {given!r} and no deployed team named {given!r} "
                             "(`baton deploy TEAM.yaml` deploys one)")
        else:
            spec, started = given, StartedRun(run_id=run_id, digest=team_digest(given))
        await self.start_input(RunInput(team=spec, input=input, tenant=tenant, subject=subject),
                               run_id=run_id, version=started)
        return started

    # -- rollouts -------------------------------------------------------------------------------
    async def deploy(self, team: TeamSpec | str | Path, *, canary: int = 0,
                     label: str | None = None, reason: str = "",
                     by: str | None = None) -> RolloutState:
        """Deploy a team version: stable at once (``canary`` 0 or 100), or the canary for
        ``canary`` percent of new runs. Audited with ``by`` (default: the decider or OS user)."""
        spec = _team(team)
        if isinstance(spec, str):
            raise BatonError(f"deploy takes a team file; {spec!r} is none")
        request = DeployRequest(spec=spec, label=label, percent=canary, reason=reason,
                                by=by or identity(self.settings.decider))
        return await _rollouts.deploy(self.client, self.settings.task_queue, request)

    async def rollout_state(self, team: str) -> RolloutState | None:
        return await _rollouts.read_state(self.client, team)

    async def rollout_status(self, team: str, *, sample: int = 50) -> RolloutReport:
        """Stable and canary side by side (runs since the canary was deployed)."""
        return await _rollouts.report(self.runs, team, sample=sample)

    async def promote(self, team: str, *, reason: str = "", by: str | None = None
                      ) -> RolloutState:
        decision = RolloutDecision(by=by or identity(self.settings.decider), reason=reason)
        return await _rollouts.decide(self.client, team, "promote", decision)

    async def rollback(self, team: str, *, reason: str = "", by: str | None = None
                       ) -> RolloutState:
        decision = RolloutDecision(by=by or identity(self.settings.decider), reason=reason)
        return await _rollouts.decide(self.client, team, "rollback", decision)

    # -- budgets and cost ---------------------------------------------------------------------
    async def tenant_budgets(self, tenant: str | None = None) -> list[TenantBudgetReport]:
        """Spend and what is left per tenant and period (``baton budgets``)."""
        return await _budgets.reports(self.runs, self.settings.tenant_budgets, tenant=tenant)

    async def cost_report(self, team: str, *, since: datetime,
                          by: Literal["agent", "model", "tenant", "version"] = "agent",
                          limit: int = 200) -> CostReport:
        """Cost of a team's finished runs since ``since``, grouped ``by``, with the share spent
        on routing (coordinators) and the read cache's hits and savings per tool."""
        return await _cost.report(self.runs, team, since=since, by=by, limit=limit)
