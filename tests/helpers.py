"""Helpers shared by the workflow tests (imported as ``helpers``; pytest puts tests/ on sys.path)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client
from temporalio.service import RPCError

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import run_result
from baton.loader import load_team
from baton.runs import RunInput, RunResult
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec

EXAMPLES = Path(__file__).parent.parent / "baton" / "examples"


def support_team(**agent_overrides: Any) -> TeamSpec:
    """The example support team, with agent fields overridden for a test."""
    team = load_team(EXAMPLES / "support.yaml")
    agent = team.agents[0].model_copy(update=agent_overrides)
    return team.model_copy(update={"agents": (agent,)})


def new_run_id(team: TeamSpec) -> str:
    return f"{team.name}-{uuid.uuid4().hex[:10]}"


async def run_agent(
    client: Client,
    settings: BatonSettings,
    team: TeamSpec,
    task: str,
    *,
    script: dict[str, list[dict[str, Any]]] | None = None,
    scripted: ScriptedServer | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Start an AgentWorkflow run (scripted when ``script`` is given) and wait for its result."""
    run_id = run_id or new_run_id(team)
    if script is not None:
        assert scripted is not None
        scripted.set_script(run_id, script)
    handle = await client.start_workflow(
        "AgentWorkflow", RunInput(team=team, input=task), id=run_id,
        task_queue=settings.task_queue, result_type=RunResult,
    )
    result: RunResult = await run_result(handle)
    return result


async def run_approving(client: Client, settings: BatonSettings, team: TeamSpec, task: str, *,
                        by: str = "alice", run_id: str | None = None) -> tuple[RunResult, int]:
    """Run without a script, approving every approval request through the public update, as a
    person at the CLI would. Returns the result and how many approvals were given."""
    run_id = run_id or new_run_id(team)
    handle = await client.start_workflow(
        "AgentWorkflow", RunInput(team=team, input=task), id=run_id,
        task_queue=settings.task_queue, result_type=RunResult)
    approved = 0
    result_task = asyncio.ensure_future(run_result(handle))
    while not result_task.done():
        for pending in await handle.query("pending_approvals", result_type=list[PendingApproval]):
            await handle.execute_update("decide", ApprovalDecision(
                approval_id=pending.approval_id, decision="approve", by=by, reason="test"))
            approved += 1
        await asyncio.wait([result_task], timeout=0.05)
    return result_task.result(), approved


async def make_current(client: Client, settings: BatonSettings) -> None:
    """What an operator does once the new version's workers poll (`temporal worker deployment
    set-current-version`): new runs start on it; pinned runs stay where they are."""
    for _ in range(100):
        try:
            await client.workflow_service.set_worker_deployment_current_version(
                SetWorkerDeploymentCurrentVersionRequest(
                    namespace=client.namespace, deployment_name=settings.deployment_name,
                    build_id=settings.build_id))
            return
        except RPCError:  # the version registers with its first poll
            await asyncio.sleep(0.1)
    raise AssertionError(f"version {settings.build_id} never became current")
