"""Release 2 of Baton's workflows, for the safe-deploy test: ``AgentWorkflow`` changed so that
it records its release in the memo first thing (one more command at the start: a version-1
history does not replay on it). A module of its own: the sandbox re-imports it per run. Its
annotations are objects, as Baton's workflow modules' are: Temporal requires an overriding run
method's parameters to match the ``__init__``'s exactly."""

from temporalio import workflow

from baton.runs import RunInput, RunResult
from baton.workflows import ALL_WORKFLOWS
from baton.workflows._admission import INVALID_INPUT
from baton.workflows.agent import AgentWorkflow

__all__ = ["RELEASE_2", "AgentWorkflowV2"]


@workflow.defn(name="AgentWorkflow", failure_exception_types=INVALID_INPUT)
class AgentWorkflowV2(AgentWorkflow):
    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        workflow.upsert_memo({"BatonRelease": "2"})
        return await super().run(run)


RELEASE_2 = [AgentWorkflowV2, *(w for w in ALL_WORKFLOWS if w.__name__ != "AgentWorkflow")]
