"""The agent's conversation inside the workflow: append-only, with a digest per prefix.

Each message enters workflow history once (docs/architecture.md#linear-history): a model call
carries the
``ConversationRef`` of what the worker already received plus the messages added since.
"""

from __future__ import annotations

import json

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

__all__ = ["Conversation", "compact"]


class Conversation:
    def __init__(self, messages: list[Message] | None = None, sent: int = 0) -> None:
        self.messages: list[Message] = []
        self._digests: list[str] = [EMPTY_DIGEST]  # _digests[n] = digest of messages[:n]
        self.size = 0  # prompt bytes of all messages, for estimating a call's tokens
        self.sent = 0  # how many messages the worker has received for this agent
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


def compact(messages: list[Message], keep_recent: int) -> tuple[list[Message], int]:
    """System prompt + task + a deterministic summary of the middle + the recent window.

    The window never starts with a tool result whose tool call was summarised away: providers
    reject a tool message that does not follow its assistant call.
    """
    head = messages[:2]
    if len(messages) <= len(head) + keep_recent:
        return list(messages), 0
    cut = len(messages) - keep_recent
    while cut < len(messages) and isinstance(messages[cut], ToolResultMessage):
        cut += 1
    dropped = messages[len(head):cut]
    lines = [line for line in map(_line, dropped) if line]
    body = "\n".join(lines)
    if len(body) > _SUMMARY_CHARS:  # keep the most recent part of the summary
        body = "…\n" + body[-_SUMMARY_CHARS:]
    summary = UserMessage(source="baton", content=(
        f"[Summary of {len(dropped)} earlier messages of this run, compacted to keep the run "
        f"within its history limits]\n{body}"))
    return [*head, summary, *messages[cut:]], len(dropped)
