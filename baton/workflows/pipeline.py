"""``PipelineWorkflow``: fixed stages, each stage's output is the next stage's input.

Every stage (an agent or a sub-team) runs as a child workflow. A later stage's input is the
previous stage's typed output (its structured JSON when the stage has an output schema); what
else it sees follows its ``sees`` (``_propagation``): by default the original task and a digest
of the stages before the previous one, so the task never gets lost along the way. A stage with
an ``input_schema`` starts only on an input that matches it: the previous stage is run again
with a message naming the problem, at most the stage's ``max_input_fix_attempts`` times, then
the run ends ``input_invalid``. A stage that does not complete is re-run (a fresh child) up to
``stage_retries`` times, or, when it needs help and ``on_needs_help`` says so, once with a
larger slice (``_needs_help``); then the run ends with that stage's status, the outputs so far
in ``details`` and a reason saying how to resume.

Resume: ``RunInput.resume = {"from_stage": <index or name>, "outputs": {stage: output}}``
starts at that stage without re-running earlier ones (``resume_input`` builds it from a failed
run). Completed stages are never repeated, so their side effects happen once; the failed stage
starts afresh.
"""

import asyncio
from typing import Any

from temporalio import workflow

from baton.messages import Message, UserMessage
from baton.patterns import PipelineSpec, Sees
from baton.reports import NeedsHelp
from baton.runs import RunInput, RunResult, RunStatus
from baton.schemas import input_problem
from baton.workflows._admission import INVALID_INPUT
from baton.workflows._approval import Resolution
from baton.workflows._ending import conclude
from baton.workflows._inputs import INPUT_INVALID, InputFixes, contract_of, fix_message
from baton.workflows._needs_help import ask_person, settle
from baton.workflows._pattern import PatternHost, PatternRun, output_of
from baton.workflows._propagation import sees_of, stage_context

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
        self._help_notes: dict[str, str] = {}  # what the help policy did, per stage

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
            refused = await self._hold_input(task, index, outputs)
            if refused is not None:
                return refused
            pattern.current = stage
            result = await self._run_stage(task, index, outputs)
            if result.status is not RunStatus.COMPLETED:
                return self._stage_failed(stage, result, outputs)
            outputs[stage] = output_of(result)
            pattern.step = index + 1
        assert result is not None
        return pattern.finish(RunStatus.COMPLETED, result.output, None, self._details(outputs),
                              structured=result.structured)

    async def _run_stage(self, task: str, index: int, outputs: dict[str, str], *,
                         fix: str | None = None) -> RunResult:
        """One stage to its end: plain re-runs up to ``stage_retries``, or the team's help
        policy once when it needs help. ``fix``: what its last output lacked."""
        stage, team = self._spec.stages[index], self._pattern.team
        sees = sees_of(team, stage)
        text = self._task(task, index, outputs, sees) + (f"\n\n{fix}" if fix else "")
        context = stage_context(sees, stages=self._spec.stages, index=index, outputs=outputs,
                                limit=team.history.max_message_chars)
        result: RunResult | None = None
        for _ in range(self._spec.stage_retries + 1):
            self._attempts[stage] = self._attempts.get(stage, 0) + 1
            result = await self._pattern.members.run(stage, text, step=index + 1,
                                                     context=context, sees=sees)
            if result.needs_help is not None and self._spec.on_needs_help != "fail":
                return await self._help(result, index, text, context, sees)
            if result.status is RunStatus.COMPLETED or result.status in _NOT_RETRIED:
                break
        assert result is not None
        return result

    async def _help(self, result: RunResult, index: int, text: str,
                    context: list[Message], sees: Sees) -> RunResult:
        stage, pattern = self._spec.stages[index], self._pattern

        async def rerun(factor: float, hint: str | None) -> RunResult:
            assert result.needs_help is not None
            self._attempts[stage] += 1
            earlier = UserMessage(source="baton", content=(
                f"An earlier attempt at this stage stopped: {result.needs_help.text()}"))
            again = f"{text}\n\nHint for this attempt: {hint}" if hint else text
            return await pattern.members.run(stage, again, step=index + 1, grow=factor,
                                             context=[*context, earlier], sees=sees)

        async def ask(report: NeedsHelp) -> Resolution:
            counted = pattern.team.budget.count_human_wait
            return await ask_person(pattern.gate, self._spec, member=stage, report=report,
                                    step=index + 1, run_id=pattern.run_id,
                                    deadline=pattern.budget.deadline(workflow.now())
                                    if counted else None)

        settled, note = await settle(result, self._spec, member=stage, rerun=rerun, ask=ask)
        if note:
            self._help_notes[stage] = note
        return settled

    async def _hold_input(self, task: str, index: int, outputs: dict[str, str]
                          ) -> RunResult | None:
        """Hold the stage's input to its input schema: the previous stage answers again, told
        what is wrong, until it matches or the fix attempts are used up (the run's end)."""
        stages = self._spec.stages
        stage = stages[index]
        contract = contract_of(self._pattern.team, stage)
        if contract is None:
            return None
        if index == 0:  # the run's own input: no stage produced it, nobody to ask
            _, problem = input_problem(task, contract.input_schema)
            if problem is None:
                return None
            return self._pattern.finish(
                RunStatus.INPUT_INVALID, None, f"the run's input does not match {stage}'s "
                f"input_schema: {problem}", {**self._details(outputs), "failed_stage": stage},
                error_type=INPUT_INVALID)
        previous, fixes = stages[index - 1], InputFixes()
        while True:
            checked = fixes.check(stage, contract, outputs[previous], producer=previous)
            if checked.problem is None:
                return None
            if checked.exhausted:
                return self._pattern.finish(
                    RunStatus.INPUT_INVALID, self._last(outputs), checked.exhausted,
                    {**self._details(outputs), "failed_stage": previous},
                    error_type=INPUT_INVALID)
            fix = fix_message(stage, checked.problem, contract, how=f"answer again as "
                              f"{previous}") + f". Your previous output was: {outputs[previous]}"
            self._pattern.current = previous
            result = await self._run_stage(task, index - 1, outputs, fix=fix)
            if result.status is not RunStatus.COMPLETED:
                return self._stage_failed(previous, result, outputs)
            outputs[previous] = output_of(result)

    def _task(self, task: str, index: int, outputs: dict[str, str], sees: Sees) -> str:
        """The stage's task text: the run's task for the first stage (and a stage that sees
        only the task), else the task and the previous stage's output, its input."""
        stages = self._spec.stages
        if index == 0 or sees == "task":
            return task
        if sees == "none":
            return f"Do your part as {stages[index]}: stage {index + 1} of {len(stages)}."
        previous = stages[index - 1]
        return stage_task(task, previous, outputs[previous])

    def _stage_failed(self, stage: str, result: RunResult, outputs: dict[str, str]) -> RunResult:
        attempts = self._attempts[stage]
        reason = (
            f"stage {stage!r} ended {result.status.value} after {attempts} attempt(s): "
            f"{result.reason or 'no reason given'}. `baton resume {self._pattern.run_id}` goes on "
            f"from stage {stage!r} without re-running the stages that completed")
        details = {**self._details(outputs), "failed_stage": stage,
                   "stage_error_type": result.error_type}
        # A stage that needed help makes the pipeline need it: a parent team's policy applies.
        return self._pattern.finish(result.status, self._last(outputs), reason, details,
                                    error_type="stage_failed", needs_help=result.needs_help)

    def _last(self, outputs: dict[str, str]) -> str | None:
        """The best partial answer: the output of the last stage that completed."""
        done = [s for s in self._spec.stages if s in outputs]
        return outputs[done[-1]] if done else None

    def _details(self, outputs: dict[str, str]) -> dict[str, Any]:
        details = {"completed_stages": [s for s in self._spec.stages if s in outputs],
                   "outputs": dict(outputs), "attempts": dict(self._attempts)}
        return {**details, "help": dict(self._help_notes)} if self._help_notes else details
