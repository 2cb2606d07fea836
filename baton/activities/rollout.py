"""How the runs of each team version went, read from Temporal visibility: the numbers the
rollout workflow's automatic rule judges a canary by, and what ``baton rollout status`` shows.

Only what visibility holds for every run is read here (``BatonStatus``, ``BatonCostUSD``, start
and close times, of top-level runs carrying ``BatonTeamVersion``), so a check costs one list
call per version however many runs there are, and needs no worker to replay anything.
"""

from __future__ import annotations

from datetime import UTC

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus

from baton.canary import VersionStats, percentile
from baton.rollout import VersionQuery, VersionRef
from baton.visibility import COST_USD, STATUS, TEAM, VERSION

__all__ = ["RolloutActivities", "read_version_stats", "version_query"]

_CLOSED_AS = {
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
}


def version_query(team: str, digest: str, query: VersionQuery) -> str:
    """The visibility query for one version's top-level runs (team names and digests hold no
    quotes: both are validated names)."""
    text = (f"{TEAM.name} = '{team}' AND {VERSION.name} = '{digest}' "
            "AND ParentWorkflowId is null")
    if query.since is not None:
        text += f" AND StartTime > '{query.since.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}'"
    return text


async def _stats(client: Client, ref: VersionRef, query: VersionQuery) -> VersionStats:
    running = finished = completed = 0
    statuses: dict[str, int] = {}
    cost = 0.0
    durations: list[float] = []
    async for run in client.list_workflows(version_query(query.team, ref.digest, query),
                                           limit=query.limit):
        if run.status in (None, WorkflowExecutionStatus.RUNNING):
            running += 1
            continue
        attrs = run.typed_search_attributes
        # A run that crashed closes without the status it would have set: its Temporal status.
        status = attrs.get(STATUS) or _CLOSED_AS.get(run.status, "failed")
        if status in ("running", "awaiting_approval"):
            status = _CLOSED_AS.get(run.status, "failed")
        finished += 1
        completed += status == "completed"
        statuses[status] = statuses.get(status, 0) + 1
        cost += attrs.get(COST_USD) or 0.0
        if run.close_time is not None:
            durations.append((run.close_time - run.start_time).total_seconds())
    return VersionStats(digest=ref.digest, label=ref.label, track=ref.track, runs=finished,
                        running=running, completed=completed, statuses=statuses,
                        cost_usd=round(cost, 6), p50_s=percentile(durations, 0.5),
                        p95_s=percentile(durations, 0.95))


async def read_version_stats(client: Client, query: VersionQuery) -> list[VersionStats]:
    """One ``VersionStats`` per version of ``query``, in its order."""
    return [await _stats(client, ref, query) for ref in query.versions]


class RolloutActivities:
    """``client`` is set by the plugin once the worker exists."""

    def __init__(self) -> None:
        self.client: Client | None = None

    @activity.defn(name="version_stats")
    async def version_stats(self, query: VersionQuery) -> list[VersionStats]:
        if self.client is None:
            raise RuntimeError("the version stats activity runs on a worker built by BatonPlugin")
        return await read_version_stats(self.client, query)
