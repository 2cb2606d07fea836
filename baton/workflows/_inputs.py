"""Members' inputs held to their ``input_schema`` (``AgentSpec.input_schema``).

A delegation's task, a transfer's ``input`` and the previous pipeline stage's output are checked
before the member starts. One that does not match goes back to the agent that produced it with
a "fix this" message naming the problem (as a tool result to a router or a transferring agent;
as a re-run of the previous stage); after the member's ``max_input_fix_attempts`` fixes the run
ends ``input_invalid``. A member that starts has an input that matches: it never has to guess.
"""

from __future__ import annotations

import json
from typing import Any

from baton.reports import InputContract
from baton.schemas import input_problem
from baton.specs import TeamSpec
from baton.workflow_records import CheckedInput as Checked

__all__ = ["INPUT_INVALID", "Checked", "InputFixes", "contract_of", "fix_message"]

INPUT_INVALID = "input_invalid"  # the error type of a run that ended on it


def contract_of(team: TeamSpec, member: str) -> InputContract | None:
    """The input ``member`` accepts, when it is an agent with an ``input_schema``."""
    if member in team.teams:
        return None  # a sub-team's own members hold their inputs to their schemas
    agent = team.agent(member)
    if agent.input_schema is None:
        return None
    return InputContract(input_schema=agent.input_schema,
                         max_fix_attempts=agent.max_input_fix_attempts)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class InputFixes:
    """How many inputs for each member did not match its contract so far in this run."""

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        self.counts = dict(counts or {})

    def check(self, member: str, contract: InputContract | None, value: Any, *,
              producer: str) -> Checked:
        if contract is None:
            return Checked(value, _text(value))
        parsed, problem = input_problem(value, contract.input_schema)
        if problem is None:
            return Checked(parsed, _text(parsed))
        count = self.counts[member] = self.counts.get(member, 0) + 1
        if count <= contract.max_fix_attempts:
            return Checked(value, _text(value), problem)
        return Checked(value, _text(value), problem, exhausted=(
            f"{producer}'s input for {member} still did not match its input_schema after "
            f"{contract.max_fix_attempts} fix attempt(s): {problem}"))


def fix_message(member: str, problem: str, contract: InputContract, *, how: str) -> str:
    """What the producing agent is told: the problem, and what a valid input looks like."""
    schema = json.dumps(contract.input_schema, ensure_ascii=False, sort_keys=True)
    return (f"The input for {member} does not match its input_schema: {problem}. Fix this: "
            f"{how}, with a JSON value that matches this schema: {schema}")
