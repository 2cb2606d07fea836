"""``DebateWorkflow``: peers argue over rounds, seeing each other's latest positions; a judge
decides.

Each round every active debater (an agent or a sub-team, each a child workflow) gets the
question plus the other debaters' latest positions as labelled ``AgentMessage``s and answers.
Debaters run concurrently within a round; rounds run one after another.

Agreement is decided deterministically, never by a model: every debater is asked to begin its
answer with one line ``POSITION: <short stance>``. The stance is normalised (lower case,
punctuation and extra spaces removed) and compared exactly. ``unanimous``: every debater that
answered this round holds the same stance; ``majority``: one stance is held by more than half of
them; ``none``: the debate always runs ``max_rounds``. An answer without a POSITION line agrees
with nobody. The debate stops at consensus or after ``max_rounds``; either way the judge gets the
final positions and the round history, and its answer is the run's answer. Running out of rounds
is not a failure (the judge still decides) but is said in ``reason`` and ``details``.

A debater that fails drops out; the debate goes on with the others and the judge is told.
"""

import asyncio
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from temporalio import workflow

from baton.messages import AgentMessage
from baton.patterns import DebateSpec
from baton.runs import RunInput, RunResult, RunStatus
from baton.workflows._admission import INVALID_INPUT
from baton.workflows._ending import conclude
from baton.workflows._pattern import PatternHost, PatternRun

__all__ = ["POSITION_INSTRUCTION", "POSITION_PREFIX", "DebateWorkflow", "consensus", "normalise",
           "stance_of"]

POSITION_PREFIX = "POSITION:"
# Every debater's task carries this instruction (the scripted model recognises a debater's turn
# by it); ``stance_of`` reads the line back.
POSITION_INSTRUCTION = (
    f"Begin your answer with one line `{POSITION_PREFIX} <short stance>` (a few words; use the "
    "same words as a debater you agree with), then argue for it briefly.")

_POSITION = re.compile(r"^\s*\**position\**\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


def stance_of(text: str | None) -> str | None:
    """The stance of the first ``POSITION:`` line (models sometimes add a preamble)."""
    match = _POSITION.search(text or "")
    return match.group(1).strip("*").strip() if match else None


def normalise(stance: str) -> str:
    return re.sub(r"[\W_]+", " ", stance.lower()).strip()


def consensus(stances: Mapping[str, str | None], rule: str) -> str | None:
    """The agreed normalised stance under ``rule``, or None. At least two debaters must answer:
    one voice agreeing with itself is not a consensus."""
    if rule == "none" or len(stances) < 2:
        return None
    counts = Counter(normalise(s) for s in stances.values() if s and normalise(s))
    if not counts:
        return None
    top, votes = counts.most_common(1)[0]
    needed = len(stances) if rule == "unanimous" else len(stances) // 2 + 1
    return top if votes >= needed else None


class _Debate:
    def __init__(self, pattern: PatternRun, spec: DebateSpec) -> None:
        self.p, self.spec = pattern, spec
        carried = pattern.state  # a continuation goes on from the last round it finished
        self.active: list[str] = carried.get("active", list(spec.debaters))
        # debater → (round, full answer)
        self.latest: dict[str, tuple[int, str]] = {
            d: (int(r), str(text)) for d, (r, text) in carried.get("latest", {}).items()}
        self.failed: dict[str, str] = carried.get("failed", {})  # debater → why it dropped out
        self.rounds: list[dict[str, Any]] = carried.get("rounds", [])

    def _state(self) -> dict[str, Any]:
        return {"active": self.active, "latest": {d: list(v) for d, v in self.latest.items()},
                "failed": self.failed, "rounds": self.rounds}

    def _message(self, source: str, destination: str) -> str:
        round_no, text = self.latest[source]
        message = AgentMessage(
            source=source, destination=destination, kind="report",
            trace_id=self.p.input.trace_id,
            payload={"round": round_no, "position": stance_of(text), "argument": text})
        return message.model_dump_json()

    def _task(self, debater: str, round_no: int) -> str:
        # Debaters who dropped out are no longer part of the exchange (the judge still sees them).
        others = [d for d in self.latest if d != debater and d in self.active]
        lines = [
            f"Debate question: {self.p.input.input}", "",
            f"Round {round_no} of at most {self.spec.max_rounds}. {POSITION_INSTRUCTION}",
        ]
        if others:
            lines += ["", "The other debaters' latest positions (one JSON message each):",
                      *(self._message(d, debater) for d in others)]
        else:
            lines += ["", "This is the opening round: state your own position."]
        return "\n".join(lines)

    async def _round(self, round_no: int) -> dict[str, str | None]:
        """Run one round concurrently; returns the stances of the debaters that answered."""
        debaters = list(self.active)
        self.p.current = ", ".join(debaters)
        tasks = [self._task(d, round_no) for d in debaters]  # all see the previous round
        share = 1.0 / len(debaters)
        results = await asyncio.gather(*(self.p.members.run(d, t, step=round_no, share=share)
                                         for d, t in zip(debaters, tasks, strict=True)))
        stances: dict[str, str | None] = {}
        failed: dict[str, str] = {}
        for debater, result in zip(debaters, results, strict=True):
            if result.status is RunStatus.COMPLETED:
                self.latest[debater] = (round_no, result.output or "")
                stances[debater] = stance_of(result.output)
            else:
                failed[debater] = f"[{result.status.value}] {result.reason or ''}".strip()
                self.active.remove(debater)
        self.failed.update({d: f"round {round_no}: {why}" for d, why in failed.items()})
        self.rounds.append({"round": round_no, "positions": stances, "failed": failed})
        self.p.step = round_no
        return stances

    def _judge_task(self, outcome: str) -> str:
        history = [f"Round {r['round']}: " + "; ".join(
            f"{d}: {s or '(no POSITION line)'}" for d, s in r["positions"].items())
            + "".join(f"; {d} failed" for d in r["failed"]) for r in self.rounds]
        lines = [f"Question: {self.p.input.input}", "", f"Outcome of the debate: {outcome}.",
                 "", "Round history:", *history, "",
                 "Final positions (one JSON message each):",
                 *(self._message(d, self.spec.judge) for d in self.latest)]
        if self.failed:
            lines += ["", "Debaters that failed and dropped out (their last position, if any, "
                      "is above):", *(f"- {d}: {why}" for d, why in self.failed.items())]
        lines += ["", "As the judge, weigh the arguments and give the final answer."]
        return "\n".join(lines)

    def _positions_text(self) -> str:
        return "\n".join(f"{d}: {stance_of(text) or text[:200]}"
                         for d, (_, text) in self.latest.items())

    async def run(self) -> RunResult:
        refused = await self.p.start()
        if refused is not None:
            return refused
        try:
            return await self._debate()
        except asyncio.CancelledError:
            return self._finish(RunStatus.CANCELLED, self._positions_text() or None,
                                "the run was cancelled", agreed=False)

    async def _debate(self) -> RunResult:
        agreed: str | None = None
        stop = f"no consensus after max_rounds={self.spec.max_rounds}"
        for round_no in range(len(self.rounds) + 1, self.spec.max_rounds + 1):
            await self.p.continue_if_long(self._state())
            stances = await self._round(round_no)
            exhausted = self.p.budget.exhausted(workflow.now())
            if exhausted:
                return self._finish(RunStatus.BUDGET_EXHAUSTED, self._positions_text() or None,
                                    exhausted, agreed=False)
            agreed = consensus(stances, self.spec.consensus)
            if agreed is not None:
                stop = f"{self.spec.consensus} consensus in round {round_no}: {agreed!r}"
                break
            if len(self.active) < 2:
                stop = (f"only {len(self.active)} debater(s) left after round {round_no}, "
                        "no consensus")
                break
        if not self.latest:
            # Debaters that ran out of budget mean the run did: say so, not "failed".
            broke = any(why.startswith(f"round 1: [{RunStatus.BUDGET_EXHAUSTED.value}]")
                        for why in self.failed.values())
            return self._finish(
                RunStatus.BUDGET_EXHAUSTED if broke else RunStatus.FAILED, None,
                "every debater failed; nothing to judge", agreed=False,
                error_type="debaters_failed")
        self.p.current = self.spec.judge
        judged = await self.p.members.run(self.spec.judge, self._judge_task(stop),
                                          step=self.p.step + 1)
        self.p.step += 1
        if judged.status is not RunStatus.COMPLETED:
            return self._finish(
                judged.status, self._positions_text(),
                f"judge {self.spec.judge} ended {judged.status.value}: {judged.reason or ''}",
                agreed=agreed is not None, error_type=judged.error_type)
        return self._finish(RunStatus.COMPLETED, judged.output, f"{stop}; the judge decided",
                            agreed=agreed is not None, structured=judged.structured)

    def _finish(self, status: RunStatus, output: str | None, reason: str, *, agreed: bool,
                error_type: str | None = None,
                structured: dict[str, Any] | None = None) -> RunResult:
        details = {"rounds": self.rounds, "consensus": agreed,
                   "rule": self.spec.consensus, "failed": self.failed}
        return self.p.finish(status, output, reason, details, error_type=error_type,
                             structured=structured)


@workflow.defn(name="DebateWorkflow", failure_exception_types=INVALID_INPUT)
class DebateWorkflow(PatternHost):
    @workflow.init
    def __init__(self, run: RunInput) -> None:
        assert run.team.debate is not None  # TeamSpec validates the section per pattern
        self._pattern = PatternRun(run, max_steps=run.team.debate.max_rounds + 1)

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        return conclude(await self._run(run))

    async def _run(self, run: RunInput) -> RunResult:
        assert run.team.debate is not None
        return await _Debate(self._pattern, run.team.debate).run()
