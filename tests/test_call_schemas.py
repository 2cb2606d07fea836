"""An agent's tools and output schema enter its history once per workflow run, its replies once.

The first model call of a run carries them in full; later calls carry only their digest, and the
worker fills them in from its cache or, on a worker that never saw them, from the workflow's
``call_schemas`` query. The scripted model checks that every request it gets still lists the
tools, so a worker that lost them would be caught by the model, not only by the history.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from helpers import new_run_id, support_team
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.calls import CallSchemas, ToolSchema
from baton.client import run_result
from baton.runs import RunInput, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.worker import worker_resources

TASK = "Order A1001 arrived broken. Please look it up and refund it."
TOOLS = ["lookup_order", "search_help_center", "issue_refund"]


def step(**fields: Any) -> dict[str, Any]:
    return {**fields, "expect": {"tools_include": TOOLS}}


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
        step(tool_calls=[{"name": "issue_refund", "arguments": {
            "order_id": "A1001", "amount": 20, "reason": "arrived broken"}}]),
        step(content="Refunded."),
    ]})
    handle = await client.start_workflow("AgentWorkflow", RunInput(team=team, input=TASK),
                                         id=run_id, task_queue=settings.task_queue,
                                         result_type=RunResult)
    async with worker_resources(client, settings) as worker, worker:
        waiting: list[PendingApproval] = []
        while not waiting:
            waiting = await handle.query("pending_approvals", result_type=list[PendingApproval])
            await asyncio.sleep(0 if waiting else 0.05)
    # The worker that held the tools is gone: the next model call reaches one that never saw them.
    async with worker_resources(client, settings) as worker, worker:
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
    for request in later:
        assert "tools" not in request and "output_schema" not in request
        assert request["schemas_digest"] == first["schemas_digest"]
        # The model's own replies are not sent back: the prefix covers them.
        assert [m["kind"] for m in request["delta"]] == ["tool"]
    # What a fresh worker asks for is what was sent; an unknown digest is answered with
    # nothing rather than with some other agent's tools.
    assert held == sent
    assert unknown.digest() == ""


def test_a_schema_change_changes_the_digest() -> None:
    tool = ToolSchema(name="lookup_order", description="Look up an order.",
                      parameters={"type": "object", "properties": {}})
    plain = CallSchemas(tools=(tool,))
    with_output = CallSchemas(tools=(tool,), output_schema={"type": "object"})
    renamed = CallSchemas(tools=(tool.model_copy(update={"description": "Find an order."}),))
    assert len({plain.digest(), with_output.digest(), renamed.digest()}) == 3
    assert CallSchemas().digest() == ""  # nothing to refer to: nothing is referred to
    assert CallSchemas(output_schema={"type": "object"}).digest() != ""
