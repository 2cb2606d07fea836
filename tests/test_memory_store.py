"""The memory store contract, the same for both stores: SQLite (FTS5) on a temp file and
PostgreSQL (full-text search) on the session's real server (tests/postgres.py), behind
``MemoryService``. Time is the service's clock argument, never read by a test: a memory is
written "a year ago" by a service whose clock says so."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from baton.activities.memory import Embedder, MemoryService, open_memory_store
from baton.activities.memory.store import MemoryStore
from baton.memory import DAY_S, RecallRequest, StoreRequest
from baton.scripted.testing import ScriptedServer
from baton.settings import EmbeddingsSettings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MemoryStore]:
    url = (f"sqlite://{tmp_path / 'memory.sqlite'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    opened = open_memory_store(url)
    try:
        yield opened
    finally:
        await opened.close()


def at(when: datetime) -> Callable[[], datetime]:
    return lambda: when


def memory(n: int, text: str, *, subject: str = "cust-1", tenant: str = "acme",
           kind: str = "fact", ttl_s: float | None = None, cap: int = 500) -> StoreRequest:
    return StoreRequest(id=f"m{n}", tenant=tenant, subject=subject, kind=kind, text=text,
                        source_run=f"run-{n}", source_agent="support_agent", ttl_s=ttl_s,
                        max_per_scope=cap)


def ask(query: str, *, subject: str = "cust-1", tenant: str = "acme", limit: int = 3,
        **more: object) -> RecallRequest:
    return RecallRequest(tenant=tenant, subject=subject, query=query, limit=limit, **more)  # type: ignore[arg-type]


async def test_text_search_ranks_relevant_memories_first(store: MemoryStore) -> None:
    service = MemoryService(store, clock=at(NOW))
    for n, text in enumerate(["Prefers delivery by express courier to the office",
                              "Allergic to latex gloves in packaging",
                              "Prefers to be contacted by email, never by phone",
                              "Shipped order A1002 by express courier last week"]):
        await service.remember(memory(n, text))
    found = await service.recall(ask("how should we ship with a courier?"))
    assert found.mode == "text"
    assert [h.record.id for h in found.hits[:2]] == ["m0", "m3"] or \
        [h.record.id for h in found.hits[:2]] == ["m3", "m0"]
    assert all(h.record.id in ("m0", "m3") for h in found.hits)  # sharing a word is relevance
    assert found.hits[0].record.source_run in ("run-0", "run-3")
    assert (await service.recall(ask("refund policy"))).hits == []


async def test_scopes_never_mix_tenants_or_subjects(store: MemoryStore) -> None:
    service = MemoryService(store, clock=at(NOW))
    await service.remember(memory(1, "Prefers email", subject="cust-1"))
    await service.remember(memory(2, "Prefers email too", subject="cust-2"))
    await service.remember(memory(3, "Prefers email as well", tenant="globex"))
    await service.remember(memory(4, "Prefers email tenant-wide", subject=""))
    assert [h.record.id for h in (await service.recall(ask("email"))).hits] == ["m1"]
    assert [h.record.id for h in (await service.recall(ask("email", subject=""))).hits] == ["m4"]
    assert [h.record.id for h in (await service.recall(
        ask("email", tenant="globex"))).hits] == ["m3"]


async def test_a_retried_write_keeps_one_memory_and_a_repeated_fact_is_refreshed(
        store: MemoryStore) -> None:
    then = MemoryService(store, clock=at(NOW - timedelta(days=30)))
    first = await then.remember(memory(1, "Prefers email"))
    again = await then.remember(memory(1, "Prefers email"))  # the same write, retried
    assert again == first
    later = MemoryService(store, clock=at(NOW))
    confirmed = await later.remember(memory(2, "  prefers EMAIL "))  # said again in a new run
    assert confirmed.id == "m1" and confirmed.source_run == "run-2"
    assert confirmed.created_at == NOW
    assert len(await store.list(tenant="acme", subject=None, kind=None, limit=10, now=NOW)) == 1


async def test_memories_expire_with_the_ttl_of_their_kind(store: MemoryStore) -> None:
    year_ago = MemoryService(store, clock=at(NOW - timedelta(days=365)))
    await year_ago.remember(memory(1, "Uses the old billing address", ttl_s=30 * DAY_S))
    await year_ago.remember(memory(2, "Billing address is in Lyon", ttl_s=None))
    service = MemoryService(store, clock=at(NOW))
    found = await service.recall(ask("billing address"))
    assert [h.record.id for h in found.hits] == ["m2"]
    assert found.hits[0].age_s == 365 * DAY_S
    assert await store.get("m1") is not None  # expired: never recalled, purged on the next write
    await service.remember(memory(3, "Something new"))
    assert await store.get("m1") is None


async def test_older_than_max_age_is_returned_apart_as_stale(store: MemoryStore) -> None:
    await MemoryService(store, clock=at(NOW - timedelta(days=100))).remember(
        memory(1, "Prefers express shipping"))
    service = MemoryService(store, clock=at(NOW))
    found = await service.recall(ask("shipping", max_age_s=90 * DAY_S))
    assert found.hits == [] and [h.record.id for h in found.stale] == ["m1"]
    assert found.stale[0].stale


async def test_the_least_recently_used_go_beyond_the_cap_of_a_scope(store: MemoryStore) -> None:
    for n, word in enumerate(["alpha", "beta", "gamma"]):
        clock = at(NOW + timedelta(minutes=n))
        await MemoryService(store, clock=clock).remember(memory(n, f"{word} ships on Monday"))
    # m0 is recalled (used) later than m1 was written: m1 is the least recently used.
    await MemoryService(store, clock=at(NOW + timedelta(minutes=5))).recall(ask("alpha"))
    await MemoryService(store, clock=at(NOW + timedelta(minutes=6))).remember(
        memory(9, "delta ships on Friday", cap=3))
    kept = {r.id for r in await store.list(tenant="acme", subject="cust-1", kind=None,
                                           limit=10, now=NOW + timedelta(minutes=7))}
    assert kept == {"m0", "m2", "m9"}
    other = await store.list(tenant="acme", subject="cust-2", kind=None, limit=10, now=NOW)
    assert other == []


async def test_forgetting_a_subject_one_memory_or_a_tenant(store: MemoryStore) -> None:
    service = MemoryService(store, clock=at(NOW))
    for n, subject in enumerate(["cust-1", "cust-1", "cust-2", ""]):
        await service.remember(memory(n, f"fact {n}", subject=subject))
    await service.remember(memory(7, "fact 7", tenant="globex"))
    assert await store.forget(tenant="acme", subject="cust-1") == 2
    assert await store.forget(tenant="acme", memory_id="m2") == 1
    assert await store.forget(tenant="globex", memory_id="m3") == 0  # another tenant's id
    assert await store.forget(tenant="acme") == 1
    assert [r.id for r in await store.list(tenant=None, subject=None, kind=None, limit=10,
                                           now=NOW)] == ["m7"]


async def test_embeddings_find_by_meaning_what_text_search_misses(
        store: MemoryStore, scripted: ScriptedServer) -> None:
    embedder = Embedder(EmbeddingsSettings(), base_url=scripted.base_url)
    service = MemoryService(store, embedder, clock=at(NOW))
    await service.remember(memory(1, "Wants parcels sent by express courier"))
    await service.remember(memory(2, "Pays with a company credit card"))
    text_only = await MemoryService(store, clock=at(NOW)).recall(ask("delivery preferences"))
    assert text_only.hits == []
    found = await service.recall(ask("delivery preferences"))
    assert found.mode == "hybrid" and [h.record.id for h in found.hits] == ["m1"]
