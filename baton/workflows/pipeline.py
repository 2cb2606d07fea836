"""``PipelineWorkflow``: fixed stages, each stage's output is the next stage's input.

Every stage (an agent or a sub-team) runs as a child workflow. A later stage sees the original
task and the previous stage's typed output (its structured JSON when the stage has an output
schema), so the task never gets lost along the way. A stage that does not complete is re-run
(a fresh child) up to ``stage_retries`` times; then the run ends with that stage's status, the
outputs so far in ``details`` and a reason saying how to resume.

Resume: ``RunInput.resume = {"from_stage": <index or name>, "outputs": {stage: output}}``
starts at that stage without re-running earlier ones (``resume_input`` builds it from a failed
run). Completed stages are never repeated, so their side effects happen once; the failed stage
starts afresh.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

from baton.patterns import PipelineSpec
from baton.runs import RunInput, RunResult, RunStatus
from baton.workflows._admission import INVALID_INPUT
from baton.workflows._ending import conclude
from baton.workflows._pattern import PatternHost, PatternRun, output_of

__all__ = ["INPUT_FROM", "PipelineWorkflow", "read_stage_task", "resume_input", "stage_task"]

# Re-running cannot help when the money or the time is gone, a person cancelled the stage, the
# model refused the stage's input or the input does not fit its context: it would end the same way.
_NOT_RETRIED = frozenset({RunStatus.BUDGET_EXHAUSTED, RunStatus.TENANT_BUDGET_EXHAUSTED,
                          RunStatus.CANCELLED, RunStatus.REFUSED, RunStatus.CONTEXT_EXCEEDED})


INPUT_FROM = "Input from "


def stage_task(task: str, previous: str, output: str) -> str:
    """A later stage's task: the original task, then the previous stage's output."""
    return f"Task: {task}\n\n{INPUT_FROM}{previous}: {output}"


def read_stage_task(text: str) -> tuple[str, str, str] | None:
    """(task, previous stage, its output) of a ``stage_task`` text, else None. The last input
    counts: in a pipeline nested in a pipeline the task itself holds an earlier one."""
    head, found, rest = text.rpartition(f"\n\n{INPUT_FROM}")
    previous, colon, output = rest.partition(": ")
    if not found or not colon or not head.startswith("Task: "):
        return None
    return head.removeprefix("Task: "), previous, output


def resume_input(run: RunInput, failed: RunResult) -> RunInput:
    """The input of a new run that continues ``failed`` (a pipeline run started with ``run``)
    at its failed stage, reusing the outputs of the stages that completed."""
    stage = failed.details.get("failed_stage")
    if stage is None:
        raise ValueError(f"run {failed.run_id!r} has no failed stage to resume from")
    return run.model_copy(update={"resume": {"from_stage": stage,
                                             "outputs": dict(failed.details.get("outputs", {}))}})


class _Resume:
    """Where a run starts and which outputs it inherits; ``error`` when the payload is unusable."""

    def __init__(self, spec: PipelineSpec, resume: dict[str, Any]) -> None:
        self.start, self.error = 0, ""
        self.outputs: dict[str, str] = {}
        if not resume:
            return
        stages = list(spec.stages)
        where = resume.get("from_stage", 0)
        if isinstance(where, int) and not isinstance(where, bool) and 0 <= where < len(stages):
            self.start = where
        elif isinstance(where, str) and where in stages:
            self.start = stages.index(where)
        else:
            self.error = f"resume from_stage {where!r} is neither a stage name nor an index"
            return
        given = resume.get("outputs") or {}
        if not isinstance(given, dict):
            self.error = "resume outputs must map stage names to outputs"
            return
        # Only the stages before the start count: a later stage's output would be stale.
        self.outputs = {s: str(given[s]) for s in stages[: self.start] if s in given}
        if self.start > 0 and stages[self.start - 1] not in self.outputs:
            self.error = (f"resuming at {stages[self.start]!r} needs the output of "
                          f"{stages[self.start - 1]!r} in resume outputs")


@workflow.defn(name="PipelineWorkflow", failure_exception_types=INVALID_INPUT)
class PipelineWorkflow(PatternHost):
    @workflow.init
    def __init__(self, run: RunInput) -> None:
        assert run.team.pipeline is not None  # TeamSpec validates the section per pattern
        self._spec = run.team.pipeline
        self._pattern = PatternRun(run, max_steps=len(self._spec.stages))
        self._attempts: dict[str, int] = {}

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        return conclude(await self._run(run))

    async def _run(self, run: RunInput) -> RunResult:
        refused = await self._pattern.start()
        if refused is not None:
            return refused
        resume = _Resume(self._spec, run.resume)
        if resume.error:
            return self._pattern.finish(RunStatus.FAILED, reason=resume.error,
                                        error_type="invalid_resume")
        outputs = resume.outputs
        try:
            return await self._run_stages(run.input, resume.start, outputs)
        except asyncio.CancelledError:
            return self._pattern.finish(RunStatus.CANCELLED, self._last(outputs),
                                        "the run was cancelled", self._details(outputs))

    async def _run_stages(self, task: str, start: int, outputs: dict[str, str]) -> RunResult:
        pattern, stages = self._pattern, self._spec.stages
        pattern.step = start  # stages before a resume point count as done
        result: RunResult | None = None
        for index in range(start, len(stages)):
            stage = stages[index]
            pattern.current = stage
            stage_task = self._task(task, index, outputs)
            for attempt in range(1, self._spec.stage_retries + 2):
                self._attempts[stage] = attempt
                result = await pattern.members.run(stage, stage_task, step=index + 1)
                if result.status is RunStatus.COMPLETED or result.status in _NOT_RETRIED:
                    break
            assert result is not None
            if result.status is not RunStatus.COMPLETED:
                return self._stage_failed(stage, result, outputs)
            outputs[stage] = output_of(result)
            pattern.step = index + 1
        assert result is not None
        return pattern.finish(RunStatus.COMPLETED, result.output, None, self._details(outputs),
                              structured=result.structured)

    def _task(self, task: str, index: int, outputs: dict[str, str]) -> str:
        if index == 0:
            return task
        previous = self._spec.stages[index - 1]
        return stage_task(task, previous, outputs[previous])

    def _stage_failed(self, stage: str, result: RunResult, outputs: dict[str, str]) -> RunResult:
        attempts = self._attempts[stage]
        reason = (
            f"stage {stage!r} ended {result.status.value} after {attempts} attempt(s): "
            f"{result.reason or 'no reason given'}. `baton resume {self._pattern.run_id}` goes on "
            f"from stage {stage!r} without re-running the stages that completed")
        details = {**self._details(outputs), "failed_stage": stage,
                   "stage_error_type": result.error_type}
        return self._pattern.finish(result.status, self._last(outputs), reason, details,
                                    error_type="stage_failed")

    def _last(self, outputs: dict[str, str]) -> str | None:
        """The best partial answer: the output of the last stage that completed."""
        done = [s for s in self._spec.stages if s in outputs]
        return outputs[done[-1]] if done else None

    def _details(self, outputs: dict[str, str]) -> dict[str, Any]:
        return {"completed_stages": [s for s in self._spec.stages if s in outputs],
                "outputs": dict(outputs), "attempts": dict(self._attempts)}
