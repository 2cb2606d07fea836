"""``SqliteFile``: one SQLite file that the worker processes of a host share, and how the
embedded stores (the tool ledger and the memory store) reach it.

The file is in WAL mode (readers run while one writer commits) and its schema is created when
the store is built. Every call opens its own short-lived connection in a thread
(``asyncio.to_thread``): cheap for SQLite, never shared across threads, and a busy database
never stalls the worker's event loop. Each call is one ``BEGIN IMMEDIATE`` transaction: the
write lock comes first, so a look-up and the write that depends on it are one step across
threads and processes. How durable a commit is (``PRAGMA synchronous``) is each store's choice.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Literal, TypeVar

__all__ = ["SqliteFile", "transaction"]

T = TypeVar("T")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction on ``conn`` (opened with ``isolation_level=None``), the write lock
    taken first: the check and the set inside are one step."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteFile:
    """The file at ``path`` (its directory created), in WAL mode with ``schema`` applied."""

    def __init__(self, path: str | Path, *, schema: str,
                 synchronous: Literal["NORMAL", "FULL"], busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._synchronous = synchronous
        self._busy_timeout_s = busy_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self.connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(schema)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        return conn

    def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in one transaction on a connection of its own, in this thread."""
        with closing(self.connect()) as conn, transaction(conn):
            return fn(conn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in one transaction on a connection of its own, in a worker thread."""
        return await asyncio.to_thread(self.call, fn)
