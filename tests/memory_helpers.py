"""Helpers of the memory tests: a support team with long-term memory, runs about a subject,
and the memory store the test's worker uses (opened with the worker's own configuration)."""

from __future__ import annotations

from typing import Any

from helpers import new_run_id, support_team
from temporalio.client import Client, WorkflowHandle

from baton.client import run_result
from baton.client.memory import MemoryAdmin
from baton.memory import LongTermMemorySpec, MemorySpec
from baton.messages import Message, UserMessage
from baton.runs import MessagesPage, PageRequest, RunInput, RunLogPage, RunResult
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec

AGENT = "support_agent"


def memory_team(**long_term: Any) -> TeamSpec:
    return support_team(tools=("lookup_order", "remember", "recall"),
                        memory=MemorySpec(long_term=LongTermMemorySpec(**long_term)))


async def start(client: Client, settings: BatonSettings, team: TeamSpec, task: str, *,
                subject: str | None, script: dict[str, list[dict[str, Any]]] | None = None,
                scripted: ScriptedServer | None = None, tenant: str = "default",
                ) -> WorkflowHandle[Any, RunResult]:
    run_id = new_run_id(team)
    if script is not None:
        assert scripted is not None
        scripted.set_script(run_id, script)
    return await client.start_workflow(
        "AgentWorkflow", RunInput(team=team, input=task, subject=subject, tenant=tenant),
        id=run_id, task_queue=settings.task_queue, result_type=RunResult)


async def run(client: Client, settings: BatonSettings, team: TeamSpec, task: str, *,
              subject: str | None, script: dict[str, list[dict[str, Any]]] | None = None,
              scripted: ScriptedServer | None = None, tenant: str = "default",
              ) -> tuple[str, RunResult]:
    handle = await start(client, settings, team, task, subject=subject, script=script,
                         scripted=scripted, tenant=tenant)
    return handle.id, await run_result(handle)


async def events(client: Client, run_id: str) -> list[Any]:
    page = await client.get_workflow_handle(run_id).query(
        "run_log", PageRequest(limit=1000), result_type=RunLogPage)
    return page.events


async def messages(client: Client, run_id: str) -> list[Message]:
    page = await client.get_workflow_handle(run_id).query(
        "messages", PageRequest(limit=1000), result_type=MessagesPage)
    return page.messages


async def injected(client: Client, run_id: str) -> str:
    """The long-term memory message the agent was shown at its start."""
    found = [m for m in await messages(client, run_id)
             if isinstance(m, UserMessage) and m.source == "memory"]
    assert len(found) == 1, found
    return found[0].content


def admin(settings: BatonSettings) -> MemoryAdmin:
    return MemoryAdmin.open(settings)


def remember(text: str, kind: str | None = None, cid: str = "mem-1") -> dict[str, Any]:
    arguments: dict[str, Any] = {"text": text} | ({"kind": kind} if kind else {})
    return {"tool_calls": [{"name": "remember", "id": cid, "arguments": arguments}]}
