"""``AgentWorkflow``: one agent's durable loop, the run workflow of pattern ``single`` and the
child every other pattern starts per agent (so the Temporal UI shows the tree).

Public interface (people type these names): query ``status``, ``messages``, ``run_log``,
``pending_approvals``; signal and update ``decide``; update and query ``events`` (the live
event stream, ``baton.streaming``).
"""

from temporalio import workflow

from baton.runs import RunInput, RunResult, RunStatus
from baton.workflows._admission import INVALID_INPUT
from baton.workflows._agent_loop import AgentLoop, ContinueAsNew
from baton.workflows._ending import conclude
from baton.workflows._host import AgentHost, set_status

__all__ = ["AgentWorkflow"]


@workflow.defn(name="AgentWorkflow", failure_exception_types=INVALID_INPUT)
class AgentWorkflow(AgentHost):
    @workflow.init
    def __init__(self, run: RunInput) -> None:
        # Built in __init__ so queries, signals and updates that arrive with the first workflow
        # task already find the loop (and its approval gate).
        info = workflow.info()
        # A child agent belongs to its parent's run; a top-level agent *is* the run.
        run_id = run.parent_run_id or info.workflow_id
        agent = run.team.agent(run.agent).name
        path = agent if run.parent_run_id is None else f"{info.workflow_id}/{agent}"
        self._loop = AgentLoop(run, run_id=run_id, path=path, on_status=set_status)

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        return conclude(await self._run(run))

    async def _run(self, run: RunInput) -> RunResult:
        refused = await self._admit(run)
        if refused is not None:
            return refused
        if run.carry is None and run.parent_run_id is None:  # members get it at start
            set_status(RunStatus.RUNNING)
        try:
            result = await self._loop.run_to_end()
        except ContinueAsNew as cut:
            # Let in-flight update handlers (decide) finish before the run is replaced.
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(run.model_copy(update={
                "carry": cut.carry, "catalog": self._loop.catalog}))
        set_status(result.status, cost_usd=result.cost_usd)
        return result
