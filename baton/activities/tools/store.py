"""The ledger interface: claim a write call before it runs, record its outcome, cache reads.

One store holds two things for the ``execute_tool`` activity:

* the **ledger** of write calls, one row per (tenant, idempotency key). An attempt *claims* the
  key before the tool runs: the row names the claiming attempt (``owner``), its Temporal attempt
  number and a lease expiry. While the claim is live no other attempt, on any worker, runs the
  tool; the holder renews the lease from its heartbeat loop. When the tool returns, the outcome
  is recorded and every later attempt gets that outcome instead of running the tool. A holder
  that dies stops renewing: its lease expires and the next attempt takes the claim over (and
  runs the tool again: the tool's own use of the idempotency key covers that window).
* the **read cache** of cacheable read tools: (tenant, tool, canonical arguments) → outcome
  until a TTL, so one tenant is never served another tenant's read. Entries are tagged with the
  run's subject, so a data-deletion request for a subject purges them (``forget_subject``).

``SqliteLedger`` (one host, the embedded default) and ``PostgresLedger`` (any number of hosts)
implement :class:`LedgerStore`; :func:`open_ledger` picks one from a URL.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from baton.activities._store_url import store_kind
from baton.calls import ToolOutcome

__all__ = [
    "Busy",
    "Claim",
    "ClaimRequest",
    "Claimed",
    "LedgerStore",
    "Recorded",
    "canonical_json",
    "new_owner",
    "open_ledger",
    "subject_marker",
]


def canonical_json(value: Any) -> str:
    """Key-sorted, whitespace-free JSON: equal arguments give equal text (the cache key)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def subject_marker(subject: str) -> str:
    """How a subject appears inside canonical JSON arguments: as a JSON string value."""
    return json.dumps(subject, ensure_ascii=False)


def new_owner() -> str:
    """A claim owner: unique per attempt, readable by an operator (``pid@host/token``)."""
    return f"{os.getpid()}@{socket.gethostname()}/{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class ClaimRequest:
    tenant: str
    key: str
    tool: str
    arguments: dict[str, Any]
    owner: str
    attempt: int  # the Temporal attempt number, for operators reading the table
    lease_s: float


@dataclass(frozen=True)
class Claimed:
    """The caller holds the claim and runs the tool. ``claims`` counts how often the key was
    claimed: above 1, an earlier holder's lease expired without an outcome (it crashed, or lost
    its database), so the tool may already have acted once."""

    claims: int


@dataclass(frozen=True)
class Recorded:
    """The call already has an outcome: return it, never run the tool."""

    outcome: ToolOutcome


@dataclass(frozen=True)
class Busy:
    """Another attempt holds a live claim: do not run the tool; come back after ``expires_in_s``
    (the holder renews while it runs, so a later look usually finds the outcome)."""

    owner: str
    attempt: int
    expires_in_s: float


Claim = Claimed | Recorded | Busy


@runtime_checkable
class LedgerStore(Protocol):
    """What ``execute_tool`` needs from a durable store. Every method is safe to call from many
    attempts on many workers at once; the store makes claim, renew and record atomic."""

    async def claim(self, request: ClaimRequest) -> Claim:
        """Claim ``request.key`` for ``request.owner`` unless it has an outcome or a live claim."""
        ...

    async def renew(self, tenant: str, key: str, owner: str, lease_s: float) -> bool:
        """Extend ``owner``'s lease; False when ``owner`` no longer holds the claim."""
        ...

    async def release(self, tenant: str, key: str, owner: str) -> None:
        """Give up ``owner``'s claim without an outcome (the tool did not act: a transient error
        or a cancelled async tool), so the next attempt claims at once instead of waiting."""
        ...

    async def record(self, tenant: str, key: str, owner: str, outcome: ToolOutcome) -> ToolOutcome:
        """Record ``outcome`` unless one is recorded already; return the one that stands."""
        ...

    async def cache_get(self, tenant: str, tool: str, arguments: dict[str, Any]
                        ) -> ToolOutcome | None: ...

    async def cache_put(self, tenant: str, tool: str, arguments: dict[str, Any],
                        outcome: ToolOutcome, ttl_s: float, *, subject: str | None = None
                        ) -> None: ...

    async def forget_subject(self, tenant: str, subject: str) -> int:
        """Purge the tenant's cached reads of ``subject``: the entries tagged with it and the
        ones whose arguments name it. Returns how many were purged."""
        ...

    async def close(self) -> None: ...


def open_ledger(url: str) -> LedgerStore:
    """The store a URL names: ``sqlite://PATH`` (``sqlite:///var/lib/baton/ledger.sqlite`` is an
    absolute path) or ``postgresql://user:password@host:port/database``."""
    kind, where = store_kind(url, "ledger")
    if kind == "sqlite":
        from baton.activities.tools.sqlite_ledger import SqliteLedger

        return SqliteLedger(Path(where))
    from baton.activities.tools.postgres_ledger import PostgresLedger

    return PostgresLedger(str(where))
