"""Claim-before-execute in the ``execute_tool`` activity, on a real worker and dev server, against
both ledger stores (SQLite file, real PostgreSQL).

The races are made real, not simulated: a synchronous tool that sleeps longer than its
start-to-close timeout keeps running in its thread while Temporal schedules the retry. Assertions
are about how often tools ran and what history recorded, never about durations.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from temporalio.client import Client, WorkflowHandle
    from temporalio.worker import Worker

    from baton.activities.tools import RetryableToolError, ToolActivities, open_ledger
    from baton.activities.tools.store import ClaimRequest
    from baton.calls import ToolInvocation, ToolOutcome
    from baton.idempotency import idempotency_key
    from baton.specs import RetrySpec
    from baton.tools import ToolContext, ToolRegistry, tool

REG = ToolRegistry()
CALLS: Counter[str] = Counter()
RETRY = RetrySpec(max_attempts=10, initial_interval_s=0.1, backoff=1.0, max_interval_s=1.0)
LEASE_S = 1.5


@tool(registry=REG, effect="write", retry=RETRY)
def overrun(seconds: float, ctx: ToolContext) -> dict[str, Any]:
    """A write that outlives its start-to-close timeout in a thread nothing can stop."""
    CALLS["overrun"] += 1
    time.sleep(seconds)
    return {"executed_on_attempt": ctx.attempt}


@tool(registry=REG, effect="write", retry=RETRY)
def pay(order_id: str, ctx: ToolContext) -> dict[str, Any]:
    """A quick write."""
    CALLS["pay"] += 1
    return {"order_id": order_id, "attempt": ctx.attempt}


@tool(registry=REG, effect="write", retry=RETRY)
def pay_when_up(order_id: str, ctx: ToolContext) -> dict[str, Any]:
    """A write whose backend is busy on the first attempt."""
    CALLS["pay_when_up"] += 1
    if ctx.attempt == 1:
        raise RetryableToolError("backend busy")
    return {"order_id": order_id}


@tool(registry=REG, cacheable=True, cache_ttl_s=3600.0)
def account_balance(account: str) -> dict[str, Any]:
    """A cacheable read."""
    CALLS["account_balance"] += 1
    return {"account": account, "balance": CALLS["account_balance"]}


class Call(BaseModel):
    invocation: ToolInvocation
    start_to_close_s: float = 30.0
    max_attempts: int = 10


@workflow.defn
class ClaimedToolWorkflow:
    @workflow.run
    async def run(self, call: Call) -> ToolOutcome:
        outcome: ToolOutcome = await workflow.execute_activity(
            "execute_tool", call.invocation, result_type=ToolOutcome,
            start_to_close_timeout=timedelta(seconds=call.start_to_close_s),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100),
                                     backoff_coefficient=1.0,
                                     maximum_attempts=call.max_attempts))
        return outcome


@pytest.fixture(params=["sqlite", "postgres"])
async def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    CALLS.clear()
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'ledger.sqlite'}"
    else:
        yield request.getfixturevalue("pg_url")


def invocation(name: str, arguments: dict[str, Any], *, tenant: str = "acme") -> ToolInvocation:
    call_id, workflow_id = f"call-{uuid.uuid4().hex[:8]}", f"team-{uuid.uuid4().hex[:8]}"
    return ToolInvocation(
        tool=REG.resolve(name).spec, call_id=call_id, arguments=arguments,
        idempotency_key=idempotency_key(workflow_id, "team/clerk", 1, call_id), run_id=workflow_id,
        workflow_id=workflow_id, agent="clerk", step=1, tenant=tenant)


async def run(client: Client, url: str, call: Call
              ) -> tuple[ToolOutcome, WorkflowHandle[Any, ToolOutcome]]:
    queue = f"claims-{uuid.uuid4().hex[:8]}"
    acts = ToolActivities(REG, open_ledger(url), lease_s=LEASE_S)
    try:
        async with Worker(client, task_queue=queue, workflows=[ClaimedToolWorkflow],
                          activities=[acts.execute_tool]):
            handle = await client.start_workflow(ClaimedToolWorkflow.run, call,
                                                 id=f"wf-{uuid.uuid4().hex}", task_queue=queue)
            outcome = await handle.result()
        await acts.drain()
    finally:
        await acts.ledger.close()
    return outcome, handle


async def final_attempt(handle: WorkflowHandle[Any, Any]) -> tuple[int, str]:
    """The attempt number that completed, and the failure type of the attempt before it."""
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            return started.attempt, started.last_failure.application_failure_info.type
    raise AssertionError("the activity never started")


def ledger_row(url: str, key: str) -> tuple[int, str | None]:
    """(claims, outcome) of ``key``'s row."""
    sql = "SELECT claims, outcome FROM baton_ledger WHERE idempotency_key = "
    if url.startswith("sqlite://"):
        with sqlite3.connect(url.removeprefix("sqlite://")) as conn:
            row = conn.execute(sql + "?", (key,)).fetchone()
    else:
        with psycopg.connect(url) as conn:
            row = conn.execute(sql + "%s", (key,)).fetchone()
    assert row is not None
    return int(row[0]), row[1]


async def test_retry_while_the_first_attempt_still_runs_executes_once(
        client: Client, ledger_url: str) -> None:
    # start-to-close 1 s, the tool 3 s: Temporal retries while attempt 1's thread still runs.
    inv = invocation("overrun", {"seconds": 3.0})
    outcome, handle = await run(client, ledger_url, Call(invocation=inv, start_to_close_s=1.0))
    assert CALLS["overrun"] == 1
    assert outcome.status == "ok" and outcome.ledger_hit
    assert outcome.result == {"executed_on_attempt": 1}  # the orphaned attempt's outcome
    attempt, previous_failure = await final_attempt(handle)
    # The retry found attempt 1's claim live (renewed by its orphaned thread) and waited.
    assert attempt >= 3 and previous_failure == "ToolCallInProgress"
    assert ledger_row(ledger_url, inv.idempotency_key)[0] == 1  # never taken over


async def test_live_claim_of_another_attempt_is_waited_out_through_temporal(
        client: Client, ledger_url: str) -> None:
    inv = invocation("pay", {"order_id": "A1001"})
    holder = open_ledger(ledger_url)
    try:  # an attempt that claimed and died: nothing renews its lease
        await holder.claim(ClaimRequest(tenant="acme", key=inv.idempotency_key, tool="pay",
                                        arguments={}, owner="dead", attempt=1, lease_s=LEASE_S))
    finally:
        await holder.close()
    outcome, handle = await run(client, ledger_url, Call(invocation=inv))
    assert (outcome.status, outcome.ledger_hit, CALLS["pay"]) == ("ok", False, 1)
    attempt, previous_failure = await final_attempt(handle)
    assert attempt >= 2 and previous_failure == "ToolCallInProgress"
    assert ledger_row(ledger_url, inv.idempotency_key)[0] == 2  # taken over once


async def test_last_attempt_finding_a_live_claim_does_not_run_the_tool(
        client: Client, ledger_url: str) -> None:
    inv = invocation("pay", {"order_id": "A1002"})
    holder = open_ledger(ledger_url)
    try:
        await holder.claim(ClaimRequest(tenant="acme", key=inv.idempotency_key, tool="pay",
                                        arguments={}, owner="busy", attempt=1, lease_s=3600))
    finally:
        await holder.close()
    spec = inv.tool.model_copy(update={"retry": RETRY.model_copy(update={"max_attempts": 1})})
    inv = inv.model_copy(update={"tool": spec})
    outcome, _ = await run(client, ledger_url, Call(invocation=inv, max_attempts=1))
    assert (outcome.status, outcome.error_type) == ("error", "tool_unavailable")
    assert outcome.extra == {"in_progress": True} and "Do not call it again" in outcome.content
    assert CALLS["pay"] == 0
    assert ledger_row(ledger_url, inv.idempotency_key)[1] is None  # nothing recorded


async def test_transient_failure_releases_the_claim(client: Client, ledger_url: str) -> None:
    inv = invocation("pay_when_up", {"order_id": "A1003"})
    outcome, handle = await run(client, ledger_url, Call(invocation=inv))
    assert (outcome.status, CALLS["pay_when_up"]) == ("ok", 2)
    # The retry claimed at once: it was never told to wait for the failed attempt's lease.
    assert await final_attempt(handle) == (2, "RetryableToolError")
    assert ledger_row(ledger_url, inv.idempotency_key)[0] == 2


async def test_tenant_b_is_never_served_tenant_a_cached_read(
        client: Client, ledger_url: str) -> None:
    args = {"account": "shared-name"}
    first, _ = await run(client, ledger_url, Call(invocation=invocation(
        "account_balance", args, tenant="acme")))
    again, _ = await run(client, ledger_url, Call(invocation=invocation(
        "account_balance", args, tenant="acme")))
    other, _ = await run(client, ledger_url, Call(invocation=invocation(
        "account_balance", args, tenant="globex")))
    assert (first.cache_hit, again.cache_hit, other.cache_hit) == (False, True, False)
    assert again.result == first.result == {"account": "shared-name", "balance": 1}
    assert other.result == {"account": "shared-name", "balance": 2}  # its own read
    assert CALLS["account_balance"] == 2
