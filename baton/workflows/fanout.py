"""``FanoutWorkflow``: the input (or a split of it) to N branches in parallel, then a merge.

Split: ``none`` gives every branch the whole task. ``lines`` / ``paragraphs`` cut the task into
non-empty parts; part ``j`` goes to branch ``j % N`` — branches cycle over the parts, so every
part is handled even when there are more parts than branches, and with fewer parts the trailing
branches stay idle. Each (branch, part) is one job and one child workflow.

At most ``max_concurrency`` jobs run at once (an ``asyncio.Semaphore``: FIFO, deterministic on
Temporal's workflow event loop). A running job's slice is reserved in the run's budget until it
ends, and a starting job gets an even share of what is neither spent nor reserved over the free
slots, so jobs running together split the budget and the run cannot overshoot it. Once the
budget is used up no further job starts (those jobs end ``budget_exhausted``). The merger gets
what remains.

Merge: ``agent`` (the merger sees the task and every labelled output, plus a note on failed
branches), ``concat`` (outputs joined in job order), ``vote`` (majority of normalised outputs,
ties to the earliest), ``best_of`` (the merger judges numbered candidates and answers with a
number or the text; a lone surviving candidate wins without a judge call). Failed jobs are
reported in ``children`` and ``details.failed_branches`` and the merge says what it had; when
every job fails the run is FAILED.
"""

import asyncio
import re
from collections import Counter
from typing import Any

from temporalio import workflow

from baton.patterns import FanoutSpec
from baton.runs import RunInput, RunResult, RunStatus
from baton.workflow_records import FanoutJob as _Job
from baton.workflows._admission import INVALID_INPUT
from baton.workflows._ending import conclude
from baton.workflows._pattern import PatternHost, PatternRun, output_of

__all__ = ["FAILED_BRANCHES", "OUTPUT_OF", "FanoutWorkflow", "split_task"]

# How the merger's input is laid out (the scripted model reads it by these markers):
OUTPUT_OF = "--- Output of "  # merge "agent": "--- Output of <label>:\n<output>" per branch
FAILED_BRANCHES = "Failed branches (no output): "  # then "<label>: <why>; <label>: <why>"


def split_task(task: str, split: str) -> list[str]:
    """The parts of ``task`` for ``split``; the whole task when it has no parts."""
    if split == "lines":
        parts = [line.strip() for line in task.splitlines()]
    elif split == "paragraphs":
        parts = [block.strip() for block in re.split(r"\n\s*\n", task)]
    else:
        parts = [task]
    return [p for p in parts if p] or [task]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip().rstrip(".!?").strip()


@workflow.defn(name="FanoutWorkflow", failure_exception_types=INVALID_INPUT)
class FanoutWorkflow(PatternHost):
    @workflow.init
    def __init__(self, run: RunInput) -> None:
        assert run.team.fanout is not None  # TeamSpec validates the section per pattern
        self._spec: FanoutSpec = run.team.fanout
        branches = self._spec.branches
        parts = split_task(run.input, self._spec.split)
        if self._spec.split == "none":
            self._jobs = [_Job(i, b, run.input) for i, b in enumerate(branches)]
        else:
            self._jobs = [_Job(j, branches[j % len(branches)], p) for j, p in enumerate(parts)]
        merges = 1 if self._spec.merge in ("agent", "best_of") else 0
        self._pattern = PatternRun(run, max_steps=len(self._jobs) + merges)
        self._slots = min(self._spec.max_concurrency, len(self._jobs))
        self._running = 0
        self.peak_running = 0  # the most jobs running at once, for details

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        return conclude(await self._run(run))

    async def _run(self, run: RunInput) -> RunResult:
        pattern = self._pattern
        refused = await pattern.start()
        if refused is not None:
            return refused
        if len(self._jobs) > self._spec.max_branches:
            # Every job is a child workflow: a task split into thousands of lines must not
            # start thousands of runs. Refused before any starts.
            return pattern.finish(
                RunStatus.FAILED, reason=f"the task splits into {len(self._jobs)} jobs; this "
                f"team allows at most max_branches={self._spec.max_branches} (raise it, or "
                "split the input into several runs)", error_type="too_many_branches",
                details=self._details())
        gate = asyncio.Semaphore(self._slots)
        try:
            await asyncio.gather(*(self._branch(job, gate) for job in self._jobs))
            return await self._merge(run.input)
        except asyncio.CancelledError:
            return pattern.finish(RunStatus.CANCELLED, reason="the run was cancelled",
                                  details=self._details())

    async def _branch(self, job: _Job, gate: asyncio.Semaphore) -> None:
        async with gate:
            self._running += 1
            self.peak_running = max(self.peak_running, self._running)
            try:
                # What is neither spent nor reserved by running jobs, split evenly over the
                # slots still free (this one included): concurrent jobs get equal slices.
                share = 1 / (self._slots - self._running + 1)
                job.result = await self._pattern.members.run(
                    job.branch, job.task, step=job.index + 1, share=share)
            finally:
                self._running -= 1
                self._pattern.step += 1

    # -- merge --------------------------------------------------------------------------------
    async def _merge(self, task: str) -> RunResult:
        pattern, done = self._pattern, [j for j in self._jobs if j.ok]
        failed = [j for j in self._jobs if not j.ok]
        if not done:
            reasons = "; ".join(f"{j.label}: {self._why(j)}" for j in failed)
            return pattern.finish(RunStatus.FAILED, reason=f"all {len(failed)} branches "
                                  f"failed: {reasons}", details=self._details(),
                                  error_type="all_branches_failed")
        note = self._note(done, failed)
        merge = self._spec.merge
        if merge == "concat":
            text = "\n\n".join(output_of(j.result) for j in done if j.result)
            return pattern.finish(RunStatus.COMPLETED, text + (f"\n\n({note})" if failed else ""),
                                  note, self._details())
        if merge == "vote":
            return self._vote(done, note)
        assert self._spec.merger is not None  # FanoutSpec requires it for agent and best_of
        if merge == "best_of":
            return await self._best_of(task, done, note)
        outputs = "\n\n".join(f"{OUTPUT_OF}{j.label}:\n{output_of(j.result)}"
                              for j in done if j.result)
        failures = (f"\n\n{FAILED_BRANCHES}"
                    + "; ".join(f"{j.label}: {self._why(j)}" for j in failed)) if failed else ""
        merged = await self._run_merger(f"Task: {task}\n\nMerge these branch outputs into one "
                                        f"answer.\n\n{outputs}{failures}")
        if merged.status is not RunStatus.COMPLETED:
            return self._merger_failed(merged, done)
        return pattern.finish(RunStatus.COMPLETED, merged.output, note, self._details(),
                              structured=merged.structured)

    def _vote(self, done: list[_Job], note: str) -> RunResult:
        texts = [output_of(j.result) for j in done if j.result]
        votes = Counter(_normalise(t) for t in texts)
        top = max(votes.values())
        # Ties go to the earliest job: iterate in job order and take the first with top votes.
        winner = next(t for t in texts if votes[_normalise(t)] == top)
        details = {**self._details(), "votes": dict(votes), "winner_votes": top}
        return self._pattern.finish(RunStatus.COMPLETED, winner,
                                    f"{top} of {len(texts)} votes; {note}", details)

    async def _best_of(self, task: str, done: list[_Job], note: str) -> RunResult:
        texts = [output_of(j.result) for j in done if j.result]
        if len(texts) == 1:  # nothing to judge: the only candidate wins without a model call
            return self._pattern.finish(RunStatus.COMPLETED, texts[0], note,
                                        {**self._details(), "best": done[0].label})
        numbered = "\n\n".join(f"Candidate {n} (from {j.label}):\n{t}"
                               for n, (j, t) in enumerate(zip(done, texts, strict=True), 1))
        judged = await self._run_merger(
            f"Task: {task}\n\nPick the best candidate answer. Reply with its number only "
            f"(1-{len(texts)}).\n\n{numbered}")
        if judged.status is not RunStatus.COMPLETED:
            return self._merger_failed(judged, done)
        pick, how = self._pick(judged.output or "", texts)
        details = {**self._details(), "best": done[pick].label, "judge_answer": judged.output,
                   "picked_by": how}
        return self._pattern.finish(RunStatus.COMPLETED, texts[pick], note, details)

    @staticmethod
    def _pick(answer: str, texts: list[str]) -> tuple[int, str]:
        """Which candidate the judge meant: a number, else the candidate's text, else the first."""
        number = re.search(r"\d+", answer)
        if number and 1 <= int(number.group()) <= len(texts):
            return int(number.group()) - 1, "number"
        said = _normalise(answer)
        for index, text in enumerate(texts):
            if said and (_normalise(text) == said or _normalise(text) in said):
                return index, "text"
        return 0, "fallback (the judge named no candidate; took the first)"

    async def _run_merger(self, task: str) -> RunResult:
        merger, pattern = self._spec.merger, self._pattern
        assert merger is not None
        pattern.current = merger
        step = len(self._jobs) + 1
        if pattern.team.member_kind(merger) == "agent":
            # The merger runs in this workflow (like a supervisor's router): after the branches
            # nothing runs beside it, so a child workflow would only add its start and its end.
            result = await pattern.host_agent(merger, task, step=step)
        else:
            result = await pattern.members.run(merger, task, step=step)
        pattern.step += 1
        return result

    def _merger_failed(self, merged: RunResult, done: list[_Job]) -> RunResult:
        # Keep the branches' work as the partial answer: the merge failed, not the branches.
        partial = "\n\n".join(output_of(j.result) for j in done if j.result)
        return self._pattern.finish(
            merged.status, partial, f"merge by {self._spec.merger} ended "
            f"{merged.status.value}: {merged.reason or 'no reason given'}", self._details(),
            error_type="merge_failed")

    # -- reporting ----------------------------------------------------------------------------
    @staticmethod
    def _why(job: _Job) -> str:
        result = job.result
        if result is None:
            return "did not run"
        return f"{result.status.value}: {result.reason or 'no reason given'}"

    def _note(self, done: list[_Job], failed: list[_Job]) -> str:
        note = f"merged {len(done)} of {len(self._jobs)} branch outputs"
        if failed:
            note += "; failed: " + "; ".join(f"{j.label} ({self._why(j)})" for j in failed)
        return note

    def _details(self) -> dict[str, Any]:
        return {
            "merge": self._spec.merge, "split": self._spec.split,
            "jobs": [{"branch": j.branch, "task": j.task[:200],
                      "status": j.result.status.value if j.result else None}
                     for j in self._jobs],
            "failed_branches": list(dict.fromkeys(j.branch for j in self._jobs if not j.ok)),
            "max_concurrency": self._slots, "peak_running": self.peak_running,
        }
