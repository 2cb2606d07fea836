"""Long-term memory (docs/memory.md): the store interface and its SQLite (FTS5) and PostgreSQL
(full-text search) stores, optional embeddings, the service every reader and writer goes
through, the ``recall_memories`` and ``store_memory`` activities, and the built-in ``remember``
and ``recall`` tools (:mod:`baton.activities.memory.tools`, imported by the plugin)."""

from baton.activities.memory.activity import RECALL_MEMORIES, STORE_MEMORY, MemoryActivities
from baton.activities.memory.embeddings import Embedder
from baton.activities.memory.service import MemoryHandle, MemoryService, memory_id
from baton.activities.memory.store import MemoryStore, open_memory_store, search_terms

__all__ = [
    "RECALL_MEMORIES",
    "STORE_MEMORY",
    "Embedder",
    "MemoryActivities",
    "MemoryHandle",
    "MemoryService",
    "MemoryStore",
    "memory_id",
    "open_memory_store",
    "search_terms",
]
