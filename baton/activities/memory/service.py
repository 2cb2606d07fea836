"""``MemoryService``: the memory store with its clock and, when configured, its embeddings.

Everything that reads or writes long-term memory goes through it: the ``recall_memories`` and
``store_memory`` activities, the built-in ``remember`` and ``recall`` tools (through a
:class:`MemoryHandle` in their ``ToolContext``) and ``baton memory`` (the client). The clock is
read once per operation, here, and handed to the store.

Recall: text search in the scope (every memory sharing a search term is relevant), fused with
the embedding ranking when an embeddings endpoint is configured (memories at least
``min_similarity`` alike are relevant too). Relevant memories older than the policy's
``max_age_s`` are returned apart, as ``stale``: the caller tells the agent rather than
pretending they are current. What is returned is marked used, for least-recently-used eviction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog

from baton.activities.memory.embeddings import Embedder, cosine, fuse
from baton.activities.memory.store import MemoryStore, search_terms
from baton.memory import (
    LongTermMemorySpec,
    MemoryHit,
    MemoryRecord,
    RecallRequest,
    RecallResult,
    StoreRequest,
)

__all__ = ["MemoryHandle", "MemoryService", "memory_id"]

log = structlog.get_logger("baton.memory")
_CANDIDATES = 2_000  # memories of one scope compared by embedding (the scope cap bounds it too)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def memory_id(*parts: str) -> str:
    """A memory id derived from what wrote it (an idempotency key, a question): a retried
    write finds the memory it already kept."""
    return "mem-" + hashlib.sha256("/".join(parts).encode()).hexdigest()[:20]


class MemoryService:
    def __init__(self, store: MemoryStore, embedder: Embedder | None = None, *,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.store = store
        self.embedder = embedder
        self.clock = clock

    async def _embed(self, text: str) -> list[float] | None:
        if self.embedder is None:
            return None
        try:
            return (await self.embedder.embed([text]))[0]
        except (httpx.HTTPError, KeyError, ValueError, RuntimeError) as exc:
            # Recall by text still works: a memory without an embedding is found by its words.
            log.warning("embeddings unavailable; text search only", error=str(exc))
            return None

    async def remember(self, request: StoreRequest) -> MemoryRecord:
        now = self.clock()
        expires = now + timedelta(seconds=request.ttl_s) if request.ttl_s else None
        record = MemoryRecord(
            id=request.id, tenant=request.tenant, subject=request.subject, kind=request.kind,
            text=request.text, source_run=request.source_run, source_agent=request.source_agent,
            created_at=now, last_used_at=now, expires_at=expires)
        return await self.store.put(record, await self._embed(request.text),
                                    max_per_scope=request.max_per_scope, now=now)

    async def recall(self, request: RecallRequest) -> RecallResult:
        now, wanted = self.clock(), request.limit
        found = await self.store.search(request.tenant, request.subject,
                                        search_terms(request.query), limit=wanted * 8, now=now)
        records = {record.id: record for record, _ in found}
        order = [record.id for record, _ in found]
        query_vector = await self._embed(request.query) if self.embedder else None
        if query_vector is not None:
            pool = await self.store.embedded(request.tenant, request.subject,
                                             limit=_CANDIDATES, now=now)
            alike = sorted(((cosine(query_vector, vector), record) for record, vector in pool
                            if cosine(query_vector, vector) >= request.min_similarity),
                           key=lambda pair: -pair[0])
            records.update((record.id, record) for _, record in alike)
            scores = fuse(order, [record.id for _, record in alike])
            order = sorted(scores, key=lambda key: -scores[key])
        else:
            scores = {key: float(len(order) - rank) for rank, key in enumerate(order)}
        for kind in request.always_kinds:  # after the relevant ones, most recently used first
            for record in await self.store.list(tenant=request.tenant, subject=request.subject,
                                                kind=kind, limit=wanted, now=now):
                if record.id not in records:
                    records[record.id] = record
                    order.append(record.id)
                    scores[record.id] = 0.0
        hits = []
        for key in order:
            record = records[key]
            age = max((now - record.created_at).total_seconds(), 0.0)
            stale = request.max_age_s is not None and age > request.max_age_s
            hits.append(MemoryHit(record=record, score=round(scores[key], 6), age_s=age,
                                  stale=stale))
        fresh = [h for h in hits if not h.stale][:wanted]
        await self.store.touch(request.tenant, [h.record.id for h in fresh], now=now)
        return RecallResult(hits=fresh, stale=[h for h in hits if h.stale][:wanted],
                            mode="hybrid" if query_vector is not None else "text")

    async def close(self) -> None:
        await self.store.close()


@dataclass(frozen=True)
class MemoryHandle:
    """Long-term memory as one tool call may use it: the run's tenant and subject, the team's
    policy, and the call's identity (its memories name the run that wrote them)."""

    service: MemoryService
    policy: LongTermMemorySpec
    tenant: str
    subject: str
    run_id: str
    agent: str
    key: str  # the call's idempotency key: one memory per call, however often it is retried

    async def remember(self, text: str, kind: str | None = None) -> MemoryRecord:
        kind = kind or self.policy.default_kind
        if kind not in self.policy.kinds:
            kinds = ", ".join(sorted(self.policy.kinds))
            raise ValueError(f"unknown kind {kind!r}; the kinds are: {kinds}")
        return await self.service.remember(StoreRequest(
            id=memory_id(self.tenant, self.key), tenant=self.tenant, subject=self.subject,
            kind=kind, text=text, source_run=self.run_id, source_agent=self.agent,
            ttl_s=self.policy.ttl_s(kind), max_per_scope=self.policy.max_per_scope))

    async def recall(self, query: str, limit: int | None = None) -> RecallResult:
        return await self.service.recall(RecallRequest(
            tenant=self.tenant, subject=self.subject, query=query,
            limit=limit or max(self.policy.inject_top_k, 1), max_age_s=self.policy.max_age_s,
            min_similarity=self.policy.min_similarity))
