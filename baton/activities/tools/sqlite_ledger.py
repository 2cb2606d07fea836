"""``SqliteLedger``: the ledger and read cache in one SQLite file, for the workers of one host.

The embedded default (``ledger_path``, ``.baton/ledger.sqlite``). Every worker process on the
host opens the same WAL-mode file, so a retry that lands on another process of the same host
sees the claim and the outcome. Workers on *different* hosts each have their own file and see
nothing of each other: deployments with more than one host use ``PostgresLedger``.

Claims are check-and-set inside ``BEGIN IMMEDIATE`` transactions: SQLite's write lock makes the
look-up and the claim one step across threads and processes. Lease times are this host's clock,
which every process sharing the file also reads. A claim also names the process that holds it,
and a claim whose process is known to have ended (``baton.activities.tools.holders``) is taken
over at once instead of when its lease runs out: a worker killed during a write costs its
retry the wait for Temporal's timeout, not the lease too.

The methods are synchronous ``sqlite3`` calls run through ``asyncio.to_thread`` so a busy
database never stalls the worker's event loop; each call opens its own short-lived connection
(cheap for SQLite, and no connection is shared across threads): ``baton.activities._sqlite``.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from baton.activities._sqlite import SqliteFile
from baton.activities.tools.holders import HolderLock
from baton.activities.tools.store import (
    Busy,
    Claim,
    Claimed,
    ClaimRequest,
    Recorded,
    canonical_json,
    subject_marker,
)
from baton.calls import ToolOutcome

__all__ = ["SqliteLedger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS baton_ledger (
    tenant           TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    tool             TEXT NOT NULL,
    arguments        TEXT NOT NULL,
    owner            TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    claims           INTEGER NOT NULL,
    claimed_at       REAL NOT NULL,
    lease_expires_at REAL,
    outcome          TEXT,
    completed_at     REAL,
    holder           TEXT,
    PRIMARY KEY (tenant, idempotency_key)
);
CREATE TABLE IF NOT EXISTS baton_read_cache (
    tenant     TEXT NOT NULL,
    tool       TEXT NOT NULL,
    arguments  TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    expires_at REAL NOT NULL,
    subject    TEXT,
    PRIMARY KEY (tenant, tool, arguments)
);
CREATE INDEX IF NOT EXISTS baton_read_cache_expiry ON baton_read_cache (expires_at);
"""

# Files written before claims existed hold completed calls in ``side_effects``: they move over
# as the default tenant's (the tenant activities scheduled before the upgrade carry), so a retry
# across the upgrade still finds its outcome. The old cache had no tenant and is dropped.
_MIGRATE = """
INSERT OR IGNORE INTO baton_ledger (tenant, idempotency_key, tool, arguments, owner, attempt,
                                     claims, claimed_at, lease_expires_at, outcome, completed_at)
    SELECT 'default', idempotency_key, tool, arguments, '', 0, 1, completed_at, NULL, outcome,
           completed_at
    FROM side_effects;
DROP TABLE side_effects;
"""


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a file written by an earlier version up to the current schema."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    if "side_effects" in tables:
        for statement in _MIGRATE.split(";"):
            if statement.strip():
                conn.execute(statement)
    if "tool_cache" in tables:
        conn.execute("DROP TABLE tool_cache")
    cache = {r[1] for r in conn.execute("PRAGMA table_info(baton_read_cache)")}
    if "subject" not in cache:  # a file from before subjects were tagged
        conn.execute("ALTER TABLE baton_read_cache ADD COLUMN subject TEXT")
    ledger = {r[1] for r in conn.execute("PRAGMA table_info(baton_ledger)")}
    if "holder" not in ledger:  # a file from before claims named their process
        conn.execute("ALTER TABLE baton_ledger ADD COLUMN holder TEXT")


class SqliteLedger:
    """Claims, outcomes and the read cache in one SQLite file (see the module docstring)."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        # synchronous=FULL: a ledger row that vanishes after a power cut would let a side effect
        # happen twice.
        self._db = SqliteFile(self.path, schema=_SCHEMA, synchronous="FULL",
                              busy_timeout_s=busy_timeout_s)
        self._db.call(_migrate)
        self._holders = HolderLock(self.path.with_name(self.path.name + ".holders"))

    # -- ledger ---------------------------------------------------------------------------------

    async def claim(self, request: ClaimRequest) -> Claim:
        r, me = request, self._holders.hold()

        def claim(conn: sqlite3.Connection) -> Claim:
            now = time.time()
            row = conn.execute(
                "SELECT owner, attempt, claims, lease_expires_at, outcome, holder "
                "FROM baton_ledger WHERE tenant = ? AND idempotency_key = ?",
                (r.tenant, r.key)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO baton_ledger (tenant, idempotency_key, tool, arguments, owner, "
                    "attempt, claims, claimed_at, lease_expires_at, holder) "
                    "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
                    (r.tenant, r.key, r.tool, canonical_json(r.arguments), r.owner, r.attempt,
                     now, now + r.lease_s, me))
                return Claimed(claims=1)
            owner, attempt, claims, expires, outcome, holder = row
            if outcome is not None:
                return Recorded(ToolOutcome.model_validate_json(outcome))
            if expires is not None and expires > now and not self._holders.gone(holder):
                return Busy(owner=owner, attempt=attempt, expires_in_s=expires - now)
            conn.execute(
                "UPDATE baton_ledger SET owner = ?, attempt = ?, claims = claims + 1, "
                "claimed_at = ?, lease_expires_at = ?, holder = ? "
                "WHERE tenant = ? AND idempotency_key = ?",
                (r.owner, r.attempt, now, now + r.lease_s, me, r.tenant, r.key))
            return Claimed(claims=claims + 1)

        return await self._db.run(claim)

    async def renew(self, tenant: str, key: str, owner: str, lease_s: float) -> bool:
        def renew(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE baton_ledger SET lease_expires_at = ? WHERE tenant = ? "
                "AND idempotency_key = ? AND owner = ? AND outcome IS NULL",
                (time.time() + lease_s, tenant, key, owner))
            return cursor.rowcount == 1

        return await self._db.run(renew)

    async def release(self, tenant: str, key: str, owner: str) -> None:
        def release(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE baton_ledger SET lease_expires_at = ? WHERE tenant = ? "
                "AND idempotency_key = ? AND owner = ? AND outcome IS NULL",
                (time.time(), tenant, key, owner))

        await self._db.run(release)

    async def record(self, tenant: str, key: str, owner: str, outcome: ToolOutcome) -> ToolOutcome:
        # First outcome wins, whoever holds the claim now: a holder whose lease expired still
        # ran the tool, and its outcome is as true as its successor's.
        def record(conn: sqlite3.Connection) -> str:
            conn.execute(
                "UPDATE baton_ledger SET outcome = ?, completed_at = ?, lease_expires_at = NULL "
                "WHERE tenant = ? AND idempotency_key = ? AND outcome IS NULL",
                (outcome.model_dump_json(), time.time(), tenant, key))
            row = conn.execute("SELECT outcome FROM baton_ledger WHERE tenant = ? "
                               "AND idempotency_key = ?", (tenant, key)).fetchone()
            if row is None or row[0] is None:
                raise LookupError(f"no claim on {key} for tenant {tenant}: record without claim")
            text: str = row[0]
            return text

        return ToolOutcome.model_validate_json(await self._db.run(record))

    # -- read cache -----------------------------------------------------------------------------

    async def cache_get(self, tenant: str, tool: str, arguments: dict[str, Any]
                        ) -> ToolOutcome | None:
        def get(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT outcome FROM baton_read_cache WHERE tenant = ? AND tool = ? "
                "AND arguments = ? AND expires_at > ?",
                (tenant, tool, canonical_json(arguments), time.time())).fetchone()
            return None if row is None else str(row[0])

        text = await self._db.run(get)
        return None if text is None else ToolOutcome.model_validate_json(text)

    async def cache_put(self, tenant: str, tool: str, arguments: dict[str, Any],
                        outcome: ToolOutcome, ttl_s: float, *, subject: str | None = None
                        ) -> None:
        def put(conn: sqlite3.Connection) -> None:
            now = time.time()
            conn.execute("DELETE FROM baton_read_cache WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT OR REPLACE INTO baton_read_cache (tenant, tool, arguments, outcome, "
                "expires_at, subject) VALUES (?, ?, ?, ?, ?, ?)",
                (tenant, tool, canonical_json(arguments), outcome.model_dump_json(), now + ttl_s,
                 subject))

        await self._db.run(put)

    async def forget_subject(self, tenant: str, subject: str) -> int:
        def forget(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM baton_read_cache WHERE tenant = ? AND (subject = ? "
                "OR instr(arguments, ?) > 0)", (tenant, subject, subject_marker(subject))).rowcount

        return await self._db.run(forget)

    async def close(self) -> None:
        """No connection stays open between calls; this process's holder lock is let go."""
        self._holders.close()
