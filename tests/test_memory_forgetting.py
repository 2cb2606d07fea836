"""Forgetting (docs/memory.md): a TTL per memory kind, ``baton memory list | show | forget`` run
as a user runs it (a subprocess on the worker's state directory), and forgetting a subject as a
data-deletion request: its memories and its cached tool reads go, other subjects' stay."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from memory_helpers import AGENT, admin, events, memory_team, remember, run
from temporalio.client import Client

from baton.activities.tools import LedgerStore, open_ledger
from baton.calls import ToolOutcome
from baton.errors import BatonError
from baton.memory import DAY_S, MemoryKind
from baton.runs import RecalledEvent, ToolCallEvent
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings

ROOT = Path(__file__).resolve().parents[1]
LOOKUP = {"tool_calls": [{"name": "lookup_order", "id": "l1",
                          "arguments": {"order_id": "A1001"}}]}


async def baton(settings: BatonSettings, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "baton.client.cli", "memory", *args], cwd=ROOT,
        env={**clean, "COLUMNS": "250", "BATON_HOME": str(settings.home)}, capture_output=True,
        text=True, timeout=60, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done


def _cached_subjects(settings: BatonSettings) -> list[str | None]:
    with sqlite3.connect(settings.resolved_ledger_path) as db:
        return [row[0] for row in db.execute("SELECT subject FROM baton_read_cache")]


async def test_a_kinds_ttl_sets_when_its_memories_expire(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = memory_team(kinds={"note": MemoryKind(ttl_s=DAY_S), "preference": MemoryKind()},
                       default_kind="note")
    await run(client, settings, team, "Remember two things.", subject="cust-69",
              scripted=scripted, script={AGENT: [
        remember("Called about a late parcel", cid="m1"),
        remember("Prefers email", "preference", cid="m2"), {"content": "Noted."}]})
    async with admin(settings) as memory:
        kept = {m.kind: m for m in await memory.list(subject="cust-69")}
    note, preference = kept["note"], kept["preference"]
    assert note.expires_at is not None and note.expires_at - note.created_at == timedelta(days=1)
    assert preference.expires_at is None  # kept until evicted or forgotten


async def test_forgetting_a_subject_removes_its_memories_and_cached_reads(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = memory_team(always_inject=("preference",))
    for subject, text in (("cust-70", "Prefers email"), ("cust-71", "Prefers phone")):
        await run(client, settings, team, "Where is order A1001?", subject=subject,
                  scripted=scripted, script={AGENT: [
            LOOKUP, remember(text, "preference"), {"content": "Delivered."}]})
    assert sorted(s or "" for s in _cached_subjects(settings)) == ["cust-70"]  # one cached read

    listed = (await baton(settings, "list", "--subject", "cust-70")).stdout
    assert "Prefers email" in listed and "Prefers phone" not in listed
    everything = json.loads((await baton(settings, "list", "--json")).stdout)
    assert {m["subject"] for m in everything} == {"cust-70", "cust-71"}
    theirs = next(m for m in everything if m["subject"] == "cust-71")
    shown = (await baton(settings, "show", theirs["id"])).stdout
    assert "Prefers phone" in shown and theirs["source_run"] in shown

    forgot = (await baton(settings, "forget", "--subject", "cust-70")).stdout
    assert "1 memories and 1 cached reads deleted" in forgot
    assert _cached_subjects(settings) == []
    assert "Prefers email" not in (await baton(settings, "list")).stdout

    # The next run about cust-70 starts from nothing: no memory, no cached read.
    again, _ = await run(client, settings, team, "Where is order A1001?", subject="cust-70",
                         scripted=scripted, script={AGENT: [LOOKUP, {"content": "Delivered."}]})
    log = await events(client, again)
    assert next(e for e in log if isinstance(e, RecalledEvent)).outcome == "nothing_relevant"
    assert next(e for e in log if isinstance(e, ToolCallEvent)).cache_hit is False

    assert "1 memories" in (await baton(settings, "forget", theirs["id"])).stdout
    async with admin(settings) as memory:
        assert await memory.list(subject="cust-71") == []
        with pytest.raises(BatonError, match="exactly one"):
            await memory.forget(tenant="default")
        with pytest.raises(BatonError, match="no memory"):
            await memory.show(theirs["id"])


@pytest.fixture(params=["sqlite", "postgres"])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LedgerStore]:
    url = (f"sqlite://{tmp_path / 'ledger.sqlite'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    store = open_ledger(url)
    try:
        yield store
    finally:
        await store.close()


async def test_cached_reads_tagged_with_or_naming_a_subject_are_purged(
        ledger: LedgerStore) -> None:
    ok = ToolOutcome(status="ok", content="{}")
    await ledger.cache_put("acme", "lookup_order", {"order_id": "A1"}, ok, 600,
                           subject="cust-9")
    await ledger.cache_put("acme", "crm_lookup", {"customer": "cust-9"}, ok, 600)
    await ledger.cache_put("acme", "crm_lookup", {"customer": "cust-90"}, ok, 600)
    await ledger.cache_put("globex", "crm_lookup", {"customer": "cust-9"}, ok, 600)
    assert await ledger.forget_subject("acme", "cust-9") == 2
    assert await ledger.cache_get("acme", "lookup_order", {"order_id": "A1"}) is None
    assert await ledger.cache_get("acme", "crm_lookup", {"customer": "cust-90"}) is not None
    assert await ledger.cache_get("globex", "crm_lookup", {"customer": "cust-9"}) is not None
