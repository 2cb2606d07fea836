"""The ``execute_tool`` activity inside a real Temporal worker, against the real dev server.

Each test starts a tiny workflow that runs the activity with an explicit retry policy; attempt
counts come from the workflow's history (``ActivityTaskStarted.attempt``), not from the tool.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from temporalio.client import Client
    from temporalio.worker import (
        ActivityInboundInterceptor,
        ExecuteActivityInput,
        Interceptor,
        Worker,
    )

    from baton.activities.tools import Ledger, RetryableToolError, ToolActivities, idempotency_key
    from baton.calls import ToolInvocation, ToolOutcome
    from baton.examples.support_tools import issue_refund
    from baton.specs import RetrySpec, ToolSpec
    from baton.tools import ToolContext, ToolRegistry, default_registry, tool

REG = ToolRegistry()
CALLS: Counter[str] = Counter()
FAST_RETRY = RetrySpec(max_attempts=3, initial_interval_s=0.1, backoff=1.0)


@tool(registry=REG)
def add(a: int, b: int) -> dict[str, int]:
    """Add two integers."""
    CALLS["add"] += 1
    return {"sum": a + b}


@tool(registry=REG)
def explode(message: str) -> str:
    """Always fails."""
    raise ValueError(message)


@tool(registry=REG, retry=FAST_RETRY)
def flaky(ctx: ToolContext) -> dict[str, int]:
    """Busy on the first attempt."""
    if ctx.attempt == 1:
        raise RetryableToolError("backend busy", retry_after=0.1)
    return {"attempt": ctx.attempt}


@tool(registry=REG, retry=FAST_RETRY.model_copy(update={"max_attempts": 2}))
def always_down() -> str:
    """Its backend never answers."""
    raise ConnectionError("connection refused")


@tool(registry=REG, cacheable=True, cache_ttl_s=60.0)
async def weather(city: str, unit: str = "C") -> dict[str, Any]:
    """Current weather in a city."""
    CALLS["weather"] += 1
    return {"city": city, "temperature": 21, "unit": unit}


@tool(registry=REG, effect="write")
def refund_once(order_id: str, amount: float, reason: str, ctx: ToolContext) -> dict[str, Any]:
    """The example refund tool, counted."""
    CALLS["refund_once"] += 1
    return issue_refund(order_id, amount, reason, ctx)


@tool(registry=REG)
def big(size: int) -> str:
    """A long text."""
    return "x" * size


@tool(registry=REG, heartbeat_s=1.0)
def slow(seconds: float, report: bool, ctx: ToolContext) -> str:
    """Blocks its thread for a while, optionally reporting progress itself."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if report:
            ctx.heartbeat(round(deadline - time.monotonic(), 1))  # from the tool's thread
        time.sleep(0.25)
    return "done"


@tool(registry=REG)
def opaque() -> object:
    """Returns something that has no JSON form."""
    return object()


class Call(BaseModel):
    invocation: ToolInvocation
    max_attempts: int = 3
    heartbeat_timeout_s: float | None = None


@workflow.defn
class ExecuteToolWorkflow:
    @workflow.run
    async def run(self, call: Call) -> ToolOutcome:
        hb = call.heartbeat_timeout_s
        outcome: ToolOutcome = await workflow.execute_activity(
            "execute_tool",
            call.invocation,
            result_type=ToolOutcome,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=hb) if hb else None,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                backoff_coefficient=1.0,
                maximum_attempts=call.max_attempts,
            ),
        )
        return outcome


class _LoseFirstCompletion(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        if activity.info().attempt == 1:
            # The tool ran and committed; the server never learns: it retries the activity.
            raise ApplicationError("completion lost on the way to the server", type="Lost")
        return result


class LoseFirstCompletion(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _LoseFirstCompletion(next)


def invocation(
    name: str,
    arguments: dict[str, Any] | None = None,
    *,
    registry: ToolRegistry = REG,
    raw: str | None = None,
    spec: ToolSpec | None = None,
) -> ToolInvocation:
    spec = spec or registry.resolve(name).spec
    call_id, workflow_id = f"call-{uuid.uuid4().hex[:8]}", f"team-{uuid.uuid4().hex[:8]}"
    return ToolInvocation(
        tool=spec, call_id=call_id, arguments=arguments or {}, raw_arguments=raw,
        idempotency_key=idempotency_key(workflow_id, "support/support_agent", 1, call_id),
        run_id=workflow_id, workflow_id=workflow_id, agent="support_agent", step=1,
    )


async def run_tool(
    client: Client,
    acts: ToolActivities,
    inv: ToolInvocation,
    *,
    max_attempts: int = 3,
    interceptors: tuple[Interceptor, ...] = (),
) -> tuple[ToolOutcome, int]:
    """Run ``inv`` through a fresh worker; return the outcome and the attempt that produced it."""
    queue = f"tools-{uuid.uuid4().hex}"
    hb = inv.tool.heartbeat_s
    async with Worker(
        client, task_queue=queue, workflows=[ExecuteToolWorkflow],
        activities=[acts.execute_tool], interceptors=list(interceptors),
    ):
        handle = await client.start_workflow(
            ExecuteToolWorkflow.run, Call(invocation=inv, max_attempts=max_attempts,
                                          heartbeat_timeout_s=hb),
            id=f"wf-{uuid.uuid4().hex}", task_queue=queue,
        )
        outcome = await handle.result()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        async for e in handle.fetch_history_events()
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert len(attempts) == 1
    return outcome, attempts[0]


@pytest.fixture
def acts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ToolActivities:
    monkeypatch.setenv("BATON_SUPPORT_DB", str(tmp_path / "support.sqlite"))
    CALLS.clear()
    return ToolActivities(REG, Ledger(tmp_path / "ledger.sqlite"))


def outbox_count(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "support.sqlite") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def test_idempotency_key_is_stable_and_separator_safe() -> None:
    key = idempotency_key("wf", "team/agent", 3, "call_1")
    assert key == idempotency_key("wf", "team/agent", 3, "call_1")
    assert len(key) == 64
    assert key != idempotency_key("wf", "team", 3, "agent/call_1")
    assert key != idempotency_key("wf", "team/agent", 4, "call_1")


async def test_ok_result_from_a_module_tool(client: Client, tmp_path: Path,
                                            acts: ToolActivities) -> None:
    # What a worker configured with the example's module serves.
    served = default_registry.serving(["baton.examples.support_tools"])
    module_acts = ToolActivities(served, acts.ledger)
    inv = invocation("lookup_order", {"order_id": "A1002"}, registry=served)
    outcome, attempt = await run_tool(client, module_acts, inv)
    assert outcome.status == "ok", outcome.content
    assert outcome.result["item"] == "Espresso machine"
    assert '"customer": "James Carter"' in outcome.content
    assert outcome.duration_ms > 0
    assert attempt == 1


async def test_invalid_arguments_are_listed_and_not_retried(client: Client,
                                                            acts: ToolActivities) -> None:
    outcome, attempt = await run_tool(client, acts, invocation("add", {"a": "many", "c": 1}))
    assert (outcome.status, outcome.error_type, attempt) == ("error", "invalid_arguments", 1)
    assert "- a: Input should be a valid integer" in outcome.content
    assert "- b: required argument is missing" in outcome.content
    assert "- c: unknown argument; allowed: a, b" in outcome.content
    assert [p["field"] for p in outcome.extra["errors"]] == ["a", "b", "c"]
    assert CALLS["add"] == 0


async def test_non_json_arguments(client: Client, acts: ToolActivities) -> None:
    outcome, attempt = await run_tool(client, acts, invocation("add", raw="{a: 1, b: 2"))
    assert (outcome.error_type, attempt) == ("invalid_arguments", 1)
    assert "not a JSON object: '{a: 1, b: 2'" in outcome.content


async def test_unknown_tool(client: Client, acts: ToolActivities) -> None:
    spec = ToolSpec(name="no_such_tool", description="?", parameters={}, module=__name__)
    outcome, _ = await run_tool(client, acts, invocation("no_such_tool", spec=spec))
    assert outcome.error_type == "unknown_tool"
    assert "unknown tool 'no_such_tool'" in outcome.content


async def test_tool_that_raises_is_an_error_for_the_model(client: Client,
                                                          acts: ToolActivities) -> None:
    outcome, attempt = await run_tool(client, acts, invocation("explode", {"message": "boom"}))
    assert (outcome.error_type, outcome.content, attempt) == (
        "tool_raised", "tool explode failed: ValueError: boom", 1,
    )


async def test_retryable_error_is_retried_by_temporal(client: Client,
                                                      acts: ToolActivities) -> None:
    outcome, attempt = await run_tool(client, acts, invocation("flaky"))
    assert (outcome.status, outcome.result, attempt) == ("ok", {"attempt": 2}, 2)


async def test_transient_error_on_the_last_attempt_reaches_the_model(
    client: Client, acts: ToolActivities
) -> None:
    outcome, attempt = await run_tool(client, acts, invocation("always_down"), max_attempts=2)
    assert (outcome.error_type, attempt) == ("tool_unavailable", 2)
    assert "ConnectionError: connection refused" in outcome.content


async def test_cacheable_read_runs_once(client: Client, acts: ToolActivities) -> None:
    first, _ = await run_tool(client, acts, invocation("weather", {"city": "Lyon"}))
    # Defaults are part of the canonical arguments, so spelling them out hits the same entry.
    second, _ = await run_tool(client, acts, invocation("weather", {"city": "Lyon", "unit": "C"}))
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.result == first.result
    assert CALLS["weather"] == 1


async def test_write_tool_retried_after_commit_does_not_write_twice(
    client: Client, tmp_path: Path, acts: ToolActivities
) -> None:
    inv = invocation("refund_once", {"order_id": "A1001", "amount": 20.0, "reason": "late"})
    outcome, attempt = await run_tool(client, acts, inv, interceptors=(LoseFirstCompletion(),))
    assert attempt == 2
    assert (outcome.status, outcome.ledger_hit) == ("ok", True)
    assert outcome.result["status"] == "queued"
    assert CALLS["refund_once"] == 1
    assert outbox_count(tmp_path) == 1


async def test_lost_ledger_row_is_covered_by_the_tools_own_key(
    client: Client, tmp_path: Path, acts: ToolActivities
) -> None:
    # A crash between the tool's commit and the ledger row: the next attempt finds no record
    # (a fresh ledger here) and runs the tool again, which recognises its idempotency key.
    inv = invocation("refund_once", {"order_id": "A1003", "amount": 50.0, "reason": "torn"})
    first, _ = await run_tool(client, acts, inv)
    amnesiac = ToolActivities(REG, Ledger(tmp_path / "other-ledger.sqlite"))
    second, _ = await run_tool(client, amnesiac, inv)
    assert CALLS["refund_once"] == 2
    assert second.result == first.result
    assert outbox_count(tmp_path) == 1


async def test_large_results_are_truncated(client: Client, tmp_path: Path,
                                           acts: ToolActivities) -> None:
    small = ToolActivities(REG, acts.ledger, max_result_chars=100)
    outcome, _ = await run_tool(client, small, invocation("big", {"size": 5000}))
    assert outcome.truncated
    assert outcome.content == "x" * 100 + "\n[truncated: 100 of 5000 characters shown]"
    assert outcome.result == "x" * 5000  # small enough to keep for the run log
    huge, _ = await run_tool(client, small, invocation("big", {"size": 200_000}))
    assert huge.result is None  # would bloat workflow history
    assert huge.extra == {"value_omitted": True, "value_bytes": 200_002}


@pytest.mark.parametrize("report", [False, True], ids=["automatic", "tool-reported"])
async def test_heartbeats_keep_a_long_tool_alive(client: Client, acts: ToolActivities,
                                                 report: bool) -> None:
    # heartbeat_timeout is 1 s (the tool's heartbeat_s); the tool blocks a thread for 3 s.
    inv = invocation("slow", {"seconds": 3.0, "report": report})
    outcome, attempt = await asyncio.wait_for(run_tool(client, acts, inv, max_attempts=1), 30)
    assert (outcome.status, outcome.result, attempt) == ("ok", "done", 1)


async def test_unserialisable_result(client: Client, acts: ToolActivities) -> None:
    outcome, attempt = await run_tool(client, acts, invocation("opaque"))
    assert (outcome.error_type, attempt) == ("unserialisable_result", 1)
    assert "tool opaque returned a object" in outcome.content
