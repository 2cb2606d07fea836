"""An agent's tools and output schema enter its history once per workflow run, its replies and
its tool results once.

The first model call of a run carries them in full; later calls carry only their digest, and the
worker fills them in from its cache or, on a worker that never saw them, from the workflow's
``call_schemas`` query. The scripted model checks that every request it gets still lists the
tools (and ends with the latest tool result), so a worker that lost them would be caught by the
model, not only by the history.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from helpers import new_run_id, support_team
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from baton.activities.llm.conversations import ConversationCache
from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.calls import CallSchemas, ToolSchema
from baton.client import run_result
from baton.messages import AssistantMessage, ToolResultMessage
from baton.plugin import BatonPlugin
from baton.runs import RunInput, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.worker import worker_resources

TASK = "Order A1001 arrived broken. Please look it up and refund it."
TOOLS = ["lookup_order", "search_help_center", "issue_refund"]


def step(last: str | None = None, *, expect_messages: tuple[str, ...] | list[str] = (),
         **fields: Any) -> dict[str, Any]:
    expect: dict[str, Any] = {"tools_include": TOOLS, "messages_contain": list(expect_messages)}
    if last is not None:
        expect["last_message_contains"] = last
    return {**fields, "expect": expect}


def conversation_cache(worker: Worker) -> ConversationCache:
    plugin = next(p for p in worker.config()["plugins"] if isinstance(p, BatonPlugin))
    return plugin.llm.cache


async def chat_inputs(client: Client, run_id: str) -> list[dict[str, Any]]:
    history = await client.get_workflow_handle(run_id).fetch_history()
    return [json.loads(e.activity_task_scheduled_event_attributes.input.payloads[0].data)
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == "chat"]


async def test_tools_are_sent_once_and_a_fresh_worker_asks_the_workflow(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    team = support_team()
    run_id = new_run_id(team)
    scripted.set_script(run_id, {"support_agent": [
        step(tool_calls=[{"name": "lookup_order", "arguments": {"order_id": "A1001"}}]),
        # The worker that ran the lookup completes the conversation with the result itself.
        step("Maria Lopez", tool_calls=[{"name": "issue_refund", "arguments": {
            "order_id": "A1001", "amount": 20, "reason": "arrived broken"}}]),
        # The refund ran on a fresh worker: the conversation is rebuilt from the workflow.
        step("RF-", content="Refunded."),
    ]})
    handle = await client.start_workflow("AgentWorkflow", RunInput(team=team, input=TASK),
                                         id=run_id, task_queue=settings.task_queue,
                                         result_type=RunResult)
    caches: list[ConversationCache] = []
    async with worker_resources(client, settings) as worker, worker:
        caches.append(conversation_cache(worker))
        waiting: list[PendingApproval] = []
        while not waiting:
            waiting = await handle.query("pending_approvals", result_type=list[PendingApproval])
            await asyncio.sleep(0 if waiting else 0.05)
    # The worker that held the tools is gone: the next model call reaches one that never saw them.
    async with worker_resources(client, settings) as worker, worker:
        caches.append(conversation_cache(worker))
        receipt = await handle.execute_update("decide", ApprovalDecision(
            approval_id=waiting[0].approval_id, decision="approve", by="alice"),
            result_type=DecisionReceipt)
        assert receipt.accepted, receipt
        result = await run_result(handle)
        first, *later = await chat_inputs(client, run_id)
        held = await handle.query("call_schemas", first["schemas_digest"], result_type=CallSchemas)
        unknown = await handle.query("call_schemas", "0" * 32, result_type=CallSchemas)
    assert result.status is RunStatus.COMPLETED, result.reason
    scripted.assert_script_consumed(run_id)

    assert [t["name"] for t in first["tools"]] == TOOLS
    sent = CallSchemas(tools=tuple(ToolSchema.model_validate(t) for t in first["tools"]))
    assert first["schemas_digest"] == sent.digest() != ""
    assert len(later) == 2
    for turn, request in enumerate(later, start=1):
        assert "tools" not in request and "output_schema" not in request
        assert request["schemas_digest"] == first["schemas_digest"]
        # Neither the model's replies nor the tools' results are sent back: the prefix covers
        # them (they are in the history once, as the results of their activities).
        assert request["delta"] == []
        assert request["prefix"]["length"] == len(first["delta"]) + 2 * turn
    # What a fresh worker asks for is what was sent; an unknown digest is answered with
    # nothing rather than with some other agent's tools.
    assert held == sent
    assert unknown.digest() == ""
    # The first worker completed the second call's prefix with the lookup's result; the second
    # worker, which held no conversation, asked the workflow.
    assert [(c.stats.hits, c.stats.misses) for c in caches] == [(1, 0), (0, 1)]


async def test_the_results_of_one_turn_s_calls_are_held_in_call_order(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    """Two calls of one turn run concurrently and may finish in either order; the worker that
    ran them completes the next call's conversation in the order of the calls."""
    team = support_team()
    run_id = new_run_id(team)
    scripted.set_script(run_id, {"support_agent": [
        step(tool_calls=[{"name": "lookup_order", "arguments": {"order_id": "A1001"}},
                         {"name": "search_help_center", "arguments": {"query": "refund"}}]),
        step(content="Found it.", expect_messages=["Maria Lopez"]),
    ]})
    async with worker_resources(client, settings) as worker, worker:
        result = await client.execute_workflow(
            "AgentWorkflow", RunInput(team=team, input=TASK), id=run_id,
            task_queue=settings.task_queue, result_type=RunResult)
        cache = conversation_cache(worker)
        held = cache.get((run_id, "support_agent"))
    assert result.status is RunStatus.COMPLETED, result.reason
    scripted.assert_script_consumed(run_id)
    first, second = await chat_inputs(client, run_id)
    assert second["delta"] == []
    assert second["prefix"]["length"] == len(first["delta"]) + 3  # the reply and two results
    assert (cache.stats.hits, cache.stats.misses) == (1, 0)
    assert held is not None
    reply, *results, answer = held[-4:]
    assert isinstance(reply, AssistantMessage) and isinstance(answer, AssistantMessage)
    assert [r.tool_call_id for r in results if isinstance(r, ToolResultMessage)] == [
        call.id for call in reply.tool_calls]


def test_a_schema_change_changes_the_digest() -> None:
    tool = ToolSchema(name="lookup_order", description="Look up an order.",
                      parameters={"type": "object", "properties": {}})
    plain = CallSchemas(tools=(tool,))
    with_output = CallSchemas(tools=(tool,), output_schema={"type": "object"})
    renamed = CallSchemas(tools=(tool.model_copy(update={"description": "Find an order."}),))
    assert len({plain.digest(), with_output.digest(), renamed.digest()}) == 3
    assert CallSchemas().digest() == ""  # nothing to refer to: nothing is referred to
    assert CallSchemas(output_schema={"type": "object"}).digest() != ""
