"""The ledger contract, the same for both stores: SQLite on a temp file and PostgreSQL on the
session's real server (tests/postgres.py). No clocks are read here: an expired lease is one
claimed with ``lease_s=0``, a live one has an hour."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from baton.activities.tools import LedgerStore, SqliteLedger, open_ledger
from baton.activities.tools.store import Busy, Claimed, ClaimRequest, Recorded
from baton.calls import ToolOutcome

HOUR = 3600.0
OK = ToolOutcome(status="ok", content="refunded", value={"refund_id": "RF-00001"})
OTHER = ToolOutcome(status="ok", content="refunded again", value={"refund_id": "RF-00002"})


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LedgerStore]:
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'ledger.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    ledger = open_ledger(url)
    try:
        yield ledger
    finally:
        await ledger.close()


def req(owner: str, *, key: str = "k1", tenant: str = "acme", lease_s: float = HOUR,
        attempt: int = 1) -> ClaimRequest:
    return ClaimRequest(tenant=tenant, key=key, tool="issue_refund",
                        arguments={"order_id": "A1001", "amount": 5}, owner=owner,
                        attempt=attempt, lease_s=lease_s)


async def test_first_claim_wins_and_a_second_owner_is_told_busy(store: LedgerStore) -> None:
    assert await store.claim(req("a")) == Claimed(claims=1)
    busy = await store.claim(req("b", attempt=2))
    assert isinstance(busy, Busy)
    assert (busy.owner, busy.attempt) == ("a", 1)
    assert 0 < busy.expires_in_s <= HOUR


async def test_recorded_outcome_is_returned_to_every_later_attempt(store: LedgerStore) -> None:
    await store.claim(req("a"))
    assert await store.record("acme", "k1", "a", OK) == OK
    for owner in ("b", "c"):
        assert await store.claim(req(owner)) == Recorded(OK)
    # A late second record (the holder's lease had expired and a successor ran) loses.
    assert await store.record("acme", "k1", "b", OTHER) == OK


async def test_expired_lease_is_taken_over(store: LedgerStore) -> None:
    await store.claim(req("a", lease_s=0))  # the holder died: nothing renews it
    assert await store.claim(req("b", attempt=2)) == Claimed(claims=2)
    assert isinstance(await store.claim(req("c", attempt=3)), Busy)
    # The dead holder cannot renew a claim it lost; the new holder can.
    assert not await store.renew("acme", "k1", "a", HOUR)
    assert await store.renew("acme", "k1", "b", HOUR)


async def test_renewal_keeps_a_short_lease_alive(store: LedgerStore) -> None:
    await store.claim(req("a", lease_s=0))
    assert await store.renew("acme", "k1", "a", HOUR)
    assert isinstance(await store.claim(req("b")), Busy)


async def test_release_lets_the_next_attempt_claim_at_once(store: LedgerStore) -> None:
    await store.claim(req("a"))
    await store.release("acme", "k1", "b")  # not the holder: no effect
    assert isinstance(await store.claim(req("b")), Busy)
    await store.release("acme", "k1", "a")
    assert await store.claim(req("b")) == Claimed(claims=2)
    assert not await store.renew("acme", "k1", "a", HOUR)


async def test_keys_are_per_tenant(store: LedgerStore) -> None:
    await store.claim(req("a", tenant="acme"))
    await store.record("acme", "k1", "a", OK)
    assert await store.claim(req("b", tenant="globex")) == Claimed(claims=1)


async def test_concurrent_claims_have_one_winner(store: LedgerStore) -> None:
    results = await asyncio.gather(*(store.claim(req(f"o{i}")) for i in range(12)))
    assert sum(isinstance(r, Claimed) for r in results) == 1
    assert sum(isinstance(r, Busy) for r in results) == 11


async def test_read_cache_never_crosses_tenants(store: LedgerStore) -> None:
    args = {"order_id": "A1001"}
    await store.cache_put("acme", "lookup_order", args, OK, HOUR)
    assert await store.cache_get("acme", "lookup_order", args) == OK
    assert await store.cache_get("globex", "lookup_order", args) is None
    assert await store.cache_get("acme", "lookup_order", {"order_id": "A1002"}) is None
    await store.cache_put("globex", "lookup_order", args, OTHER, HOUR)
    assert await store.cache_get("acme", "lookup_order", args) == OK
    await store.cache_put("acme", "lookup_order", args, OK, 0)  # expired at once
    assert await store.cache_get("acme", "lookup_order", args) is None


# A worker process of the same host: it claims the call with an hour's lease, says so, and waits.
_HOLDER = """
import asyncio, sys
from baton.activities.tools import SqliteLedger
from baton.activities.tools.store import ClaimRequest

async def main() -> None:
    ledger = SqliteLedger(sys.argv[1])
    await ledger.claim(ClaimRequest(tenant="acme", key="k1", tool="issue_refund", arguments={},
                                    owner="holder", attempt=1, lease_s=3600))
    print("claimed", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_claim_whose_process_ended_is_taken_over_before_its_lease(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLDER, str(path), stdout=asyncio.subprocess.PIPE)
    ledger = SqliteLedger(path)
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), 60) == b"claimed\n"
        busy = await ledger.claim(req("retry", attempt=2))
        assert isinstance(busy, Busy) and busy.owner == "holder"  # alive: waited out
        holder.send_signal(signal.SIGSTOP)  # stuck is not gone: still waited out
        assert isinstance(await ledger.claim(req("retry", attempt=2)), Busy)
        holder.kill()  # SIGKILL: no clean-up of any kind
        await holder.wait()
        assert await ledger.claim(req("retry", attempt=2)) == Claimed(claims=2)
        assert not await ledger.renew("acme", "k1", "holder", HOUR)
        assert await ledger.renew("acme", "k1", "retry", HOUR)
        assert list(path.with_name("ledger.sqlite.holders").iterdir()) == [
            path.with_name("ledger.sqlite.holders") / f"{ledger._holders.token}.lock"]
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await ledger.close()
    assert list(path.with_name("ledger.sqlite.holders").iterdir()) == []


def legacy_file(path: Path, schema: str, row: str, *values: object) -> Path:
    """A ledger file as an earlier release wrote it: its tables and one row."""
    with sqlite3.connect(path) as conn:
        conn.executescript(schema)
        conn.execute(row, values)
    return path


async def test_sqlite_file_from_before_claims_is_migrated(tmp_path: Path) -> None:
    path = legacy_file(
        tmp_path / "old.sqlite",
        "CREATE TABLE side_effects (idempotency_key TEXT PRIMARY KEY, tool TEXT NOT NULL, "
        "arguments TEXT NOT NULL, outcome TEXT NOT NULL, completed_at REAL NOT NULL);"
        "CREATE TABLE tool_cache (tool TEXT, arguments TEXT, outcome TEXT, expires_at REAL);",
        "INSERT INTO side_effects VALUES ('k1', 'issue_refund', '{}', ?, 1.0)",
        OK.model_dump_json())
    ledger = SqliteLedger(path)
    # An activity scheduled before the upgrade carries the default tenant.
    assert await ledger.claim(req("a", tenant="default")) == Recorded(OK)
    SqliteLedger(path)  # opening again is a no-op
    with sqlite3.connect(path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "side_effects" not in tables and "tool_cache" not in tables


async def test_a_claim_from_before_holders_were_named_is_waited_out(tmp_path: Path) -> None:
    path = legacy_file(
        tmp_path / "old.sqlite",
        "CREATE TABLE baton_ledger (tenant TEXT NOT NULL, idempotency_key TEXT NOT NULL, "
        "tool TEXT NOT NULL, arguments TEXT NOT NULL, owner TEXT NOT NULL, attempt INTEGER "
        "NOT NULL, claims INTEGER NOT NULL, claimed_at REAL NOT NULL, lease_expires_at REAL, "
        "outcome TEXT, completed_at REAL, PRIMARY KEY (tenant, idempotency_key))",
        "INSERT INTO baton_ledger VALUES ('acme', 'k1', 'issue_refund', '{}', 'a', 1, 1, 0, "
        "4102444800, NULL, NULL)")  # a lease until 2100
    ledger = SqliteLedger(path)
    try:
        busy = await ledger.claim(req("b", attempt=2))  # its process is unknown: not "gone"
        assert isinstance(busy, Busy) and busy.owner == "a"
        assert await ledger.claim(req("c", key="k2")) == Claimed(claims=1)
    finally:
        await ledger.close()


def test_ledger_urls(tmp_path: Path) -> None:
    assert isinstance(open_ledger(f"sqlite://{tmp_path}/ledger.sqlite"), SqliteLedger)
    assert (tmp_path / "ledger.sqlite").exists()  # sqlite:///abs/path is an absolute path
    with pytest.raises(ValueError, match="no scheme"):
        open_ledger("/var/lib/ledger.sqlite")
    with pytest.raises(ValueError, match="not supported"):
        open_ledger("mysql://db/ledger")
