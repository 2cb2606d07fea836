"""The agent's conversation inside the workflow: append-only, with a digest per prefix.

Each message enters workflow history once (DESIGN.md decision 4): a model call carries the
``ConversationRef`` of what the worker already received plus the messages added since.
"""

from __future__ import annotations

from baton.messages import EMPTY_DIGEST, ConversationRef, Message, chain_digest

__all__ = ["Conversation"]


class Conversation:
    def __init__(self, messages: list[Message] | None = None, sent: int = 0) -> None:
        self.messages: list[Message] = []
        self._digests: list[str] = [EMPTY_DIGEST]  # _digests[n] = digest of messages[:n]
        self.sent = 0  # how many messages the worker has received for this agent
        for message in messages or []:
            self.append(message)
        self.sent = sent

    def append(self, message: Message) -> None:
        self.messages.append(message)
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
