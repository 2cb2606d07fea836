"""The memory activities: recall at a run's start, and keeping a person's answer.

Workflow code never reads or writes the memory store itself: at a run's start it asks
``recall_memories`` for what the store holds about the task (the result, recorded in history,
is what the agent is shown on every replay), and ``store_memory`` keeps the answer a person
gave when nothing was recalled. The tools write through ``execute_tool`` (see
:mod:`baton.activities.memory.tools`), with the ledger and approvals of any write tool.
"""

from __future__ import annotations

from temporalio import activity

from baton.activities.memory.service import MemoryService
from baton.memory import MemoryRecord, RecallRequest, RecallResult, StoreRequest

__all__ = ["RECALL_MEMORIES", "STORE_MEMORY", "MemoryActivities"]

RECALL_MEMORIES, STORE_MEMORY = "recall_memories", "store_memory"  # activity type names


class MemoryActivities:
    def __init__(self, service: MemoryService) -> None:
        self.service = service

    @activity.defn(name=RECALL_MEMORIES)
    async def recall_memories(self, request: RecallRequest) -> RecallResult:
        return await self.service.recall(request)

    @activity.defn(name=STORE_MEMORY)
    async def store_memory(self, request: StoreRequest) -> MemoryRecord:
        # An upsert by the request's id: a retried attempt finds the memory the first one kept.
        return await self.service.remember(request)
