"""``BlackboardWorkflow``: agents cooperate through a shared, typed workspace.

The board holds the declared ``keys`` only (name → JSON type). Every turn one member acts: it
gets the task and the board (as JSON) and writes by answering with a JSON object. An agent runs
as a child ``AgentWorkflow`` whose ``output_schema`` is built from the keys it may fill (its
rule's ``fills``; every key under the model scheduler) with ``additionalProperties: false``, so
the agent loop itself refuses undeclared keys and wrong types and asks the model to fix its
answer. The workflow validates again, key by key (a sub-team member has no schema, and an agent
may give up with ``OUTPUT_INVALID``): each valid key is one write, each invalid one a refused
write, both recorded in ``details``.

Who acts: ``rules`` picks the first rule whose ``needs`` are all filled and whose ``fills`` are
not all filled yet; ``model`` asks the scheduler agent (a child whose answer is
``{"next": <member> | "done"}``). The run ends ``COMPLETED`` when the goal key is filled (output:
the goal value, text as is, anything else as JSON), ``MAX_ROUNDS`` after ``max_turns`` turns,
``STALLED`` (``error_type`` ``no_applicable_rule`` / ``scheduler_gave_up``) when nobody can act,
or with a member's own status when a member fails; always with the (partial) board in details.
"""

import asyncio
import json
from typing import Any

from temporalio import workflow

from baton.patterns import BlackboardSpec
from baton.runs import RunInput, RunResult, RunStatus
from baton.schemas import schema_error
from baton.workflows._admission import INVALID_INPUT
from baton.workflows._ending import conclude
from baton.workflows._pattern import PatternHost, PatternRun

__all__ = ["BlackboardWorkflow", "write_schema"]


def write_schema(spec: BlackboardSpec, keys: tuple[str, ...]) -> dict[str, Any]:
    """The output schema of an agent that may fill ``keys``: only those, each with its type."""
    properties: dict[str, Any] = {}
    for key in keys:
        declared = spec.keys[key]
        properties[key] = {"type": declared.type, **(
            {"description": declared.description} if declared.description else {})}
    return {"type": "object", "properties": properties, "additionalProperties": False,
            "minProperties": 1}


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


class _Stop(Exception):  # control flow: the run ends with this result
    def __init__(self, result: RunResult) -> None:
        super().__init__(result.reason)
        self.result = result


class _Blackboard:
    def __init__(self, pattern: PatternRun, spec: BlackboardSpec) -> None:
        self.p, self.spec = pattern, spec
        self.team = pattern.team
        carried = pattern.state  # a continuation goes on from the last turn it finished
        self.board: dict[str, Any] = carried.get("board", {})
        self.writes: list[dict[str, Any]] = carried.get("writes", [])
        self.refused: list[dict[str, Any]] = carried.get("refused", [])
        self.turn: int = carried.get("turn", 0)

    # -- scheduling ---------------------------------------------------------------------------
    def _candidates(self) -> list[str]:
        if self.spec.rules:
            return list(dict.fromkeys(rule.agent for rule in self.spec.rules))
        names = [a.name for a in self.team.agents if a.name != self.spec.scheduler_agent]
        return names + list(self.team.teams)

    def _by_rule(self) -> tuple[str, tuple[str, ...]]:
        for rule in self.spec.rules:
            if all(k in self.board for k in rule.needs) and not all(
                    k in self.board for k in rule.fills):
                return rule.agent, rule.fills
        raise _Stop(self._finish(
            RunStatus.STALLED, "no rule applies: every rule needs an empty key or has filled its "
            f"keys, and the goal {self.spec.goal!r} is still empty",
            error_type="no_applicable_rule"))

    async def _by_model(self) -> tuple[str, tuple[str, ...]]:
        scheduler = self.spec.scheduler_agent
        assert scheduler is not None  # BlackboardSpec validates it for scheduler 'model'
        candidates = self._candidates()
        schema = {"type": "object", "additionalProperties": False, "required": ["next"],
                  "properties": {"next": {"type": "string", "enum": [*candidates, "done"]}}}
        who = "\n".join(f"- {name}: {self._about(name)}" for name in candidates)
        task = (f"{self._board_text()}\n\nWho should act next to fill the goal key "
                f"{self.spec.goal!r}?\n{who}\nAnswer {{\"next\": <name>}}, or "
                '{"next": "done"} if nobody can make progress.')
        result = await self._run(scheduler, task, schema, step=self.turn + 1)
        if result.status is not RunStatus.COMPLETED:
            raise _Stop(self._member_failed(scheduler, result))
        choice = (result.structured or {}).get("next")
        if choice not in candidates:
            raise _Stop(self._finish(
                RunStatus.STALLED, f"the scheduler {scheduler} answered {choice!r} before the goal "
                f"{self.spec.goal!r} was filled", error_type="scheduler_gave_up"))
        return str(choice), tuple(self.spec.keys)

    def _about(self, name: str) -> str:
        return self.team.teams[name].description if name in self.team.teams else (
            self.team.agent(name).description)

    # -- one turn -----------------------------------------------------------------------------
    async def _run(self, member: str, task: str, schema: dict[str, Any], *,
                   step: int) -> RunResult:
        team = self.team
        if team.member_kind(member) == "agent":
            team = team.model_copy(update={"agents": tuple(
                a.model_copy(update={"output_schema": schema}) if a.name == member else a
                for a in team.agents)})
        # Members builds each child's input from its ``team``; the schema differs per turn.
        self.p.members.team = team
        self.p.current = member
        return await self.p.members.run(member, task, step=step)

    def _board_text(self) -> str:
        board = {key: self.board.get(key) for key in self.spec.keys}
        declared = "\n".join(
            f"- {key} ({k.type}){': ' + k.description if k.description else ''}"
            for key, k in self.spec.keys.items())
        return (f"Task: {self.p.input.input}\n\nBlackboard (JSON; null = not filled yet):\n"
                f"{json.dumps(board, sort_keys=True)}\n\nDeclared keys:\n{declared}\n"
                f"Goal key: {self.spec.goal}")

    async def _act(self, member: str, fills: tuple[str, ...]) -> None:
        task = (f"{self._board_text()}\n\nTurn {self.turn}: you may write "
                f"{', '.join(fills)}. Reply with only a JSON object holding the keys you fill.")
        result = await self._run(member, task, write_schema(self.spec, fills), step=self.turn)
        # OUTPUT_INVALID is a refused write, not a crash: record it and let the board go on.
        if result.status not in (RunStatus.COMPLETED, RunStatus.OUTPUT_INVALID):
            raise _Stop(self._member_failed(member, result))
        value: Any = result.structured
        if value is None:
            try:
                value = json.loads(result.output or "")
            except json.JSONDecodeError:
                value = result.output
        self._apply(member, fills, value)

    def _apply(self, member: str, fills: tuple[str, ...], value: Any) -> None:
        if not isinstance(value, dict):
            self._refuse(member, None, f"not a JSON object: {str(value)[:200]}")
            return
        for key, item in value.items():
            if key not in self.spec.keys:
                self._refuse(member, key, f"undeclared key (declared: {sorted(self.spec.keys)})")
            elif key not in fills:
                self._refuse(member, key, f"{member} may write only {list(fills)}")
            elif problem := schema_error(item, {"type": self.spec.keys[key].type}):
                self._refuse(member, key, f"not a {self.spec.keys[key].type}: {problem}")
            else:
                self.board[key] = item
                self.writes.append({"agent": member, "key": key, "turn": self.turn})

    def _refuse(self, member: str, key: str | None, reason: str) -> None:
        self.refused.append({"agent": member, "key": key, "turn": self.turn, "reason": reason})

    # -- the run ------------------------------------------------------------------------------
    async def run(self) -> RunResult:
        refused = await self.p.start()
        if refused is not None:
            return refused
        spec = self.spec
        try:
            while spec.goal not in self.board:
                await self.p.continue_if_long({"board": self.board, "writes": self.writes,
                                               "refused": self.refused, "turn": self.turn})
                if self.turn >= spec.max_turns:
                    return self._finish(
                        RunStatus.MAX_ROUNDS, f"reached max_turns={spec.max_turns} before the "
                        f"goal {spec.goal!r} was filled")
                exhausted = self.p.budget.exhausted(workflow.now())
                if exhausted:
                    return self._finish(RunStatus.BUDGET_EXHAUSTED, exhausted)
                member, fills = (self._by_rule() if spec.scheduler == "rules"
                                 else await self._by_model())
                self.turn += 1
                self.p.step = self.turn
                await self._act(member, fills)
        except _Stop as stop:
            return stop.result
        except asyncio.CancelledError:
            return self._finish(RunStatus.CANCELLED, "the run was cancelled")
        goal = self.board[spec.goal]
        return self._finish(RunStatus.COMPLETED, None, output=_as_text(goal))

    def _member_failed(self, member: str, result: RunResult) -> RunResult:
        return self._finish(result.status, f"{member} ended {result.status.value}: "
                            f"{result.reason or ''}", error_type=result.error_type)

    def _finish(self, status: RunStatus, reason: str | None, *, output: str | None = None,
                error_type: str | None = None) -> RunResult:
        board = dict(self.board)
        details = {"board": board, "writes": self.writes, "refused": self.refused,
                   "turns": self.turn, "scheduler": self.spec.scheduler}
        if output is None and board:  # the partial board is the best partial answer
            output = json.dumps(board, sort_keys=True)
        return self.p.finish(status, output, reason, details, error_type=error_type,
                             structured=board)


@workflow.defn(name="BlackboardWorkflow", failure_exception_types=INVALID_INPUT)
class BlackboardWorkflow(PatternHost):
    @workflow.init
    def __init__(self, run: RunInput) -> None:
        assert run.team.blackboard is not None  # TeamSpec validates the section per pattern
        self._pattern = PatternRun(run, max_steps=run.team.blackboard.max_turns)

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        return conclude(await self._run(run))

    async def _run(self, run: RunInput) -> RunResult:
        assert run.team.blackboard is not None
        return await _Blackboard(self._pattern, run.team.blackboard).run()
