"""``PostgresMemoryStore``: long-term memories in PostgreSQL, shared by workers on any hosts.

Text search is PostgreSQL's own: a stored ``tsvector`` column generated from the text with the
``english`` configuration (stemming and stop words) under a GIN index, queried with the search
terms joined by ``|`` (any of them) and ranked by ``ts_rank_cd``. Embeddings are stored as a
JSON array beside the text and compared by the service, as with SQLite.

Connections come from a small psycopg pool, opened on first use, closed by ``close()``; the
table is created under an advisory lock, as the ledger's are (``baton.activities._postgres``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from baton.activities._postgres import PostgresPool
from baton.activities.memory.store import normalized
from baton.memory import MemoryRecord

__all__ = ["PostgresMemoryStore"]

_SCHEMA_LOCK = 0x6261746F6E6D  # "batonm": schema changes of the memory store
_SCHEMA = """
CREATE TABLE IF NOT EXISTS baton_memory (
    seq          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    tenant       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    text         TEXT NOT NULL,
    norm         TEXT NOT NULL,
    source_run   TEXT NOT NULL,
    source_agent TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    uses         INTEGER NOT NULL DEFAULT 0,
    embedding    JSONB,
    tsv          TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);
CREATE INDEX IF NOT EXISTS baton_memory_scope ON baton_memory (tenant, subject, last_used_at);
CREATE INDEX IF NOT EXISTS baton_memory_expiry ON baton_memory (expires_at);
CREATE INDEX IF NOT EXISTS baton_memory_tsv ON baton_memory USING GIN (tsv)
"""
_COLUMNS = ("id, tenant, subject, kind, text, source_run, source_agent, created_at, "
            "last_used_at, expires_at, uses")
_LIVE = "(expires_at IS NULL OR expires_at > %(now)s)"


def _record(row: tuple[Any, ...]) -> MemoryRecord:
    names = [c.strip() for c in _COLUMNS.split(",")]
    return MemoryRecord.model_validate(dict(zip(names, row, strict=False)))


class PostgresMemoryStore:
    """Memories and their full-text index in PostgreSQL (see the module docstring)."""

    def __init__(self, url: str, *, max_connections: int = 5) -> None:
        self.url = url
        self._db = PostgresPool(url, name="baton-memory", schema=_SCHEMA,
                                schema_lock=_SCHEMA_LOCK, max_connections=max_connections)

    async def open(self) -> None:
        await self._db.open()

    async def _rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        async with self._db.connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []

    async def put(self, record: MemoryRecord, embedding: list[float] | None, *,
                  max_per_scope: int, now: datetime) -> MemoryRecord:
        r = record
        params = {"id": r.id, "tenant": r.tenant, "subject": r.subject, "kind": r.kind,
                  "text": r.text, "norm": normalized(r.text), "source_run": r.source_run,
                  "source_agent": r.source_agent, "created_at": r.created_at,
                  "last_used_at": r.last_used_at, "expires_at": r.expires_at,
                  "embedding": None if embedding is None else json.dumps(embedding),
                  "now": now, "cap": max_per_scope}
        # One transaction: the duplicate check, the write and the eviction see the same scope.
        async with self._db.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%(tenant)s || '/' || "
                               "%(subject)s))", params)
            cursor = await conn.execute(f"SELECT {_COLUMNS} FROM baton_memory WHERE id = %(id)s",
                                        params)
            if (known := await cursor.fetchone()) is not None:
                return _record(known)
            cursor = await conn.execute(
                f"UPDATE baton_memory SET kind = %(kind)s, source_run = %(source_run)s, "
                "source_agent = %(source_agent)s, created_at = %(created_at)s, "
                "last_used_at = %(last_used_at)s, expires_at = %(expires_at)s "
                "WHERE id = (SELECT id FROM baton_memory WHERE tenant = %(tenant)s AND "
                f"subject = %(subject)s AND norm = %(norm)s AND {_LIVE} LIMIT 1) RETURNING id",
                params)
            same = await cursor.fetchone()
            stored = same[0] if same is not None else r.id
            if same is None:
                await conn.execute(
                    "INSERT INTO baton_memory (id, tenant, subject, kind, text, norm, "
                    "source_run, source_agent, created_at, last_used_at, expires_at, embedding) "
                    "VALUES (%(id)s, %(tenant)s, %(subject)s, %(kind)s, %(text)s, %(norm)s, "
                    "%(source_run)s, %(source_agent)s, %(created_at)s, %(last_used_at)s, "
                    "%(expires_at)s, %(embedding)s::jsonb)", params)
            await conn.execute("DELETE FROM baton_memory WHERE seq IN (SELECT seq FROM "
                               "baton_memory WHERE expires_at <= %(now)s LIMIT 100)", params)
            await conn.execute(
                "DELETE FROM baton_memory WHERE seq IN (SELECT seq FROM baton_memory WHERE "
                "tenant = %(tenant)s AND subject = %(subject)s "
                "ORDER BY last_used_at DESC, seq DESC OFFSET %(cap)s)", params)
            cursor = await conn.execute(
                f"SELECT {_COLUMNS} FROM baton_memory WHERE id = %(stored)s",
                {"stored": stored})
            row = await cursor.fetchone()
        assert row is not None  # written in this transaction
        return _record(row)

    async def search(self, tenant: str, subject: str, terms: list[str], *, limit: int,
                     now: datetime) -> list[tuple[MemoryRecord, float]]:
        if not terms:
            return []
        # Terms are letters and digits only (search_terms): joined with | they are one valid
        # tsquery; to_tsquery stems them and drops stop words as the stored vectors were.
        rows = await self._rows(
            f"SELECT {_COLUMNS}, ts_rank_cd(tsv, q) AS rank FROM baton_memory, "
            "to_tsquery('english', %(query)s) AS q WHERE tsv @@ q AND tenant = %(tenant)s "
            f"AND subject = %(subject)s AND {_LIVE} ORDER BY rank DESC, seq DESC "
            "LIMIT %(limit)s",
            {"query": " | ".join(terms), "tenant": tenant, "subject": subject, "now": now,
             "limit": limit})
        return [(_record(row[:-1]), float(row[-1])) for row in rows]

    async def embedded(self, tenant: str, subject: str, *, limit: int, now: datetime
                       ) -> list[tuple[MemoryRecord, list[float]]]:
        rows = await self._rows(
            f"SELECT {_COLUMNS}, embedding FROM baton_memory WHERE tenant = %(tenant)s AND "
            f"subject = %(subject)s AND embedding IS NOT NULL AND {_LIVE} "
            "ORDER BY last_used_at DESC LIMIT %(limit)s",
            {"tenant": tenant, "subject": subject, "now": now, "limit": limit})
        return [(_record(row[:-1]), list(row[-1])) for row in rows]

    async def touch(self, tenant: str, ids: list[str], *, now: datetime) -> None:
        if ids:
            await self._rows("UPDATE baton_memory SET last_used_at = %(now)s, uses = uses + 1 "
                             "WHERE tenant = %(tenant)s AND id = ANY(%(ids)s)",
                             {"now": now, "tenant": tenant, "ids": ids})

    async def list(self, *, tenant: str | None, subject: str | None, kind: str | None,
                   limit: int, now: datetime) -> list[MemoryRecord]:
        where, params = [_LIVE], {"now": now, "limit": limit}
        for column, value in (("tenant", tenant), ("subject", subject), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = %({column})s")
                params[column] = value
        rows = await self._rows(f"SELECT {_COLUMNS} FROM baton_memory WHERE "
                                f"{' AND '.join(where)} ORDER BY created_at DESC, seq DESC "
                                "LIMIT %(limit)s", params)
        return [_record(row) for row in rows]

    async def get(self, memory_id: str) -> MemoryRecord | None:
        rows = await self._rows(f"SELECT {_COLUMNS} FROM baton_memory WHERE id = %(id)s",
                                {"id": memory_id})
        return _record(rows[0]) if rows else None

    async def forget(self, *, tenant: str, subject: str | None = None,
                     memory_id: str | None = None) -> int:
        where, params = ["tenant = %(tenant)s"], {"tenant": tenant}
        for column, value in (("subject", subject), ("id", memory_id)):
            if value is not None:
                where.append(f"{column} = %({column})s")
                params[column] = value
        async with self._db.connection() as conn:
            cursor = await conn.execute(
                f"DELETE FROM baton_memory WHERE {' AND '.join(where)}", params)
            return cursor.rowcount

    async def close(self) -> None:
        await self._db.close()
