"""Reading a conversation the way the heuristic model needs it: the task, and what happened since.

The task is the latest user message, except that a user message which only reports a validation
error about the previous answer is feedback on the task, not a new task. Tool calls after the
task are paired with their results so strategies can ask "was this tool already called, with
which arguments, and did it work?".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from baton.scripted.wire import ChatQuery, WireMessage

__all__ = ["PastCall", "Situation", "read_situation"]

_FEEDBACK = re.compile(
    r"validat|schema|invalid|does not match|did not match|not valid json|required (?:field|"
    r"property)|please fix|fix (?:it|the|your)",
    re.IGNORECASE,
)
_ERROR_PREFIX = ("error", "tool error", "failed", "invalid", "exception")
_INVALID_ARGS = re.compile(
    r"invalid|argument|validation|missing|required|not valid json|schema|unexpected|field",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PastCall:
    """One tool call since the task and its result (``result`` None: no result yet)."""

    id: str
    name: str
    arguments: dict[str, Any] | None  # None when the arguments were not a JSON object
    raw: str
    result: str | None = None
    ok: bool = False
    invalid_args: bool = False  # the error says the arguments were wrong: worth one retry


@dataclass(frozen=True)
class Situation:
    query: ChatQuery
    task: str
    system: str
    calls: tuple[PastCall, ...]
    facts: tuple[tuple[str, Any], ...]  # (key, value) from results and the task, most recent first
    feedback: str | None  # validation complaint about the previous final answer
    previous_answer: str | None  # that answer's text

    @property
    def mentions(self) -> str:
        """Text in which enum values and names may be mentioned: task first, then results."""
        return "\n".join([self.task, *(c.result or "" for c in self.calls if c.ok)])


def _is_error(message: WireMessage) -> bool:
    if message.is_error:
        return True
    text = message.content.strip()
    if text.lower().startswith(_ERROR_PREFIX):
        return True
    parsed = _json(text)
    return isinstance(parsed, dict) and (
        "error" in parsed or str(parsed.get("status", "")).lower() in ("error", "failed")
    )


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def flatten(value: Any, depth: int = 0) -> list[tuple[str, Any]]:
    """(key, value) pairs of a JSON value: top-level keys first, then nested ones."""
    if depth > 4:
        return []
    pairs: list[tuple[str, Any]] = []
    nested: list[Any] = []
    if isinstance(value, dict):
        for key, item in value.items():
            pairs.append((str(key), item))
            if isinstance(item, (dict, list)):
                nested.append(item)
    elif isinstance(value, list):
        nested.extend(value[:10])
    for item in nested:
        pairs.extend(flatten(item, depth + 1))
    return pairs


def _find_task(messages: tuple[WireMessage, ...]) -> tuple[int, str | None, str | None]:
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        return -1, None, None
    index, feedback, previous = users[-1], None, None
    while len(users) > 1:
        before = messages[index - 1] if index > 0 else None
        if not (
            before
            and before.role == "assistant"
            and not before.tool_calls
            and _FEEDBACK.search(messages[index].content)
        ):
            break
        feedback = feedback or messages[index].content
        previous = previous or before.content
        users.pop()
        index = users[-1]
    return index, feedback, previous


def read_situation(query: ChatQuery) -> Situation:
    messages = query.messages
    task_index, feedback, previous = _find_task(messages)
    system = "\n".join(m.content for m in messages if m.role == "system")
    task = messages[task_index].content if task_index >= 0 else system
    calls: dict[str, PastCall] = {}
    for message in messages[task_index + 1 :]:
        for c in message.tool_calls:
            parsed = _json(c.arguments)
            calls[c.id] = PastCall(
                c.id, c.name, parsed if isinstance(parsed, dict) else None, c.arguments
            )
        if message.role == "tool" and message.tool_call_id in calls:
            call = calls[message.tool_call_id]
            error = _is_error(message)
            calls[call.id] = PastCall(
                call.id,
                call.name,
                call.arguments,
                call.raw,
                message.content,
                not error,
                error and (call.arguments is None or bool(_INVALID_ARGS.search(message.content))),
            )
    ordered = tuple(calls.values())
    facts: list[tuple[str, Any]] = []
    for call in reversed(ordered):
        if call.ok and call.result is not None:
            facts.extend(flatten(_json(call.result)))
    facts.extend(flatten(_json(task)))
    return Situation(query, task, system, ordered, tuple(facts), feedback, previous)
