"""Helpers shared by the workflow tests (imported as ``helpers``; pytest puts tests/ on sys.path)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client

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
