"""Helpers for the pattern workflow tests (pipeline, fan-out, hierarchical): starting a scripted
pattern run, the child-workflow tree, child approvals, the refund outbox and history replay."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from helpers import new_run_id
from replaying import assert_replays, record
from temporalio.client import Client, WorkflowHandle

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import run_result
from baton.runs import ChildEvent, PageRequest, RunInput, RunLogPage, RunResult
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec
from baton.workflows import workflow_type

REFUND = {"name": "issue_refund",
          "arguments": {"order_id": "A1001", "amount": 10.0, "reason": "arrived broken"}}


def agent(name: str, description: str = "", **fields: Any) -> dict[str, Any]:
    return {"name": name, "description": description or f"the {name}",
            "instructions": f"You are the {name}.", **fields}


def refunder(name: str = "refunder") -> dict[str, Any]:
    """An agent whose refunds wait for a person (approval policy override)."""
    return agent(name, "issues refunds", tools=["issue_refund"],
                 approvals={"issue_refund": {"mode": "always"}})


async def start(  # noqa: PLR0917  # the fixtures, then what to run: read like a sentence
        client: Client, settings: BatonSettings, scripted: ScriptedServer, team: TeamSpec,
        script: dict[str, list[dict[str, Any]]], task: str, *, run_id: str | None = None,
        resume: dict[str, Any] | None = None) -> WorkflowHandle[Any, RunResult]:
    """Start the team's pattern workflow; ONE script keyed by the top run id drives the tree."""
    run_id = run_id or new_run_id(team)
    scripted.set_script(run_id, script)
    return await client.start_workflow(
        workflow_type(team), RunInput(team=team, input=task, resume=resume or {}), id=run_id,
        task_queue=settings.task_queue, result_type=RunResult)


async def run(  # noqa: PLR0917  # same signature as start
        client: Client, settings: BatonSettings, scripted: ScriptedServer, team: TeamSpec,
        script: dict[str, list[dict[str, Any]]], task: str,
        **kwargs: Any) -> tuple[str, RunResult]:
    handle = await start(client, settings, scripted, team, script, task, **kwargs)
    return handle.id, await run_result(handle)


async def child_events(client: Client, workflow_id: str) -> list[ChildEvent]:
    page = await client.get_workflow_handle(workflow_id).query(
        "run_log", PageRequest(limit=1000), result_type=RunLogPage)
    return [e for e in page.events if isinstance(e, ChildEvent)]


async def assert_parent(client: Client, child_id: str, parent_id: str, workflow: str) -> None:
    description = await client.get_workflow_handle(child_id).describe()
    assert description.parent_id == parent_id, (child_id, description.parent_id)
    assert description.workflow_type == workflow


async def child_input(client: Client, workflow_id: str) -> RunInput:
    """The RunInput a child workflow was started with (its budget slice is in there)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [decoded] = await client.data_converter.decode(started.input.payloads, [RunInput])
    assert isinstance(decoded, RunInput)
    return decoded


async def approve_in_child(client: Client, run_id: str, *, by: str = "alice") -> str:
    """Find the descendant workflow waiting for approval through the BatonStatus search
    attribute (as the CLI does), approve its request through the public update, return its id."""
    query = f"BatonStatus='awaiting_approval' AND WorkflowId STARTS_WITH '{run_id}.'"
    for _ in range(300):
        async for execution in client.list_workflows(query):
            handle = client.get_workflow_handle(execution.id)
            pending = await handle.query("pending_approvals", result_type=list[PendingApproval])
            for request in pending:
                await handle.execute_update("decide", ApprovalDecision(
                    approval_id=request.approval_id, decision="approve", by=by, reason="test"))
                return execution.id
        await asyncio.sleep(0.05)
    raise AssertionError(f"no descendant of {run_id} became awaiting_approval")


def outbox(tmp_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "support.sqlite") as db:
        return db.execute("SELECT order_id, amount FROM outbox").fetchall()


async def record_and_replay(client: Client, run_id: str, name: str) -> None:
    """Replay the run's history on today's code; with BATON_RECORD_HISTORIES set also keep it as
    this release's ``name`` (see ``replaying``; replayed by test_replay.py)."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    record(history, name)
    await assert_replays(history)
