"""``HierarchicalWorkflow``: a top router delegates to teams that have their own supervisors.

It is the supervisor pattern one level up: the router runs here (``build_router`` /
``run_router`` from ``baton.workflows.supervisor``), each worker is a sub-team run as a child
workflow (``SupervisorWorkflow`` or, nested, another ``HierarchicalWorkflow``). Two bounds:

* depth: a team nesting deeper than ``max_depth`` (``TeamSpec.depth()``) ends at once with
  ``FAILED`` / ``error_type="depth_exceeded"`` (the loader already refuses such YAML; this is
  the typed answer for specs built in code);
* budget: each delegation receives ``budget_share`` of the budget this run has left, so every
  level down gets a shrinking slice and a runaway sub-team cannot spend the whole run.
"""

from temporalio import workflow

from baton.runs import FinishedEvent, RunInput, RunResult, RunStatus
from baton.workflows._admission import INVALID_INPUT
from baton.workflows._ending import conclude
from baton.workflows._host import AgentHost, set_status
from baton.workflows.supervisor import build_router, run_router

__all__ = ["HierarchicalWorkflow"]


def _problem(run: RunInput) -> tuple[str, str] | None:
    """(error type, reason) when the team cannot run hierarchically, else None."""
    team, spec = run.team, run.team.hierarchical
    assert spec is not None  # TeamSpec validates the section per pattern
    if team.depth() > spec.max_depth:
        return "depth_exceeded", (f"team {team.name!r} nests {team.depth()} levels deep, more "
                                  f"than max_depth={spec.max_depth}")
    for worker in spec.workers:
        sub = team.teams.get(worker)
        if sub is None or sub.pattern not in ("supervisor", "hierarchical"):
            return "invalid_team", (f"worker {worker!r} must be a sub-team with its own "
                                    "supervisor (pattern supervisor or hierarchical)")
    return None


@workflow.defn(name="HierarchicalWorkflow", failure_exception_types=INVALID_INPUT)
class HierarchicalWorkflow(AgentHost):
    @workflow.init
    def __init__(self, run: RunInput) -> None:
        spec = run.team.hierarchical
        assert spec is not None
        self._loop, self._delegation = build_router(run, spec, share=spec.budget_share)

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        return conclude(await self._run(run))

    async def _run(self, run: RunInput) -> RunResult:
        refused = await self._admit(run)
        if refused is not None:
            return refused
        problem = _problem(run)
        if problem is not None:
            # Ends before the router's first model call: nothing was spent, nothing delegated.
            error_type, reason = problem
            loop = self._loop
            loop.status = RunStatus.FAILED
            loop.log.add(FinishedEvent, step=0, status=RunStatus.FAILED, reason=reason)
            set_status(RunStatus.FAILED, cost_usd=0.0)
            return RunResult(run_id=loop.run_id, team=run.team.name, agent=loop.agent.name,
                             status=RunStatus.FAILED, reason=reason, error_type=error_type,
                             details={"depth": run.team.depth()})
        result = await run_router(self._loop, self._delegation, run)
        spec = run.team.hierarchical
        assert spec is not None
        return result.model_copy(update={"details": {
            **result.details, "depth": run.team.depth(), "max_depth": spec.max_depth,
            "budget_share": spec.budget_share}})
