"""``PostgresLedger``: the ledger and read cache in PostgreSQL, shared by workers on any hosts.

A retry can land on any worker replica; with every replica on the same database it finds the
first attempt's claim or outcome wherever that attempt ran. Each operation is one atomic
statement (``INSERT ... ON CONFLICT DO UPDATE ... WHERE``): PostgreSQL locks the conflicting row
and re-checks the condition on its newest version, so two attempts claiming at once get one
``Claimed`` and one ``Busy``. Lease times come from the database's clock
(``clock_timestamp()``), so clock skew between worker hosts cannot shorten or stretch a lease.

Connections come from a small psycopg pool, opened on first use (or by ``open()``) and closed
by ``close()``; ``BatonPlugin`` closes it when the worker stops. The tables are created on open
under an advisory lock, because concurrent ``CREATE TABLE IF NOT EXISTS`` from workers starting
together can still collide in PostgreSQL's catalog (``baton.activities._postgres``).
"""

from __future__ import annotations

from typing import Any

from baton.activities._postgres import PostgresPool
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

__all__ = ["PostgresLedger"]

_SCHEMA_LOCK = 0x6261746F6E  # "baton": one advisory lock id for schema changes
_SCHEMA = """
CREATE TABLE IF NOT EXISTS baton_ledger (
    tenant           TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    tool             TEXT NOT NULL,
    arguments        JSONB NOT NULL,
    owner            TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    claims           INTEGER NOT NULL,
    claimed_at       TIMESTAMPTZ NOT NULL,
    lease_expires_at TIMESTAMPTZ,
    outcome          TEXT,
    completed_at     TIMESTAMPTZ,
    PRIMARY KEY (tenant, idempotency_key)
);
CREATE TABLE IF NOT EXISTS baton_read_cache (
    tenant     TEXT NOT NULL,
    tool       TEXT NOT NULL,
    arguments  TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, tool, arguments)
);
CREATE INDEX IF NOT EXISTS baton_read_cache_expiry ON baton_read_cache (expires_at);
ALTER TABLE baton_read_cache ADD COLUMN IF NOT EXISTS subject TEXT;
"""

_LEASE = "clock_timestamp() + make_interval(secs => %(lease)s::float8)"
_CLAIM = f"""
INSERT INTO baton_ledger AS l (tenant, idempotency_key, tool, arguments, owner, attempt, claims,
                               claimed_at, lease_expires_at)
VALUES (%(tenant)s, %(key)s, %(tool)s, %(arguments)s::jsonb, %(owner)s, %(attempt)s, 1,
        clock_timestamp(), {_LEASE})
ON CONFLICT (tenant, idempotency_key) DO UPDATE
    SET owner = EXCLUDED.owner, attempt = EXCLUDED.attempt, claims = l.claims + 1,
        claimed_at = EXCLUDED.claimed_at, lease_expires_at = EXCLUDED.lease_expires_at
    WHERE l.outcome IS NULL AND l.lease_expires_at <= clock_timestamp()
RETURNING claims
"""
_HOLDER = """
SELECT owner, attempt, outcome,
       GREATEST(EXTRACT(EPOCH FROM lease_expires_at - clock_timestamp()), 0)::float8
FROM baton_ledger WHERE tenant = %(tenant)s AND idempotency_key = %(key)s
"""
_MINE = "tenant = %(tenant)s AND idempotency_key = %(key)s AND owner = %(owner)s " \
        "AND outcome IS NULL"
# A cache write also purges a bounded batch of expired entries, so the table stays small
# without a sweeper and no single write pays for a large backlog.
_PURGE = """
DELETE FROM baton_read_cache WHERE ctid IN (
    SELECT ctid FROM baton_read_cache WHERE expires_at <= clock_timestamp() LIMIT 100)
"""


class PostgresLedger:
    """Claims, outcomes and the read cache in PostgreSQL (see the module docstring)."""

    def __init__(self, url: str, *, max_connections: int = 10) -> None:
        self.url = url
        self._db = PostgresPool(url, name="baton-ledger", schema=_SCHEMA,
                                schema_lock=_SCHEMA_LOCK, max_connections=max_connections)

    async def open(self) -> None:
        """Connect and create the tables if needed (idempotent; every operation calls it)."""
        await self._db.open()

    async def _one(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        async with self._db.connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone() if cursor.description else None

    async def _count(self, sql: str, params: dict[str, Any]) -> int:
        async with self._db.connection() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.rowcount

    # -- ledger ---------------------------------------------------------------------------------

    async def claim(self, request: ClaimRequest) -> Claim:
        r = request
        params = {"tenant": r.tenant, "key": r.key, "tool": r.tool, "owner": r.owner,
                  "arguments": canonical_json(r.arguments), "attempt": r.attempt,
                  "lease": r.lease_s}
        claimed = await self._one(_CLAIM, params)
        if claimed is not None:
            return Claimed(claims=claimed[0])
        holder = await self._one(_HOLDER, params)
        if holder is None:  # deleted by an operator between the two statements: try again
            return Busy(owner="", attempt=0, expires_in_s=0.0)
        owner, attempt, outcome, expires_in_s = holder
        if outcome is not None:
            return Recorded(ToolOutcome.model_validate_json(outcome))
        return Busy(owner=owner, attempt=attempt, expires_in_s=float(expires_in_s))

    async def renew(self, tenant: str, key: str, owner: str, lease_s: float) -> bool:
        sql = f"UPDATE baton_ledger SET lease_expires_at = {_LEASE} WHERE {_MINE}"
        params = {"tenant": tenant, "key": key, "owner": owner, "lease": lease_s}
        return await self._count(sql, params) == 1

    async def release(self, tenant: str, key: str, owner: str) -> None:
        sql = f"UPDATE baton_ledger SET lease_expires_at = clock_timestamp() WHERE {_MINE}"
        await self._count(sql, {"tenant": tenant, "key": key, "owner": owner})

    async def record(self, tenant: str, key: str, owner: str, outcome: ToolOutcome) -> ToolOutcome:
        # First outcome wins, whoever holds the claim now: a holder whose lease expired still
        # ran the tool, and its outcome is as true as its successor's.
        params = {"tenant": tenant, "key": key, "outcome": outcome.model_dump_json()}
        row = await self._one(
            "UPDATE baton_ledger SET outcome = %(outcome)s, completed_at = clock_timestamp(), "
            "lease_expires_at = NULL WHERE tenant = %(tenant)s AND idempotency_key = %(key)s "
            "AND outcome IS NULL RETURNING outcome", params)
        if row is None:
            row = await self._one("SELECT outcome FROM baton_ledger WHERE tenant = %(tenant)s "
                                  "AND idempotency_key = %(key)s", params)
        if row is None or row[0] is None:
            raise LookupError(f"no claim on {key} for tenant {tenant}: record without claim")
        return ToolOutcome.model_validate_json(row[0])

    # -- read cache -----------------------------------------------------------------------------

    async def cache_get(self, tenant: str, tool: str, arguments: dict[str, Any]
                        ) -> ToolOutcome | None:
        row = await self._one(
            "SELECT outcome FROM baton_read_cache WHERE tenant = %(tenant)s AND tool = %(tool)s "
            "AND arguments = %(arguments)s AND expires_at > clock_timestamp()",
            {"tenant": tenant, "tool": tool, "arguments": canonical_json(arguments)})
        return None if row is None else ToolOutcome.model_validate_json(row[0])

    async def cache_put(self, tenant: str, tool: str, arguments: dict[str, Any],
                        outcome: ToolOutcome, ttl_s: float, *, subject: str | None = None
                        ) -> None:
        await self._count(_PURGE, {})
        await self._count(
            "INSERT INTO baton_read_cache (tenant, tool, arguments, outcome, expires_at, subject) "
            "VALUES (%(tenant)s, %(tool)s, %(arguments)s, %(outcome)s, "
            "clock_timestamp() + make_interval(secs => %(ttl)s::float8), %(subject)s) "
            "ON CONFLICT (tenant, tool, arguments) DO UPDATE SET outcome = EXCLUDED.outcome, "
            "expires_at = EXCLUDED.expires_at, subject = EXCLUDED.subject",
            {"tenant": tenant, "tool": tool, "arguments": canonical_json(arguments),
             "outcome": outcome.model_dump_json(), "ttl": ttl_s, "subject": subject})

    async def forget_subject(self, tenant: str, subject: str) -> int:
        return await self._count(
            "DELETE FROM baton_read_cache WHERE tenant = %(tenant)s AND (subject = %(subject)s "
            "OR strpos(arguments, %(marker)s) > 0)",
            {"tenant": tenant, "subject": subject, "marker": subject_marker(subject)})

    async def close(self) -> None:
        await self._db.close()
