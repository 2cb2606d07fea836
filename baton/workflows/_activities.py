"""The only door from workflow code to activities.

Activity classes are imported through the sandbox pass-through (they are never instantiated
here: the worker registers bound methods of its own instances), and every call gets explicit
timeouts, retry policies and a summary that makes the Temporal UI history read like a story.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from baton.calls import (
    CatalogRequest,
    CatalogResolution,
    ChatRequest,
    ChatResponse,
    ToolInvocation,
    ToolOutcome,
)
from baton.memory import MemoryRecord, RecallRequest, RecallResult, StoreRequest

with workflow.unsafe.imports_passed_through():
    from baton.activities.catalog import CatalogActivities
    from baton.activities.llm.activity import LlmActivities
    from baton.activities.memory.activity import MemoryActivities
    from baton.activities.tools import ToolActivities

__all__ = ["chat", "execute_tool", "rate_limited_queue", "recall_memories", "resolve_catalog",
           "store_memory"]


def rate_limited_queue(task_queue: str, profile_name: str) -> str:
    """The task queue of one rate-limited model profile's calls."""
    return f"{task_queue}.llm.{profile_name}"


async def resolve_catalog(request: CatalogRequest) -> CatalogResolution:
    # A local activity: it reads the worker's configuration only, so it needs no task queue
    # round trip; its result is still recorded in history (a marker) and never re-run on replay.
    return await workflow.execute_local_activity_method(
        CatalogActivities.resolve_catalog,
        request,
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
        summary="resolve_catalog: model profiles and tools of this run",
    )


# One attempt per activity: the agent loop retries model calls itself (baton.workflows._retry)
# so the run log sees every attempt and no wait passes the run's wall-clock budget.
_ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)


async def chat(request: ChatRequest, *, summary: str) -> ChatResponse:
    # The provider's own timeout fires first (httpx); the activity timeout is the backstop for a
    # response that hangs at the socket level, so a stuck call is retried rather than waited on.
    timeout = timedelta(seconds=request.profile.timeout_s + 5)
    limited = request.profile.max_requests_per_second is not None
    return await workflow.execute_activity_method(
        LlmActivities.chat,
        request,
        # A rate-limited profile's calls wait in a queue of their own, which the server hands
        # out at the profile's rate to all workers together.
        task_queue=rate_limited_queue(workflow.info().task_queue, request.profile_name)
        if limited else None,
        start_to_close_timeout=timeout,
        # The activity heartbeats every 2 s while the provider works: a lost worker is noticed
        # in seconds even when the model may legitimately take minutes.
        heartbeat_timeout=timedelta(seconds=10),
        retry_policy=_ONE_ATTEMPT,
        summary=summary,
    )


async def execute_tool(invocation: ToolInvocation, *, summary: str) -> ToolOutcome:
    spec = invocation.tool
    options: dict[str, Any] = {}
    if spec.heartbeat_s is not None:
        options["heartbeat_timeout"] = timedelta(seconds=spec.heartbeat_s * 3)
    return await workflow.execute_activity_method(
        ToolActivities.execute_tool,
        invocation,
        start_to_close_timeout=timedelta(seconds=spec.timeout_s),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=spec.retry.initial_interval_s),
            backoff_coefficient=spec.retry.backoff,
            maximum_interval=timedelta(seconds=spec.retry.max_interval_s),
            maximum_attempts=spec.retry.max_attempts,
        ),
        summary=summary,
        **options,
    )


# The memory store is the worker's: a few attempts ride out a busy database; a store that stays
# away fails the activity and the agent is told its memory is unavailable (recall) or the
# person's answer is kept in the conversation only (store).
_MEMORY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)


async def recall_memories(request: RecallRequest) -> RecallResult:
    return await workflow.execute_activity_method(
        MemoryActivities.recall_memories, request,
        start_to_close_timeout=timedelta(seconds=60), retry_policy=_MEMORY_RETRY,
        summary=f"recall_memories: {request.subject or request.tenant}")


async def store_memory(request: StoreRequest) -> MemoryRecord:
    # An upsert by id: a retried attempt keeps one memory.
    return await workflow.execute_activity_method(
        MemoryActivities.store_memory, request,
        start_to_close_timeout=timedelta(seconds=60), retry_policy=_MEMORY_RETRY,
        summary=f"store_memory: {request.kind} for {request.subject or request.tenant}")
