"""The memory store interface: keep, search, list and forget long-term memories.

A memory belongs to one scope, (tenant, subject): the customer or repository a run is about,
"" for the tenant's subject-less memories. Every method takes the time it should treat as *now*
from its caller (:class:`baton.activities.memory.service.MemoryService` reads the clock once per
operation), so expiry and recency are decided in one place and tests can state the time.

``SqliteMemoryStore`` (one host, the embedded default: SQLite FTS5) and ``PostgresMemoryStore``
(any number of hosts: PostgreSQL full-text search) implement :class:`MemoryStore`;
:func:`open_memory_store` picks one from a URL, as ``open_ledger`` does for the ledger.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from baton.activities._store_url import store_kind
from baton.memory import MemoryRecord

__all__ = ["MemoryStore", "normalized", "open_memory_store", "search_terms"]

# Words that say nothing about what a memory is about: left out of text queries, where they
# would match nearly every memory (PostgreSQL's 'english' configuration drops them itself).
_STOPWORDS = frozenset((
    "a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "between", "both", "but", "by",
    "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him",
    "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "more", "most",
    "my", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our",
    "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your", "please", "tell",
    "know", "want", "like", "get", "let", "us", "may", "might", "must", "shall", "anything",
    "something", "every",
))
_MAX_TERMS = 32


def search_terms(text: str) -> list[str]:
    """The distinct words of ``text`` worth searching for, in order (at most 32)."""
    words = re.findall(r"[^\W_]+", text.lower())
    return list(dict.fromkeys(w for w in words if w not in _STOPWORDS and len(w) > 1))[:_MAX_TERMS]


def normalized(text: str) -> str:
    """A memory's text for duplicate detection: case and spacing do not make a new memory."""
    return " ".join(text.lower().split())


@runtime_checkable
class MemoryStore(Protocol):
    """What the memory service needs from a durable store; safe to share by many workers."""

    async def put(self, record: MemoryRecord, embedding: list[float] | None, *,
                  max_per_scope: int, now: datetime) -> MemoryRecord:
        """Keep ``record`` (or, when its scope already holds the same text unexpired, refresh
        that memory instead and return it); then evict the scope's least recently used
        memories beyond ``max_per_scope`` and purge expired ones. An existing ``record.id`` is
        left as it is (a retried write keeps one memory)."""
        ...

    async def search(self, tenant: str, subject: str, terms: list[str], *, limit: int,
                     now: datetime) -> list[tuple[MemoryRecord, float]]:
        """Unexpired memories of the scope matching any of ``terms``, best first, with a rank
        (higher is better)."""
        ...

    async def embedded(self, tenant: str, subject: str, *, limit: int, now: datetime
                       ) -> list[tuple[MemoryRecord, list[float]]]:
        """Unexpired memories of the scope that have an embedding, most recently used first."""
        ...

    async def touch(self, tenant: str, ids: list[str], *, now: datetime) -> None:
        """Mark memories as used now (recalled): eviction keeps what is used."""
        ...

    async def list(self, *, tenant: str | None, subject: str | None, kind: str | None,
                   limit: int, now: datetime) -> list[MemoryRecord]:
        """Unexpired memories, newest first; ``None`` filters nothing."""
        ...

    async def get(self, memory_id: str) -> MemoryRecord | None: ...

    async def forget(self, *, tenant: str, subject: str | None = None,
                     memory_id: str | None = None) -> int:
        """Delete one memory, a subject's memories, or (neither given) the tenant's; returns
        how many were deleted."""
        ...

    async def close(self) -> None: ...


def open_memory_store(url: str) -> MemoryStore:
    """The store a URL names: ``sqlite://PATH`` or ``postgresql://user:password@host/db``."""
    kind, where = store_kind(url, "memory")
    if kind == "sqlite":
        from baton.activities.memory.sqlite_store import SqliteMemoryStore

        return SqliteMemoryStore(Path(where))
    from baton.activities.memory.postgres_store import PostgresMemoryStore

    return PostgresMemoryStore(str(where))
