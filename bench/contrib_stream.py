"""The alternative the event-stream benchmark measures: Temporal's workflow-streams contrib.

``ContribStreamedAgent`` is Baton's ``AgentWorkflow`` with a ``WorkflowStream`` that publishes
every run-log event as it is logged (the one hook such a design needs, on ``RunLog.add``);
clients subscribe with ``WorkflowStreamClient.subscribe`` as the contrib documents it. It lives
here only, to be measured: Baton streams its run log with its own ``events`` update.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.contrib.workflow_streams import WorkflowStream

from baton.runs import RunEvent, RunInput, RunResult
from baton.workflows.agent import AgentWorkflow

TOPIC = "events"


@workflow.defn(name="ContribStreamedAgent")
class ContribStreamedAgent(AgentWorkflow):
    @workflow.init
    def __init__(self, run: RunInput) -> None:
        super().__init__(run)
        self._stream = WorkflowStream()
        topic = self._stream.topic(TOPIC)
        log = self._loop.log
        add = log.add

        def publishing(event_type: type[Any], *, step: int, **fields: Any) -> RunEvent:
            event = add(event_type, step=step, **fields)
            topic.publish(event)
            return event

        log.add = publishing  # type: ignore[method-assign]  # the hook, for this measurement

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        result = await super().run(run)
        # Subscribers poll with updates; let the last ones collect the end before closing.
        self._stream.detach_pollers()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result
