"""``PostgresPool``: a small psycopg pool to one PostgreSQL database, and how the shared stores
(the tool ledger and the memory store) reach it.

The pool is opened on first use (or by ``open()``) and closed by ``close()``; its connections
are in autocommit mode, and a caller that needs a transaction opens one
(``conn.transaction()``). On open the store's tables are created in one transaction under an
advisory lock (one lock id per store), because concurrent ``CREATE TABLE IF NOT EXISTS`` from
workers starting together can still collide in PostgreSQL's catalog.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresPool"]


class PostgresPool:
    """Connections to ``url`` (at most ``max_connections``), the tables of ``schema`` (statements
    separated by ``;``) created under the advisory lock ``schema_lock`` when it opens."""

    def __init__(self, url: str, *, name: str, schema: str, schema_lock: int,
                 max_connections: int) -> None:
        self._pool: AsyncConnectionPool[AsyncConnection[TupleRow]] = AsyncConnectionPool(
            url, min_size=1, max_size=max_connections, open=False,
            kwargs={"autocommit": True}, name=name)
        self._schema = schema
        self._schema_lock = schema_lock
        self._opened = False
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Connect and create the tables if needed (idempotent; ``connection()`` calls it)."""
        if self._opened:
            return
        async with self._lock:
            if self._opened:
                return
            await self._pool.open(wait=True, timeout=30.0)
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._schema_lock,))
                for statement in self._schema.split(";"):
                    if statement.strip():
                        await conn.execute(statement)
            self._opened = True

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[TupleRow]]:
        """A connection of the pool (opened first if needed), returned to it afterwards."""
        await self.open()
        async with self._pool.connection() as conn:
            yield conn

    async def close(self) -> None:
        await self._pool.close()
        self._opened = False
