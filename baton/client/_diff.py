"""What one step changed in an agent's memory (``baton show RUN --step N --diff``): the messages
it added and, when working memory folded older turns before its model call, that summary.

The agent's conversation comes from the workflow's ``messages`` query: the step's assistant
message is found by its tool-call ids (or its text), and the step added it plus everything up
to the next assistant message (tool results, a fix request). A continued-as-new run compacted
older messages away, so each continuation is asked in turn; when none still holds the step the
messages are rebuilt from the run log (``from_run_log``). Blackboard runs also show the board
keys the step's turn wrote, before and after.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from baton.client._workflow import WorkflowReader
from baton.client.views import RunView, StepDiff
from baton.errors import BatonError, QueryTimeoutError
from baton.messages import AssistantMessage, Message, ToolCall, ToolResultMessage
from baton.runs import (
    ChildEvent,
    ModelCallEvent,
    SummarizedEvent,
    ToolCallEvent,
    ToolRefusedEvent,
)

__all__ = ["step_diff"]


def _candidates(root: RunView, step: int, agent: str | None) -> list[tuple[RunView, str]]:
    found: list[tuple[RunView, str]] = []
    for node in root.walk():
        for event in node.events:
            if not isinstance(event, ModelCallEvent) or event.step != step:
                continue
            if agent in (None, event.agent, node.run_id, node.member):
                pair = (node, event.agent)
                if all(p[0] is not node or p[1] != event.agent for p in found):
                    found.append(pair)
    return found


def _parent(root: RunView, node: RunView) -> RunView | None:
    for candidate in root.walk():
        if any(child is node for child in candidate.children):
            return candidate
    return None


def _matches(message: Message, call: ModelCallEvent) -> bool:
    if not isinstance(message, AssistantMessage):
        return False
    ids = [str(c.get("id")) for c in call.tool_calls]
    if ids:
        return [c.id for c in message.tool_calls] == ids
    return not message.tool_calls and message.content == call.content


def _slice(messages: list[Message], call: ModelCallEvent) -> tuple[int, list[Message]] | None:
    for index, message in enumerate(messages):
        if _matches(message, call):
            end = index + 1
            while end < len(messages) and not isinstance(messages[end], AssistantMessage):
                end += 1
            return index, messages[index:end]
    return None


def _from_log(node: RunView, agent: str, step: int, call: ModelCallEvent) -> list[Message]:
    added: list[Message] = [AssistantMessage(
        content=call.content, agent=agent,
        tool_calls=tuple(ToolCall(id=str(c.get("id")), name=str(c.get("name")),
                                  arguments=dict(c.get("arguments") or {}))
                         for c in call.tool_calls))]
    for event in node.events:
        if event.agent != agent or event.step != step:
            continue
        if isinstance(event, ToolCallEvent):
            added.append(ToolResultMessage(tool_call_id=event.call_id, name=event.tool,
                                           content=event.content,
                                           is_error=event.status == "error"))
        elif isinstance(event, ToolRefusedEvent):
            added.append(ToolResultMessage(tool_call_id=event.call_id, name=event.tool,
                                           content=event.reason, is_error=True))
    return added


def _written(child: RunView | None, key: str) -> Any:
    result = child.result if child else None
    if result is None:
        return None
    value: Any = result.structured
    if value is None:
        try:
            value = json.loads(result.output or "")
        except json.JSONDecodeError:
            return None
    return value.get(key) if isinstance(value, dict) else None


def _board(board_run: RunView, turn: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The blackboard's keys before and after ``turn``, from the members' written values."""
    details = board_run.result.details if board_run.result else {}
    writes = [w for w in details.get("writes", []) if isinstance(w, dict)]
    members: dict[tuple[Any, Any], RunView | None] = {}  # (member, turn) -> its member run
    for event in board_run.events:
        if isinstance(event, ChildEvent) and event.action == "started":
            node = next((c for c in board_run.children if c.run_id == event.workflow_id), None)
            members[(event.member, event.step)] = node
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for write in writes:
        if write.get("turn", 0) > turn:
            continue
        key = str(write.get("key"))
        value = _written(members.get((write.get("agent"), write.get("turn"))), key)
        if value is None:
            value = dict(details.get("board") or {}).get(key)
        if write.get("turn") == turn:
            after[key] = value
        else:
            before[key] = value
    changed_before = {k: before.get(k) for k in after}
    return changed_before, after


async def _messages(reader: WorkflowReader, node: RunView, call: ModelCallEvent
                    ) -> tuple[int, list[Message]] | None:
    for temporal_run in [None, *reversed(node.previous_runs)]:
        try:
            messages = await reader.messages(node.run_id, temporal_run_id=temporal_run)
        except (QueryTimeoutError, WorkflowQueryFailedError, RPCError):
            continue
        found = _slice(messages, call)
        if found is not None:
            return found
    return None


async def step_diff(reader: WorkflowReader, root: RunView, step: int,
                    agent: str | None = None) -> StepDiff:
    """The messages step ``step`` of ``agent`` added (and board keys, for blackboard runs)."""
    found = _candidates(root, step, agent)
    blackboard = root.result is not None and "writes" in root.result.details
    if not found and blackboard and agent in (None, root.run_id, *(e.agent for e in root.events)):
        before, after = _board(root, step)
        pattern = root.events[0].agent if root.events else "blackboard"
        return StepDiff(run_id=root.run_id, workflow_id=root.run_id, agent=pattern,
                        step=step, messages_before=None, added=[], board_before=before,
                        board_after=after)
    if not found:
        who = f" of agent {agent!r}" if agent else ""
        raise BatonError(f"no step {step}{who} with a model call in run {root.run_id!r}; "
                         f"`baton show {root.run_id}` lists the steps")
    if len(found) > 1:
        names = ", ".join(f"{a} ({n.run_id})" for n, a in found)
        raise BatonError(f"step {step} exists for several agents: {names}; choose one with "
                         "--agent NAME (or the member's workflow id)")
    node, name = found[0]
    call = next(e for e in node.events if isinstance(e, ModelCallEvent)
                and e.agent == name and e.step == step)
    sliced = await _messages(reader, node, call)
    last_step = max((e.step for e in node.events if isinstance(e, ModelCallEvent)
                     and e.agent == name), default=step)
    structured = node.result.structured if node.result and step == last_step else None
    before, after = {}, {}
    parent = _parent(root, node)
    if (step == last_step and parent is not None and parent.result is not None
            and "writes" in parent.result.details):
        turn = next((e.step for e in parent.events if isinstance(e, ChildEvent)
                     and e.workflow_id == node.run_id), None)
        if turn is not None:
            before, after = _board(parent, turn)
    folded = next((e for e in node.events if isinstance(e, SummarizedEvent)
                   and e.agent == name and e.step == step), None)
    return StepDiff(
        run_id=root.run_id, workflow_id=node.run_id, agent=name, step=step, summarized=folded,
        messages_before=sliced[0] if sliced else None,
        added=sliced[1] if sliced else _from_log(node, name, step, call),
        from_run_log=sliced is None, structured=structured,
        board_before=before, board_after=after)
