"""A deploy that changes workflow code does not break a run waiting days for a person.

Workers run as versions of a Temporal Worker Deployment, and every Baton run is pinned to the
version it started on. Version 1 starts a run that waits for an approval; version 2, whose
``AgentWorkflow`` issues one more command at its start (a change that would not replay on a
version-1 history), becomes the current version; the waiting run is approved and finishes on
version 1's code while new runs use version 2's.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from helpers import make_current, new_run_id, support_team
from release_two import RELEASE_2
from temporalio.client import Client
from temporalio.worker import Replayer

from baton.approvals import ApprovalDecision
from baton.client import run_result
from baton.client.api import BatonClient
from baton.plugin import baton_data_converter, workflow_runner
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.worker import worker_resources
from baton.workflows import ALL_WORKFLOWS

LOOKUP = {"name": "lookup_order", "arguments": {"order_id": "A1001"}}
REFUND = {"name": "issue_refund",
          "arguments": {"order_id": "A1001", "amount": 10.0, "reason": "arrived broken"}}


async def memo_release(client: Client, run_id: str) -> Any:
    memo = await (await client.get_workflow_handle(run_id).describe()).memo()
    return memo.get("BatonRelease")


@pytest.mark.slow
async def test_a_run_waiting_for_approval_survives_a_deploy_that_changes_workflow_code(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    deployment = f"baton-{uuid.uuid4().hex[:6]}"
    v1 = settings.model_copy(update={"deployment_name": deployment, "build_id": "1"})
    v2 = settings.model_copy(update={"deployment_name": deployment, "build_id": "2"})
    team = support_team()  # issue_refund waits for a support lead
    waiting_id, fresh_id = new_run_id(team), new_run_id(team)
    scripted.set_script(waiting_id, {"support_agent": [
        {"tool_calls": [LOOKUP]}, {"tool_calls": [REFUND]}, {"content": "Refunded."}]})
    scripted.set_script(fresh_id, {"support_agent": [{"content": "Nothing to do."}]})
    baton = BatonClient(client, settings)
    async with worker_resources(client, v1) as one, one:
        await make_current(client, v1)
        await baton.start(team, "Refund A1001, it arrived broken.", run_id=waiting_id)
        for _ in range(300):
            pending = await baton.pending_approvals(waiting_id)
            if pending:
                break
            await asyncio.sleep(0.05)
        [approval] = pending
        # The deploy: version 2's workers start and become current; version 1's keep running
        # until the runs pinned to it are done.
        async with worker_resources(client, v2, workflows=RELEASE_2) as two, two:
            await make_current(client, v2)
            await baton.start(team, "Anything to do?", run_id=fresh_id)
            assert (await run_result(client.get_workflow_handle(fresh_id))).status is (
                RunStatus.COMPLETED)
            await baton.decide(ApprovalDecision(approval_id=approval.approval_id,
                                                decision="approve", by="alice"),
                               workflow_id=waiting_id)
            result = await baton.result(waiting_id)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "Refunded."
    assert await memo_release(client, waiting_id) is None  # finished on version 1's code
    assert await memo_release(client, fresh_id) == "2"  # new runs take version 2's
    # Why pinning matters: version 1's history does not replay on version 2's code.
    history = await client.get_workflow_handle(waiting_id).fetch_history()
    on_v1 = await Replayer(workflows=ALL_WORKFLOWS, data_converter=baton_data_converter(),
                           workflow_runner=workflow_runner()).replay_workflow(
        history, raise_on_replay_failure=False)
    on_v2 = await Replayer(workflows=RELEASE_2, data_converter=baton_data_converter(),
                           workflow_runner=workflow_runner()).replay_workflow(
        history, raise_on_replay_failure=False)
    assert on_v1.replay_failure is None
    assert on_v2.replay_failure is not None
