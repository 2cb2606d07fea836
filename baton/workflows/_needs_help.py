"""Needs help: an agent inside a team that reaches its ``max_steps`` or its budget slice does not
just stop. Its result carries a ``NeedsHelp`` report, built here from its own conversation
(deterministic, no model call: asking the model what it lacks would spend the budget that just
ran out), and the team's ``on_needs_help`` policy decides what happens next:

- ``reroute``: the router reads the report as the delegation's result and chooses;
- ``retry_larger``: the member runs once more with ``retry_budget_factor`` times its steps and
  its budget share (at most what the run has left);
- ``ask_person``: a question through the approval gate; approve (or edit with a ``hint``) runs
  the member once more like ``retry_larger``, with the person's hint; reject does not, and the
  person's reason goes to the router;
- ``fail``: the team's run ends with the member's status.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from temporalio import workflow

from baton.messages import AssistantMessage, Message, ToolCall, ToolResultMessage, Usage
from baton.patterns import PipelineSpec, SupervisorSpec
from baton.reports import NeedsHelp
from baton.runs import RunResult, RunStatus
from baton.specs import ApprovalPolicy, ToolSpec
from baton.workflows._approval import ApprovalGate, Resolution

__all__ = ["HELP_TOOL", "ask_person", "needs_help_of", "settle"]

REPORTED = frozenset({RunStatus.MAX_STEPS, RunStatus.BUDGET_EXHAUSTED})
HELP_TOOL = "needs_help"  # what a person is asked about, as an approval names its tool
_TRIED = 8  # the most recent tool calls a report lists
_CHARS = 160

# Edits a person may make: a hint for the member's next attempt.
_QUESTION = ToolSpec(
    name=HELP_TOOL, description="A team member ran out of steps or budget and asks for help.",
    parameters={"type": "object", "properties": {
        "member": {"type": "string"}, "status": {"type": "string"},
        "missing": {"type": "string"}, "tried": {"type": "array"},
        "hint": {"type": "string", "description": "what the member should do differently"}}})


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _CHARS else flat[: _CHARS - 1] + "…"


def needs_help_of(messages: Sequence[Message], *, status: RunStatus, reason: str | None,
                  steps: int, usage: Usage) -> NeedsHelp | None:
    """The report of an agent that stopped with ``status``; None for any other end."""
    if status not in REPORTED:
        return None
    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolResultMessage)}
    tried, last_answer, last_failed = [], None, None
    for message in messages:
        if not isinstance(message, AssistantMessage):
            continue
        last_answer = message.content or last_answer
        for call in message.tool_calls:
            result = results.get(call.id)
            args = json.dumps(call.arguments, ensure_ascii=False, sort_keys=True)
            outcome = "no result" if result is None else (
                f"{'error' if result.is_error else 'ok'}: {_short(result.content)}")
            tried.append(f"{call.name}({_short(args)}) → {outcome}")
            last_failed = f"{call.name} failed: {_short(result.content)}" if (
                result is not None and result.is_error) else None
    earlier = len(tried) - _TRIED
    tried = ([f"… {earlier} earlier call(s)"] if earlier > 0 else []) + tried[-_TRIED:]
    need = "more steps" if status is RunStatus.MAX_STEPS else "more budget"
    missing = f"{need} ({reason})" if reason else need
    if last_failed:
        missing += f"; its last call: {last_failed}"
    return NeedsHelp(status=status.value, tried=tried, missing=missing,
                     last_answer=_short(last_answer) if last_answer else None, steps=steps,
                     tokens=usage.total_tokens)


async def ask_person(gate: ApprovalGate, policy: SupervisorSpec | PipelineSpec, *, member: str,
                     report: NeedsHelp, step: int, run_id: str,
                     deadline: datetime | None) -> Resolution:
    """Ask whether ``member`` may try again with a larger slice: an approval like a tool's,
    listed, decided, expired and audited the same way."""
    call = ToolCall(id=f"help-{workflow.uuid4().hex[:8]}", name=HELP_TOOL, arguments={
        "member": member, "status": report.status, "missing": report.missing,
        "tried": report.tried})
    rule = ApprovalPolicy(mode="always", approvers=policy.help_approvers,
                          expires_in_s=policy.help_expires_in_s)
    return await gate.request(
        call=call, spec=_QUESTION, policy=rule, step=step, run_id=run_id, deadline=deadline,
        reason=f"{member} needs help ({report.status}): approve to run it again with "
               f"{policy.retry_budget_factor:g}x its steps and budget share (edit with a "
               "'hint' to tell it what to do differently), reject to give up on it")


Rerun = Callable[[float, str | None], Awaitable[RunResult]]  # (factor, hint) → the new result


async def settle(result: RunResult, policy: SupervisorSpec | PipelineSpec, *, member: str,
                 rerun: Rerun, ask: Callable[[NeedsHelp], Awaitable[Resolution]],
                 ) -> tuple[RunResult, str | None]:
    """Apply ``retry_larger`` or ``ask_person`` to a member that needs help (once: a second
    report goes on as the first would under ``reroute``); the result to go on with and a note
    saying what was done. ``reroute`` and ``fail`` are the caller's."""
    report = result.needs_help
    if report is None or policy.on_needs_help in ("reroute", "fail"):
        return result, None
    factor = policy.retry_budget_factor
    grown = f"{factor:g}x its steps and budget share"
    if policy.on_needs_help == "retry_larger":
        return await rerun(factor, None), f"{member} needed help and was run again with {grown}"
    answer = await ask(report)
    if not answer.run:
        why = f": {answer.reason}" if answer.reason else ""
        return result, f"{answer.by} chose not to run {member} again{why}"
    hint = str(answer.args.get("hint") or answer.reason or "") or None
    said = f" (hint: {hint})" if hint else ""
    return await rerun(factor, hint), (f"{answer.by} had {member} run again with {grown}"
                                       f"{said}")
