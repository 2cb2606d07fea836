"""Long-term memory for operators: list, show and forget, from Python or ``baton memory``.

Memories live in the workers' memory store (``memory_url``), not in Temporal, so this reads and
writes the store directly with the same configuration the workers have. Forgetting a subject is
a data-deletion request: its memories go, and so do the tenant's cached tool reads tagged with
it or naming it in their arguments (the read cache in the ledger store, ``ledger_url``). What
runs already recorded in Temporal's histories stays there until the namespace's retention
removes it (docs/memory.md#forgetting).

    async with MemoryAdmin.open(BatonSettings()) as memory:
        await memory.forget(tenant="acme", subject="customer-42")
"""

from __future__ import annotations

from types import TracebackType

from pydantic import BaseModel, ConfigDict

from baton.activities.memory import MemoryService, open_memory_store
from baton.activities.tools.store import LedgerStore, open_ledger
from baton.errors import BatonError
from baton.memory import MemoryRecord
from baton.settings import BatonSettings

__all__ = ["ForgetReport", "MemoryAdmin"]


class ForgetReport(BaseModel):
    """What a forget request deleted."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    subject: str | None = None
    memory_id: str | None = None
    memories: int  # memories deleted from the memory store
    cached_reads: int = 0  # read-cache entries purged (a subject's)


class MemoryAdmin:
    """The memory store (and, for forgetting a subject, the read cache) of a deployment."""

    def __init__(self, service: MemoryService, ledger: LedgerStore) -> None:
        self.service = service
        self.ledger = ledger

    @classmethod
    def open(cls, settings: BatonSettings) -> MemoryAdmin:
        return cls(MemoryService(open_memory_store(settings.resolved_memory_url)),
                   open_ledger(settings.resolved_ledger_url))

    async def __aenter__(self) -> MemoryAdmin:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self.service.close()
        await self.ledger.close()

    async def list(self, *, tenant: str | None = None, subject: str | None = None,
                   kind: str | None = None, limit: int = 50) -> list[MemoryRecord]:
        """Memories not expired yet, newest first (``subject=""``: the subject-less ones)."""
        return await self.service.store.list(tenant=tenant, subject=subject, kind=kind,
                                             limit=limit, now=self.service.clock())

    async def show(self, memory_id: str) -> MemoryRecord:
        found = await self.service.store.get(memory_id)
        if found is None:
            raise BatonError(f"no memory {memory_id!r}; `baton memory list` lists them")
        return found

    async def forget(self, *, tenant: str, subject: str | None = None,
                     memory_id: str | None = None, everything: bool = False) -> ForgetReport:
        """Forget one memory, a subject (its memories and its cached reads) or, with
        ``everything``, all of a tenant's memories. Exactly one of the three."""
        if sum((subject is not None, memory_id is not None, everything)) != 1:
            raise BatonError("forget one memory (its id), one subject, or everything of a "
                             "tenant (everything=True): exactly one of them")
        deleted = await self.service.store.forget(tenant=tenant, subject=subject,
                                                  memory_id=memory_id)
        purged = await self.ledger.forget_subject(tenant, subject) if subject else 0
        return ForgetReport(tenant=tenant, subject=subject, memory_id=memory_id,
                            memories=deleted, cached_reads=purged)
