"""``HandoffWorkflow``: one conversation, passed between agents by transfer.

The active agent (``entry`` first) runs as a child ``AgentWorkflow`` with ``transfer_to_<agent>``
tools for the agents it may hand over to (``HandoffSpec.targets``). A transfer is not a
delegation: control moves and nothing comes back to the transferring agent. When a child ends
``TRANSFERRED``, the target starts with the conversation passed per ``history``:

- ``full``: every message of the previous agent (without its system prompt);
- ``last_message``: only the last user or assistant message that has text;
- ``summary``: one deterministic text summary built here (no model call);
- ``none``: nothing.

An agent's own ``sees`` overrides ``history`` for the context it starts with (``full``,
``summary``; ``task`` and ``none``: no conversation). Its task is the original user request
plus ``[Transferred from X: reason]`` (with ``sees: none`` only the latter), and the transfer's
``input`` when the agent has an ``input_schema`` (checked by the transfer tool). More than
``max_handoffs`` transfers end the run with ``MAX_HANDOFFS`` (ping-pong) and the best partial
output; any other end of a child ends the run with that child's status. The last agent's answer
is the run's answer.
"""

import asyncio
import json
from typing import Any

from temporalio import workflow

from baton.messages import (
    AssistantMessage,
    Message,
    ToolResultMessage,
    UserMessage,
    dump_messages,
    load_messages,
)
from baton.patterns import HandoffSpec
from baton.runs import RunInput, RunResult, RunStatus, Transfer
from baton.workflows._admission import INVALID_INPUT
from baton.workflows._ending import conclude
from baton.workflows._pattern import PatternHost, PatternRun

__all__ = ["TRANSFERRED_FROM", "TRANSFER_INPUT", "HandoffWorkflow", "handed_over"]

# The next agent's task is the request plus "[Transferred from <source>: <reason>]".
TRANSFERRED_FROM = "[Transferred from "
TRANSFER_INPUT = "Input: "  # then the transfer's validated input, as JSON

# An agent's own ``sees`` → the ``history`` it is handed.
_HISTORY_OF = {"full": "full", "summary": "summary", "task": "none", "none": "none"}

_SUMMARY_MESSAGES = 30  # the most recent messages a summary covers
_SUMMARY_LINE_CHARS = 300


def _line(message: Message) -> str | None:
    if isinstance(message, UserMessage):
        return f"{message.source or 'user'}: {message.content}"
    if isinstance(message, AssistantMessage):
        calls = ", ".join(f"{c.name}({json.dumps(c.arguments, sort_keys=True)})"
                          for c in message.tool_calls)
        parts = [p for p in (message.content, f"called {calls}" if calls else "") if p]
        return f"{message.agent or 'assistant'}: {'; '.join(parts)}" if parts else None
    if isinstance(message, ToolResultMessage):
        return f"  {message.name} → {'error' if message.is_error else 'ok'}: {message.content}"
    return None


def _summary(transfer: Transfer) -> list[Message]:
    recent = transfer.messages[-_SUMMARY_MESSAGES:]
    lines = [line[:_SUMMARY_LINE_CHARS] for line in map(_line, recent) if line]
    skipped = len(transfer.messages) - len(recent)
    head = f"[Summary of the conversation before {transfer.source} transferred it"
    head += f"; {skipped} older messages omitted]" if skipped else "]"
    return [UserMessage(source="baton", content="\n".join([head, *lines]))]


def handed_over(transfer: Transfer, history: str) -> list[Message]:
    """The context the target agent starts with, per ``HandoffSpec.history``."""
    if history == "full":
        return list(transfer.messages)  # the turn's tool results are included by the loop
    if history == "summary":
        return _summary(transfer)
    if history == "last_message":
        for message in reversed(transfer.messages):
            if isinstance(message, UserMessage):
                return [message]
            if isinstance(message, AssistantMessage) and message.content:
                # Without its tool calls: their results are not passed on.
                return [AssistantMessage(content=message.content, agent=message.agent)]
    return []


def _last_text(transfer: Transfer) -> str | None:
    for message in reversed(transfer.messages):
        if isinstance(message, AssistantMessage) and message.content:
            return message.content
    return None


class _Handoff:
    def __init__(self, pattern: PatternRun, spec: HandoffSpec) -> None:
        self.p, self.spec = pattern, spec
        self.handoffs: list[dict[str, str]] = pattern.state.get("handoffs", [])

    async def run(self) -> RunResult:
        refused = await self.p.start()
        if refused is not None:
            return refused
        try:
            return await self._converse()
        except asyncio.CancelledError:
            return self._finish(RunStatus.CANCELLED, None, "the run was cancelled",
                                self.p.current or "")

    def _handed(self, transfer: Transfer) -> tuple[str, list[Message], str]:
        """The target's task, the context it starts with, and what it sees (for the log)."""
        own = self.p.team.agent(transfer.to).sees
        history = _HISTORY_OF[own] if own else self.spec.history
        note = f"{TRANSFERRED_FROM}{transfer.source}: {transfer.reason}]"
        if transfer.input is not None:
            note += f"\n{TRANSFER_INPUT}{json.dumps(transfer.input, ensure_ascii=False)}"
        task = note if own == "none" else f"{self.p.input.input}\n\n{note}"
        sees = own or ("task" if history == "none" else history)
        return task, handed_over(transfer, history), sees

    async def _converse(self) -> RunResult:
        p, spec = self.p, self.spec
        team_entry = p.team.entry if p.team.entry in spec.agents else None
        # A continuation goes on with the agent that had the conversation, and what it got.
        carried = p.state
        active = carried.get("active") or spec.entry or team_entry or spec.agents[0]
        task = carried.get("task") or p.input.input
        context: list[Message] = load_messages(carried.get("context", []))
        sees = carried.get("sees") or "task"  # the first agent: the request, nothing before it
        while True:
            await p.continue_if_long({"handoffs": self.handoffs, "active": active, "task": task,
                                      "context": dump_messages(context), "sees": sees})
            p.current = active
            result = await p.members.run(active, task, step=len(self.handoffs),
                                         context=context, transfer_targets=spec.targets(active),
                                         sees=sees)
            p.step = len(self.handoffs) + 1
            transfer = result.transfer
            if result.status is not RunStatus.TRANSFERRED or transfer is None:
                break
            self.handoffs.append({"from": transfer.source, "to": transfer.to,
                                  "reason": transfer.reason})
            if len(self.handoffs) > spec.max_handoffs:
                return self._finish(
                    RunStatus.MAX_HANDOFFS, result.output or _last_text(transfer),
                    f"more than max_handoffs={spec.max_handoffs} transfers (last: "
                    f"{transfer.source} -> {transfer.to}); stopped to prevent ping-pong",
                    active)
            active = transfer.to
            task, context, sees = self._handed(transfer)
        if result.status is RunStatus.COMPLETED:
            return self._finish(RunStatus.COMPLETED, result.output, None, active,
                                structured=result.structured)
        return self._finish(result.status, result.output,
                            f"{active} ended {result.status.value}: {result.reason or ''}",
                            active, error_type=result.error_type)

    def _finish(self, status: RunStatus, output: str | None, reason: str | None, last: str, *,
                error_type: str | None = None,
                structured: dict[str, Any] | None = None) -> RunResult:
        details = {"handoffs": self.handoffs, "final_agent": last, "history": self.spec.history}
        return self.p.finish(status, output, reason, details, error_type=error_type,
                             structured=structured)


@workflow.defn(name="HandoffWorkflow", failure_exception_types=INVALID_INPUT)
class HandoffWorkflow(PatternHost):
    @workflow.init
    def __init__(self, run: RunInput) -> None:
        assert run.team.handoff is not None  # TeamSpec validates the section per pattern
        self._pattern = PatternRun(run, max_steps=run.team.handoff.max_handoffs + 1)

    @workflow.run
    async def run(self, run: RunInput) -> RunResult:
        return conclude(await self._run(run))

    async def _run(self, run: RunInput) -> RunResult:
        assert run.team.handoff is not None
        return await _Handoff(self._pattern, run.team.handoff).run()
