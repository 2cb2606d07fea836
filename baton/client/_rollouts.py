"""The client's side of staged rollouts: reading a team's rollout state, choosing a new run's
version, deploying, promoting and rolling back (updates of the team's ``RolloutWorkflow``), and
the side-by-side report of ``baton rollout status``.

Changes name who made them: ``settings.decider`` (``BATON_DECIDER``) or the operating-system
user running the CLI.
"""

from __future__ import annotations

import asyncio
import getpass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import AutoUpgradeVersioningOverride, WorkflowIDConflictPolicy
from temporalio.service import RPCError

from baton.activities.rollout import read_version_stats, version_query
from baton.canary import VersionStats
from baton.client._runlog import view
from baton.client._workflow import WorkflowReader, not_found
from baton.errors import BatonError, QueryTimeoutError
from baton.rollout import (
    DeployRequest,
    RolloutDecision,
    RolloutInput,
    RolloutState,
    VersionQuery,
    VersionRef,
    rollout_workflow_id,
)
from baton.runs import ApprovalEvent

__all__ = ["RolloutReport", "decide", "deploy", "identity", "read_state", "report"]

_QUERY_TIMEOUT = timedelta(seconds=10)


def identity(decider: str | None) -> str:
    """Who is changing a rollout: the configured decider, else the OS user."""
    return decider or getpass.getuser()


class RolloutReport(BaseModel):
    """``baton rollout status``: the state, the rule's last word, and how each version did."""

    model_config = ConfigDict(frozen=True)

    state: RolloutState
    last_check: str = ""
    versions: list[VersionStats] = Field(default_factory=list)  # stable first, then canary


async def read_state(client: Client, team: str) -> RolloutState | None:
    """The team's rollout state, or None when the team was never deployed."""
    handle = client.get_workflow_handle(rollout_workflow_id(team))
    try:
        state: RolloutState = await handle.query("state", result_type=RolloutState,
                                                 rpc_timeout=_QUERY_TIMEOUT)
    except RPCError as exc:
        if not_found(exc):
            return None
        raise QueryTimeoutError(
            f"the rollout state of team {team!r} did not answer ({exc.message}); is a worker "
            "running? (`baton up` or `baton worker`)") from exc
    return state


async def deploy(client: Client, task_queue: str, request: DeployRequest) -> RolloutState:
    """Deploy a version (stable, or canary for ``request.percent`` of new runs); the team's
    rollout workflow is started by its first deploy."""
    team = request.spec.name
    start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        "RolloutWorkflow", RolloutInput(team=team), id=rollout_workflow_id(team),
        task_queue=task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"rollout of team {team}",
        # It lives for ever: under worker versioning it follows new builds, never pinned.
        versioning_override=AutoUpgradeVersioningOverride())
    try:
        state: RolloutState = await client.execute_update_with_start_workflow(
            "deploy", request, start_workflow_operation=start, result_type=RolloutState)
    except WorkflowUpdateFailedError as exc:
        raise BatonError(f"deploy refused: {exc.cause or exc}") from exc
    return state


async def decide(client: Client, team: str, action: str, decision: RolloutDecision
                 ) -> RolloutState:
    """``promote`` or ``rollback`` the team's canary."""
    handle = client.get_workflow_handle(rollout_workflow_id(team))
    try:
        state: RolloutState = await handle.execute_update(action, decision,
                                                          result_type=RolloutState)
    except WorkflowUpdateFailedError as exc:
        raise BatonError(f"{action} refused: {exc.cause or exc}") from exc
    except RPCError as exc:
        if not_found(exc):
            raise BatonError(f"team {team!r} has no rollout; `baton deploy TEAM.yaml` first") \
                from exc
        raise
    return state


async def _approvals(reader: WorkflowReader, team: str, ref: VersionRef, query: VersionQuery,
                     sample: int) -> tuple[int, int] | None:
    """(decided, rejected) approvals of the newest ``sample`` finished runs of one version, from
    their run logs (members included); None when no run log could be read."""
    runs = [e.id async for e in reader.client.list_workflows(
        version_query(team, ref.digest, query) + " AND ExecutionStatus != 'Running'",
        limit=sample)]
    limit = asyncio.Semaphore(8)

    async def count(run_id: str) -> tuple[int, int] | None:
        async with limit:
            try:
                tree = await view(reader, run_id)
            except (BatonError, RPCError):
                return None
        events = [e for node in tree.walk() for e in node.events
                  if isinstance(e, ApprovalEvent)]
        decided = [e for e in events if e.action in ("approved", "rejected", "edited")]
        return len(decided), sum(e.action == "rejected" for e in decided)

    counted = [c for c in await asyncio.gather(*(count(r) for r in runs)) if c is not None]
    if runs and not counted:
        return None
    return sum(c[0] for c in counted), sum(c[1] for c in counted)


async def report(reader: WorkflowReader, team: str, *, sample: int = 50) -> RolloutReport:
    """The rollout state and both versions' numbers since the canary was deployed (all runs of
    the stable version when there is no canary)."""
    state = await read_state(reader.client, team)
    if state is None:
        raise BatonError(f"team {team!r} has no rollout; `baton deploy TEAM.yaml` first")
    refs = []
    if state.stable is not None:
        refs.append(VersionRef(digest=state.stable.digest, label=state.stable.label,
                               track="stable"))
    if state.canary is not None:
        refs.append(VersionRef(digest=state.canary.digest, label=state.canary.label,
                               track="canary"))
    query = VersionQuery(team=team, versions=refs, since=state.canary_since)
    stats = await read_version_stats(reader.client, query)
    with_approvals = []
    for ref, numbers in zip(refs, stats, strict=True):
        counted = await _approvals(reader, team, ref, query, sample)
        with_approvals.append(numbers if counted is None else numbers.model_copy(
            update={"approvals": counted[0], "approvals_rejected": counted[1]}))
    handle = reader.client.get_workflow_handle(rollout_workflow_id(team))
    last = await handle.query("last_check", result_type=str, rpc_timeout=_QUERY_TIMEOUT)
    return RolloutReport(state=state, last_check=last, versions=with_approvals)
