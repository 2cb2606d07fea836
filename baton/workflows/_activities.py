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

from baton.budgets import Grant, ReserveRequest
from baton.calls import (
    CatalogRequest,
    CatalogResolution,
    ChatRequest,
    ChatResponse,
    ToolInvocation,
    ToolOutcome,
)
from baton.canary import VersionStats
from baton.memory import MemoryRecord, RecallRequest, RecallResult, StoreRequest
from baton.rollout import VersionQuery

with workflow.unsafe.imports_passed_through():
    from baton.activities.catalog import CatalogActivities
    from baton.activities.llm.activity import LlmActivities
    from baton.activities.memory.activity import MemoryActivities
    from baton.activities.rollout import RolloutActivities
    from baton.activities.tenant import TenantActivities
    from baton.activities.tools import ToolActivities

__all__ = ["chat", "execute_tool", "rate_limited_queue", "recall_memories", "reserve_tenant_budget",
           "resolve_catalog", "store_memory", "version_stats"]


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


def _chat_retry(max_attempts: int) -> RetryPolicy:
    # Temporal owns the retries of a model call. Non-retryable failures (quota, context window,
    # auth, bad request, a wait past the deadline) are raised non_retryable by the activity;
    # retryable ones wait what the provider asked for (next_retry_delay) or this backoff.
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=max_attempts,
    )


async def chat(request: ChatRequest, *, summary: str,
               deadline: timedelta | None = None) -> ChatResponse:
    """One model call, every attempt of it. ``deadline``: what is left of the run's wall-clock
    budget; Temporal then never starts an attempt past it (schedule-to-close)."""
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
        schedule_to_close_timeout=deadline,
        # The activity heartbeats every 2 s while the provider works: a lost worker is noticed
        # in seconds even when the model may legitimately take minutes. The heartbeats carry
        # the attempts' records (baton.activities.llm.attempts).
        heartbeat_timeout=timedelta(seconds=10),
        retry_policy=_chat_retry(request.profile.max_attempts),
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


async def reserve_tenant_budget(request: ReserveRequest, *, wait_s: float) -> Grant:
    # The authority may hold a grant up to ``wait_s`` for calls in flight to settle; retries are
    # safe (the reservation id makes a repeated request get the same grant), and bounded: an
    # authority that cannot be reached ends the run rather than letting it spend unmetered.
    return await workflow.execute_activity_method(
        TenantActivities.reserve_tenant_budget,
        request,
        start_to_close_timeout=timedelta(seconds=wait_s + 30),
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                                 maximum_interval=timedelta(seconds=10), maximum_attempts=5),
        summary=f"reserve tenant budget: {request.agent}, up to "
                f"{request.prompt_tokens + request.max_output_tokens:,} tokens",
    )


async def version_stats(query: VersionQuery) -> list[VersionStats]:
    # Reads Temporal visibility only; a failed read is simply tried again at the next check.
    return await workflow.execute_activity_method(
        RolloutActivities.version_stats,
        query,
        start_to_close_timeout=timedelta(seconds=60),
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3),
        summary=f"version stats of team {query.team}",
    )
