"""The durable side-effect ledger and the read-tool cache, one SQLite file per deployment.

Both tables live in the same WAL-mode file so every worker process on the host shares them:
a retried write whose first attempt ran on another worker still finds its recorded outcome, and
a cached read computed by one worker serves the others.

``side_effects``  one row per idempotency key: tool, arguments, outcome, completed_at. Rows are
                  never updated: the first recorded outcome of a key is *the* outcome.
``tool_cache``    (tool, canonical arguments) → outcome with an expiry time; expired rows are
                  ignored on read and purged on write.

The methods are synchronous (``sqlite3``); the activity calls them through
``asyncio.to_thread`` so a busy database never stalls the worker's event loop. Each call opens
its own short-lived connection: cheap for SQLite, and no connection is shared across threads.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from baton.calls import ToolOutcome

__all__ = ["Ledger", "canonical_json"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS side_effects (
    idempotency_key TEXT PRIMARY KEY,
    tool            TEXT NOT NULL,
    arguments       TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    completed_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tool_cache (
    tool        TEXT NOT NULL,
    arguments   TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    expires_at  REAL NOT NULL,
    PRIMARY KEY (tool, arguments)
);
CREATE INDEX IF NOT EXISTS tool_cache_expiry ON tool_cache (expires_at);
"""


def canonical_json(value: Any) -> str:
    """Key-sorted, whitespace-free JSON: equal arguments give equal text (the cache key)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Ledger:
    """SQLite ledger of completed side effects plus the TTL cache of read-tool results."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            # WAL lets readers run while one writer commits; synchronous=FULL because a ledger row
            # that vanishes after a power cut would let a side effect happen twice.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    # -- side effects -------------------------------------------------------------------------

    def lookup(self, key: str) -> ToolOutcome | None:
        """The recorded outcome of ``key``, or None if that call never completed."""
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT outcome FROM side_effects WHERE idempotency_key = ?", (key,)
            ).fetchone()
        return None if row is None else ToolOutcome.model_validate_json(row[0])

    def record(
        self, key: str, tool: str, arguments: dict[str, Any], outcome: ToolOutcome
    ) -> ToolOutcome:
        """Record ``outcome`` for ``key`` unless one is already recorded; return the winner.

        Two attempts of one call can race (a worker presumed dead that was only slow). The first
        row wins and both attempts return it, so the workflow sees a single outcome.
        """
        with closing(self._connect()) as conn:
            conn.execute(
                "INSERT OR IGNORE INTO side_effects "
                "(idempotency_key, tool, arguments, outcome, completed_at) VALUES (?, ?, ?, ?, ?)",
                (key, tool, canonical_json(arguments), outcome.model_dump_json(), time.time()),
            )
            row = conn.execute(
                "SELECT outcome FROM side_effects WHERE idempotency_key = ?", (key,)
            ).fetchone()
        return ToolOutcome.model_validate_json(row[0])

    # -- read cache ---------------------------------------------------------------------------

    def cache_get(self, tool: str, arguments: dict[str, Any]) -> ToolOutcome | None:
        with closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT outcome FROM tool_cache "
                "WHERE tool = ? AND arguments = ? AND expires_at > ?",
                (tool, canonical_json(arguments), time.time()),
            ).fetchone()
        return None if row is None else ToolOutcome.model_validate_json(row[0])

    def cache_put(
        self, tool: str, arguments: dict[str, Any], outcome: ToolOutcome, ttl_s: float
    ) -> None:
        now = time.time()
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM tool_cache WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT OR REPLACE INTO tool_cache (tool, arguments, outcome, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (tool, canonical_json(arguments), outcome.model_dump_json(), now + ttl_s),
            )
            conn.execute("COMMIT")
