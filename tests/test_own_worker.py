"""Baton in a user's own worker: the documented example runs a workflow of the user's and a
Baton run side by side on one worker built from a client that carries ``BatonPlugin``."""

from __future__ import annotations

import uuid

from helpers import support_team
from temporalio.client import Client

from baton.client.api import BatonClient
from baton.examples.own_worker import OrderFollowUp, build_worker
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings


async def test_users_workflow_and_a_baton_run_share_one_worker(
        temporal_env: object, client: Client, settings: BatonSettings,
        scripted: ScriptedServer) -> None:
    settings = settings.model_copy(update={"temporal_address": client.service_client.config
                                           .target_host, "namespace": client.namespace})
    team = support_team()
    run_id = f"own-{uuid.uuid4().hex[:8]}"
    scripted.set_script(run_id, {"support_agent": [
        {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A1002"}}]},
        {"content": "Order A1002 is on its way."}]})
    async with await build_worker(settings):
        own = await client.execute_workflow(OrderFollowUp.run, "A1002",
                                            id=f"follow-up-{uuid.uuid4().hex[:8]}",
                                            task_queue=settings.task_queue)
        baton = BatonClient(client, settings)
        await baton.start(team, "Where is order A1002?", run_id=run_id)
        result = await baton.result(run_id)
    assert own == "order A1002 arrives in 2 days"
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "Order A1002 is on its way."
    scripted.assert_script_consumed(run_id)
