"""The worker's caches of conversation prefixes and of call schemas
(docs/architecture.md#linear-history).

The workflow sends each message to the llm activity once: a ``ChatRequest`` carries a reference
to the prefix the worker should already hold (length + digest) and only the messages added since.
This module turns that back into the full conversation:

* hit: the cache holds at least ``prefix.length`` messages of ``(workflow_id, agent)`` and the
  digest after exactly that many matches; the cached messages are used;
* miss (new worker, evicted, another worker served the previous call, continue-as-new changed the
  history): the prefix is rebuilt page by page from the workflow's ``messages`` query (queries do
  not enter history) and its digest verified. A mismatch raises ConversationMismatchError: the
  model is never sent a conversation other than the one the workflow holds.

After a call the cache stores prefix + delta, exactly what the workflow sent, and then the reply
this worker answered with. The workflow appends the reply itself and, when it kept it unchanged,
counts it as sent: its next prefix covers the reply, which therefore enters history once (as the
call's result), not twice. The results of the reply's tool calls travel the same way: the tool
activity tells the cache the result message it returned (``tool_answered``), the workflow counts
the results it appended unchanged as sent, and a prefix that reaches past the reply is completed
from them, in the order of the reply's calls. The digest check keeps this honest: a reply or a
result the workflow changed, one another attempt gave, or one that ran on another worker, does
not match or is not there, and the prefix is rebuilt from the query instead.

A call's tools and output schema travel the same way: in full on an agent's first call of a
workflow run, then as their digest (``CallSchemaCache``; a miss asks the ``call_schemas`` query).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from temporalio.client import Client

from baton.calls import CallSchemas, ChatRequest
from baton.errors import ConversationMismatchError
from baton.messages import (
    EMPTY_DIGEST,
    AssistantMessage,
    ConversationRef,
    Message,
    ToolResultMessage,
    chain_digest,
)
from baton.runs import MessagesPage, PageRequest

__all__ = ["QUERY_PAGE_SIZE", "CacheStats", "CallSchemaCache", "ConversationCache", "digests_of",
           "fetch_prefix"]

QUERY_PAGE_SIZE = 200
Key = tuple[str, str]  # (workflow_id, agent)


def digests_of(messages: Sequence[Message], start: str = EMPTY_DIGEST) -> list[str]:
    """``[start, d1, ..., dn]``: the digest after each message; ``d[i]`` covers ``messages[:i]``
    (with ``start`` the digest of whatever precedes them)."""
    digests = [start]
    for message in messages:
        digests.append(chain_digest(digests[-1], message))
    return digests


@dataclass
class _Entry:
    messages: list[Message]
    digests: list[str]  # len(messages) + 1 entries; a digest per prefix length
    # Results of the last message's tool calls that ran on this worker, by call id.
    results: dict[str, ToolResultMessage] = field(default_factory=dict)

    def complete(self, ref: ConversationRef) -> bool:
        """Append the results ``ref`` reaches past the reply, when this worker holds them all
        and they make the digest ``ref`` names (the workflow appends them in call order)."""
        last = self.messages[-1] if self.messages else None
        missing = ref.length - len(self.messages)
        if not isinstance(last, AssistantMessage) or not 0 < missing <= len(last.tool_calls):
            return False
        results = [r for call in last.tool_calls[:missing] if (r := self.results.get(call.id))]
        if len(results) != missing:
            return False
        digests = digests_of(results, self.digests[-1])[1:]
        if digests[-1] != ref.digest:
            return False
        self.messages.extend(results)
        self.digests.extend(digests)
        self.results.clear()
        return True


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0  # a prefix had to be rebuilt from the workflow
    evictions: int = 0


@dataclass
class ConversationCache:
    """A bounded LRU of conversations keyed by ``(workflow_id, agent)``. Not thread-safe; the
    activity is async, so every access happens on the worker's event loop."""

    max_size: int
    stats: CacheStats = field(default_factory=CacheStats)
    _entries: OrderedDict[Key, _Entry] = field(default_factory=OrderedDict)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: Key, ref: ConversationRef) -> list[Message] | None:
        """The first ``ref.length`` messages when the cache holds them with the same digest."""
        entry = self._entries.get(key)
        if entry is None or (len(entry.messages) < ref.length and not entry.complete(ref)):
            return None
        if entry.digests[ref.length] != ref.digest:
            return None
        self._entries.move_to_end(key)
        return entry.messages[: ref.length]

    def store(self, key: Key, messages: Sequence[Message], digests: Sequence[str]) -> None:
        if self.max_size <= 0:
            return
        self._entries[key] = _Entry(list(messages), list(digests))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)
            self.stats.evictions += 1

    def answered(self, key: Key, reply: Message) -> None:
        """Remember the reply of the call that just stored ``key``'s conversation."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.messages.append(reply)
            entry.digests.append(chain_digest(entry.digests[-1], reply))
            entry.results.clear()

    def tool_answered(self, key: Key, result: ToolResultMessage) -> None:
        """Remember the result of one of the tool calls of ``key``'s cached reply."""
        entry = self._entries.get(key)
        if entry is None or not entry.messages:
            return
        last = entry.messages[-1]
        if isinstance(last, AssistantMessage) and any(
                call.id == result.tool_call_id for call in last.tool_calls):
            entry.results[result.tool_call_id] = result

    def get(self, key: Key) -> list[Message] | None:
        """The cached conversation, for inspection (does not touch the LRU order)."""
        entry = self._entries.get(key)
        return None if entry is None else list(entry.messages)

    async def resolve(
        self,
        *,
        workflow_id: str,
        agent: str,
        prefix: ConversationRef,
        delta: Sequence[Message],
        client: Client | None,
    ) -> list[Message]:
        """The full conversation for one call (prefix + delta), remembered for the next call."""
        key = (workflow_id, agent)
        cached = self.lookup(key, prefix)
        if prefix.length == 0:
            if prefix.digest != EMPTY_DIGEST:
                raise _mismatch(
                    workflow_id, agent, prefix, length=0, digest=EMPTY_DIGEST, how="expects"
                )
            messages: list[Message] = []
        elif cached is not None:
            self.stats.hits += 1
            messages = cached
        else:
            self.stats.misses += 1
            messages = await fetch_prefix(client, workflow_id, agent, prefix)
        # On a hit the digests are already known; after a rebuild (or for an empty prefix) they
        # cost one hash per message, far below the price of one model call.
        entry = self._entries.get(key)
        if cached is not None and entry is not None:
            prefix_digests = entry.digests[: prefix.length + 1]
        else:
            prefix_digests = digests_of(messages)
        full = [*messages, *delta]
        digests = prefix_digests + digests_of(delta, prefix_digests[-1])[1:]
        self.store(key, full, digests)
        return full


async def fetch_prefix(
    client: Client | None, workflow_id: str, agent: str, prefix: ConversationRef
) -> list[Message]:
    """Rebuild ``prefix`` from the workflow's paginated ``messages`` query and verify its digest."""
    if client is None:
        raise ConversationMismatchError(
            f"conversation of {workflow_id!r} (agent {agent!r}) is not cached on this worker and "
            "no Temporal client was given to rebuild it; construct LlmActivities with "
            "temporal_client"
        )
    handle = client.get_workflow_handle(workflow_id)
    messages: list[Message] = []
    total = prefix.length
    while len(messages) < prefix.length:
        wanted = min(QUERY_PAGE_SIZE, prefix.length - len(messages))
        page = await handle.query(
            "messages", PageRequest(offset=len(messages), limit=wanted), result_type=MessagesPage
        )
        total = page.total
        if not page.messages:  # the workflow holds fewer messages than the reference says
            break
        messages.extend(page.messages)
    messages = messages[: prefix.length]
    digest = digests_of(messages)[-1]
    if len(messages) != prefix.length or digest != prefix.digest:
        raise _mismatch(
            workflow_id, agent, prefix, length=len(messages), digest=digest,
            how=f"rebuilt from the 'messages' query (workflow reports {total} messages)",
        )
    return messages


@dataclass
class CallSchemaCache:
    """The tools and output schemas model calls refer to by digest (``CallSchemas``), kept in a
    bounded LRU shared by every run on the worker: runs of one team share their schemas. A
    miss (a new worker, evicted) asks the workflow's ``call_schemas`` query and checks the
    digest of the answer."""

    max_size: int = 256
    _entries: OrderedDict[str, CallSchemas] = field(default_factory=OrderedDict)

    def remember(self, request: ChatRequest) -> None:
        if request.schemas_digest and not request.schemas_by_reference:
            self._keep(request.schemas_digest, request.schemas)

    async def resolve(self, request: ChatRequest, client: Client | None) -> ChatRequest:
        """``request`` with its tools and output schema filled in when it refers to them."""
        if not request.schemas_by_reference:
            self.remember(request)
            return request
        digest = request.schemas_digest
        found = self._entries.get(digest)
        if found is not None:
            self._entries.move_to_end(digest)
        else:
            found = await self._fetch(request, client)
            self._keep(digest, found)
        return request.model_copy(update={"tools": found.tools,
                                          "output_schema": found.output_schema})

    def _keep(self, digest: str, schemas: CallSchemas) -> None:
        self._entries[digest] = schemas
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    @staticmethod
    async def _fetch(request: ChatRequest, client: Client | None) -> CallSchemas:
        where = f"{request.workflow_id!r} (agent {request.agent!r})"
        if client is None:
            raise ConversationMismatchError(
                f"the tools of {where} are not cached on this worker and no Temporal client "
                "was given to ask for them; construct LlmActivities with temporal_client")
        found: CallSchemas = await client.get_workflow_handle(request.workflow_id).query(
            "call_schemas", request.schemas_digest, result_type=CallSchemas)
        if found.digest() != request.schemas_digest:
            raise ConversationMismatchError(
                f"the workflow {where} does not hold the tools and output schema its model call "
                f"referred to (digest {request.schemas_digest}); it answered "
                f"{found.digest() or 'nothing'}")
        return found


def _mismatch(
    workflow_id: str, agent: str, ref: ConversationRef, *, length: int, digest: str, how: str
) -> ConversationMismatchError:
    return ConversationMismatchError(
        f"conversation prefix of {workflow_id!r} (agent {agent!r}) does not match: the workflow "
        f"sent length {ref.length} digest {ref.digest[:16] or '(empty)'}…, the worker {how} has "
        f"length {length} digest {digest[:16] or '(empty)'}…"
    )
