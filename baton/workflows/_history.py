"""The agent's conversation inside the workflow: append-only, with a digest per prefix.

Each message enters workflow history once (docs/architecture.md#linear-history): a model call
carries the
``ConversationRef`` of what the worker already received plus the messages added since.
"""

from __future__ import annotations

import json

from baton.memory import MEMORY_SOURCE, SUMMARY_SOURCE
from baton.messages import (
    EMPTY_DIGEST,
    AssistantMessage,
    ConversationRef,
    Message,
    ToolResultMessage,
    UserMessage,
    chain_digest,
    size_of,
)
from baton.workflow_records import FoldPlan

__all__ = ["Conversation", "FoldPlan", "compact", "fold_plan", "mechanical_summary"]


class Conversation:
    def __init__(self, messages: list[Message] | None = None, sent: int = 0) -> None:
        self.messages: list[Message] = []
        self._digests: list[str] = [EMPTY_DIGEST]  # _digests[n] = digest of messages[:n]
        self.size = 0  # prompt bytes of all messages, for estimating a call's tokens
        self.sent = 0  # how many messages the worker has received for this agent
        self.prompted = 0  # how many the agent's last model call was sent (its measured prompt)
        for message in messages or []:
            self.append(message)
        self.sent = sent

    def append(self, message: Message) -> None:
        self.messages.append(message)
        self.size += size_of(message)
        self._digests.append(chain_digest(self._digests[-1], message))

    def outgoing(self) -> tuple[ConversationRef, tuple[Message, ...]]:
        """The reference to what was already sent and the delta to send now."""
        ref = ConversationRef(length=self.sent, digest=self._digests[self.sent])
        return ref, tuple(self.messages[self.sent :])

    def mark_sent(self, length: int) -> None:
        self.sent = length

    def mark_prompted(self, length: int) -> None:
        """A model call was sent the first ``length`` messages."""
        self.sent = self.prompted = length

    def page(self, offset: int, limit: int) -> list[Message]:
        return self.messages[offset : offset + limit]

    def __len__(self) -> int:
        return len(self.messages)


_SUMMARY_CHARS = 8_000


def _line(message: Message) -> str | None:
    if isinstance(message, AssistantMessage):
        calls = ", ".join(f"{c.name}({json.dumps(c.arguments, sort_keys=True)[:120]})"
                          for c in message.tool_calls)
        text = (message.content or "")[:200]
        return "; ".join(p for p in (f"called {calls}" if calls else "", text) if p) or None
    if isinstance(message, ToolResultMessage):
        status = "error" if message.is_error else "ok"
        return f"  {message.name} → {status}: {message.content[:200]}"
    if isinstance(message, UserMessage):
        return f"{message.source or 'user'}: {message.content[:200]}"
    return None


def mechanical_summary(messages: list[Message]) -> str:
    """One line per message, without a model: what ``compact`` keeps, and what working memory
    falls back on when its summariser cannot answer."""
    body = "\n".join(line for line in map(_line, messages) if line)
    if len(body) > _SUMMARY_CHARS:  # keep the most recent part of the summary
        body = "…\n" + body[-_SUMMARY_CHARS:]
    return body


def _is(message: Message, source: str) -> bool:
    return isinstance(message, UserMessage) and message.source == source


def _lead_end(messages: list[Message]) -> int:
    """Past the system prompt and the memories recalled at the start: kept verbatim."""
    end = 1 if messages and not isinstance(messages[0], UserMessage) else 0
    while end < len(messages) and _is(messages[end], MEMORY_SOURCE):
        end += 1
    return end


def _task_index(messages: list[Message]) -> int:
    """The task (the first message after the lead and a working-memory summary): kept."""
    start = _lead_end(messages)
    return start + 1 if start < len(messages) and _is(messages[start], SUMMARY_SOURCE) else start


def _window_start(messages: list[Message], cut: int) -> int:
    """The recent window never starts with a tool result whose call is folded away: providers
    reject a tool message that does not follow its assistant call."""
    while cut < len(messages) and isinstance(messages[cut], ToolResultMessage):
        cut += 1
    return cut


def compact(messages: list[Message], keep_recent: int) -> tuple[list[Message], int]:
    """System prompt (+ recalled memories) + task + a deterministic summary of the middle +
    the recent window."""
    head = messages[:_task_index(messages) + 1]
    if len(messages) <= len(head) + keep_recent:
        return list(messages), 0
    cut = _window_start(messages, len(messages) - keep_recent)
    dropped = messages[len(head):cut]
    summary = UserMessage(source="baton", content=(
        f"[Summary of {len(dropped)} earlier messages of this run, compacted to keep the run "
        f"within its history limits]\n{mechanical_summary(dropped)}"))
    return [*head, summary, *messages[cut:]], len(dropped)


def fold_plan(messages: list[Message], keep_recent: int, *, least: int = 2) -> FoldPlan | None:
    """What to fold so that ``keep_recent`` messages (or a few more, to keep a tool call with
    its results) stay verbatim; None when fewer than ``least`` turns would be folded."""
    start, task = _lead_end(messages), _task_index(messages)
    # A conversation shorter than the window has nothing to fold (and no negative index).
    end = _window_start(messages, max(len(messages) - keep_recent, task + 1))
    if end - task - 1 < least:
        return None
    return FoldPlan(start=start, task=task, end=end)
