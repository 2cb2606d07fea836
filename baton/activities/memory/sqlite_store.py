"""``SqliteMemoryStore``: long-term memories in one SQLite file with an FTS5 index (one host).

The embedded default (``memory_url`` unset: ``HOME/memory.sqlite``). Text search is FTS5 with
the Porter stemmer ("shipping" finds "ship"), ranked by BM25; the index is an external-content
table kept in step with the memories by triggers, so a memory and its index entry are written
and deleted in one transaction. Embeddings, when the worker has an embeddings endpoint, are
stored as JSON beside the text and compared by the service.

Like the ledger, every call opens a short-lived connection in a thread (``asyncio.to_thread``),
and writes run in ``BEGIN IMMEDIATE`` transactions so eviction counts what it deletes
(``baton.activities._sqlite``).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from baton.activities._sqlite import SqliteFile
from baton.activities.memory.store import normalized
from baton.memory import MemoryRecord

__all__ = ["SqliteMemoryStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS baton_memory (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    tenant       TEXT NOT NULL,
    subject      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    text         TEXT NOT NULL,
    norm         TEXT NOT NULL,
    source_run   TEXT NOT NULL,
    source_agent TEXT NOT NULL,
    created_at   REAL NOT NULL,
    last_used_at REAL NOT NULL,
    expires_at   REAL,
    uses         INTEGER NOT NULL DEFAULT 0,
    embedding    TEXT
);
CREATE INDEX IF NOT EXISTS baton_memory_scope ON baton_memory (tenant, subject, last_used_at);
CREATE INDEX IF NOT EXISTS baton_memory_expiry ON baton_memory (expires_at);
CREATE VIRTUAL TABLE IF NOT EXISTS baton_memory_fts USING fts5(
    text, content='baton_memory', content_rowid='seq', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS baton_memory_indexed AFTER INSERT ON baton_memory BEGIN
    INSERT INTO baton_memory_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER IF NOT EXISTS baton_memory_unindexed AFTER DELETE ON baton_memory BEGIN
    INSERT INTO baton_memory_fts (baton_memory_fts, rowid, text)
        VALUES ('delete', old.seq, old.text);
END;
"""
_COLUMNS = ("id, tenant, subject, kind, text, source_run, source_agent, created_at, "
            "last_used_at, expires_at, uses")
_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _record(row: tuple[Any, ...]) -> MemoryRecord:
    def at(x: float | None) -> datetime | None:
        return None if x is None else datetime.fromtimestamp(x, UTC)

    return MemoryRecord(id=row[0], tenant=row[1], subject=row[2], kind=row[3], text=row[4],
                        source_run=row[5], source_agent=row[6], created_at=at(row[7]),
                        last_used_at=at(row[8]), expires_at=at(row[9]), uses=row[10])


class SqliteMemoryStore:
    """Memories and their FTS5 index in one SQLite file (see the module docstring)."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        # synchronous=NORMAL: a memory lost to a power cut is re-learned, not a double.
        self._db = SqliteFile(self.path, schema=_SCHEMA, synchronous="NORMAL",
                              busy_timeout_s=busy_timeout_s)

    async def put(self, record: MemoryRecord, embedding: list[float] | None, *,
                  max_per_scope: int, now: datetime) -> MemoryRecord:
        r, at = record, now.timestamp()

        def put(conn: sqlite3.Connection) -> MemoryRecord:
            known = conn.execute(f"SELECT {_COLUMNS} FROM baton_memory WHERE id = ?",
                                 (r.id,)).fetchone()
            if known is not None:  # a retried write: the first one stands
                return _record(known)
            same = conn.execute(
                f"SELECT id FROM baton_memory WHERE tenant = ? AND subject = ? AND norm = ? "
                f"AND {_LIVE}", (r.tenant, r.subject, normalized(r.text), at)).fetchone()
            if same is not None:  # said again: the memory is confirmed now, by this run
                conn.execute(
                    "UPDATE baton_memory SET kind = ?, source_run = ?, source_agent = ?, "
                    "created_at = ?, last_used_at = ?, expires_at = ? WHERE id = ?",
                    (r.kind, r.source_run, r.source_agent, _ts(r.created_at),
                     _ts(r.last_used_at), _ts(r.expires_at), same[0]))
                stored = same[0]
            else:
                conn.execute(
                    "INSERT INTO baton_memory (id, tenant, subject, kind, text, norm, source_run, "
                    "source_agent, created_at, last_used_at, expires_at, uses, embedding) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                    (r.id, r.tenant, r.subject, r.kind, r.text, normalized(r.text), r.source_run,
                     r.source_agent, _ts(r.created_at), _ts(r.last_used_at), _ts(r.expires_at),
                     None if embedding is None else json.dumps(embedding)))
                stored = r.id
            conn.execute("DELETE FROM baton_memory WHERE seq IN (SELECT seq FROM baton_memory "
                         "WHERE expires_at <= ? LIMIT 100)", (at,))
            conn.execute(
                "DELETE FROM baton_memory WHERE seq IN (SELECT seq FROM baton_memory "
                "WHERE tenant = ? AND subject = ? ORDER BY last_used_at DESC, seq DESC "
                "LIMIT -1 OFFSET ?)", (r.tenant, r.subject, max_per_scope))
            row = conn.execute(f"SELECT {_COLUMNS} FROM baton_memory WHERE id = ?",
                               (stored,)).fetchone()
            return _record(row)

        return await self._db.run(put)

    async def search(self, tenant: str, subject: str, terms: list[str], *, limit: int,
                     now: datetime) -> list[tuple[MemoryRecord, float]]:
        if not terms:
            return []
        # Terms are letters and digits only (search_terms), so quoting them is enough.
        query = " OR ".join(f'"{term}"' for term in terms)
        columns = ", ".join(f"m.{c.strip()}" for c in _COLUMNS.split(","))

        def search(conn: sqlite3.Connection) -> list[tuple[MemoryRecord, float]]:
            rows = conn.execute(
                f"SELECT {columns}, bm25(baton_memory_fts) FROM baton_memory_fts "
                "JOIN baton_memory m ON m.seq = baton_memory_fts.rowid "
                "WHERE baton_memory_fts MATCH ? AND m.tenant = ? AND m.subject = ? "
                "AND (m.expires_at IS NULL OR m.expires_at > ?) "
                "ORDER BY bm25(baton_memory_fts) LIMIT ?",
                (query, tenant, subject, now.timestamp(), limit)).fetchall()
            return [(_record(row[:-1]), -float(row[-1])) for row in rows]  # BM25: lower is better

        return await self._db.run(search)

    async def embedded(self, tenant: str, subject: str, *, limit: int, now: datetime
                       ) -> list[tuple[MemoryRecord, list[float]]]:
        def embedded(conn: sqlite3.Connection) -> list[tuple[MemoryRecord, list[float]]]:
            rows = conn.execute(
                f"SELECT {_COLUMNS}, embedding FROM baton_memory WHERE tenant = ? AND "
                f"subject = ? AND embedding IS NOT NULL AND {_LIVE} "
                "ORDER BY last_used_at DESC LIMIT ?",
                (tenant, subject, now.timestamp(), limit)).fetchall()
            return [(_record(row[:-1]), json.loads(row[-1])) for row in rows]

        return await self._db.run(embedded)

    async def touch(self, tenant: str, ids: list[str], *, now: datetime) -> None:
        def touch(conn: sqlite3.Connection) -> None:
            conn.executemany("UPDATE baton_memory SET last_used_at = ?, uses = uses + 1 "
                             "WHERE tenant = ? AND id = ?",
                             [(now.timestamp(), tenant, i) for i in ids])

        if ids:
            await self._db.run(touch)

    async def list(self, *, tenant: str | None, subject: str | None, kind: str | None,
                   limit: int, now: datetime) -> list[MemoryRecord]:
        where, params = [_LIVE], list[Any]([now.timestamp()])
        for column, value in (("tenant", tenant), ("subject", subject), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)

        def listing(conn: sqlite3.Connection) -> list[MemoryRecord]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM baton_memory WHERE {' AND '.join(where)} "
                "ORDER BY created_at DESC, seq DESC LIMIT ?", (*params, limit)).fetchall()
            return [_record(row) for row in rows]

        return await self._db.run(listing)

    async def get(self, memory_id: str) -> MemoryRecord | None:
        def get(conn: sqlite3.Connection) -> MemoryRecord | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM baton_memory WHERE id = ?",
                               (memory_id,)).fetchone()
            return None if row is None else _record(row)

        return await self._db.run(get)

    async def forget(self, *, tenant: str, subject: str | None = None,
                     memory_id: str | None = None) -> int:
        where, params = ["tenant = ?"], [tenant]
        for column, value in (("subject", subject), ("id", memory_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)

        def forget(conn: sqlite3.Connection) -> int:
            return conn.execute(f"DELETE FROM baton_memory WHERE {' AND '.join(where)}",
                                params).rowcount

        return await self._db.run(forget)

    async def close(self) -> None:
        """Nothing stays open between calls."""
