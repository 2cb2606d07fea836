"""MCP servers as durable tools, against real third-party servers from PyPI over stdio: the
official time server (``mcp-server-time``) and git server (``mcp-server-git``, on a temporary
repository), served by a real Baton worker on real Temporal.

One worker serves the module's tests (starting the servers costs a few seconds of CPU): its
catalog carries the servers' schemas into runs as data, tool errors reach the model, a write
tool waits for a person and acts once, a cacheable read is served from the read cache, a server
that cannot start refuses the runs that need it with its reason, and ``baton mcp list`` shows
what the worker serves.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from baton.approvals import ApprovalDecision
from baton.calls import CatalogResolution
from baton.client.api import BatonClient
from baton.errors import RunRefusedError
from baton.loader import parse_team
from baton.mcp_servers import McpServerConfig
from baton.runs import RunStatus, ToolCallEvent
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec
from baton.worker import worker_resources

AGENT = "clerk"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


def servers(repo: Path) -> dict[str, McpServerConfig]:
    python = sys.executable
    return {
        "time": McpServerConfig(
            command=python, args=["-m", "mcp_server_time", "--local-timezone", "UTC"],
            tools={"get_current_time": {}, "convert_time": {"cacheable": True}},
            effect="read", approval="never", timeout_s=15),
        # The operator's word on each tool: reads, one write without a person, one with.
        "git": McpServerConfig(
            command=python, args=["-m", "mcp_server_git", "--repository", str(repo)],
            tools={"git_status": {"effect": "read", "approval": "never"},
                   "git_add": {"approval": "never"},
                   "git_commit": {}},  # the defaults: write, approval always
            timeout_s=20),
        "broken": McpServerConfig(command=str(repo / "no-such-server"), tools=["anything"]),
    }


@pytest.fixture(scope="module")
async def served(client: Client, scripted: ScriptedServer,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("mcp-tools")
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "clerk@example.com")
    git(repo, "config", "user.name", "Clerk")
    (repo / "README.md").write_text("hello\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "first")
    settings = BatonSettings(
        home=root / "home", task_queue=f"mcp-{uuid.uuid4().hex[:8]}",
        model_server_url=scripted.base_url, mcp_servers=servers(repo),
        allow_unsigned_decisions=True)
    async with worker_resources(client, settings) as worker, worker:
        yield SimpleNamespace(settings=settings, repo=repo, baton=BatonClient(client, settings))


def team(*tools: str) -> TeamSpec:
    return parse_team({"name": "mcp-clerk", "agents": [{
        "name": AGENT, "description": "Clerk who uses the tools it is given.",
        "instructions": "Use the tools, then answer.", "tools": list(tools), "max_steps": 6}]})


def script(*steps: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {AGENT: list(steps)}


def call(tool: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": tool, "arguments": arguments}]}


async def start(env: SimpleNamespace, scripted: ScriptedServer, spec: TeamSpec,
                steps: dict[str, list[dict[str, Any]]]) -> str:
    run_id = f"mcp-{uuid.uuid4().hex[:8]}"
    scripted.set_script(run_id, steps)
    return await env.baton.start(spec, "Do the job.", run_id=run_id)


async def calls_of(env: SimpleNamespace, run_id: str) -> list[ToolCallEvent]:
    return [e for e in await env.baton.run_log(run_id) if isinstance(e, ToolCallEvent)]


async def recorded_catalog(client: Client, run_id: str) -> CatalogResolution:
    """The ``resolve_catalog`` answer as the run's history recorded it (a local activity marker)."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    for event in history.events:
        data = event.marker_recorded_event_attributes.details.get("result")
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and data and data.payloads:
            [resolution] = await client.data_converter.decode(data.payloads, [CatalogResolution])
            return cast(CatalogResolution, resolution)
    raise AssertionError(f"{run_id} recorded no catalog")


async def test_schemas_travel_as_data_and_a_tool_error_is_read_by_the_model(
        served: SimpleNamespace, scripted: ScriptedServer, client: Client) -> None:
    run_id = await start(served, scripted, team("time__get_current_time"), script(
        {**call("time__get_current_time", timezone="Europe/Paris"),
         "expect": {"tools_include": ["time__get_current_time"]}},
        call("time__get_current_time", timezone="Mars/Olympus_Mons"),
        call("time__get_current_time", tz="UTC"),  # checked against the server's schema
        # The model reads the errors as tool results; the run goes on.
        {"content": "Paris has a clock; Mars has none.",
         "expect": {"last_message_contains": "required argument is missing"}}))
    result = await served.baton.result(run_id)
    assert result.status is RunStatus.COMPLETED, result.reason
    ok, failed, invalid = await calls_of(served, run_id)
    assert ok.status == "ok" and ok.effect == "read" and ok.result["timezone"] == "Europe/Paris"
    assert failed.status == "error" and failed.error_type == "tool_raised"
    assert "Invalid timezone" in failed.content and "Mars/Olympus_Mons" in failed.content
    assert invalid.status == "error" and invalid.error_type == "invalid_arguments"
    assert "tz: unknown argument; allowed: timezone" in invalid.content
    scripted.assert_script_consumed(run_id)
    # What the run planned with is the server's schema and the worker's settings, recorded.
    spec = (await recorded_catalog(client, run_id)).catalog.tools["time__get_current_time"]
    assert spec.description == "Get current time in a specific timezone"
    assert spec.parameters["required"] == ["timezone"]
    assert spec.parameters["additionalProperties"] is False
    assert (spec.effect, spec.approval.mode, spec.timeout_s) == ("read", "never", 15)
    history = await client.get_workflow_handle(run_id).fetch_history()
    timeouts = {e.activity_task_scheduled_event_attributes.start_to_close_timeout.seconds
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.activity_task_scheduled_event_attributes.activity_type.name
                == "execute_tool"}
    assert timeouts == {15}


async def test_a_write_tool_of_a_real_server_waits_for_approval_and_acts_once(
        served: SimpleNamespace, scripted: ScriptedServer) -> None:
    repo = str(served.repo)
    (served.repo / "notes.md").write_text("ship it\n")
    run_id = await start(served, scripted, team("git__git_status", "git__git_add",
                                                "git__git_commit"), script(
        call("git__git_status", repo_path=repo),
        call("git__git_add", repo_path=repo, files=["notes.md"]),
        call("git__git_commit", repo_path=repo, message="Add notes"),
        {"content": "Committed the notes."}))
    baton = served.baton
    for _ in range(500):
        pending = await baton.pending_approvals(run_id)
        if pending:
            break
        await asyncio.sleep(0.05)
    [approval] = pending
    assert approval.tool == "git__git_commit" and approval.args["message"] == "Add notes"
    assert git(served.repo, "log", "--format=%s").split() == ["first"]  # nothing before yes
    await baton.decide(ApprovalDecision(approval_id=approval.approval_id, decision="approve",
                                        by="alice"), workflow_id=approval.workflow_id)
    result = await baton.result(run_id)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert git(served.repo, "log", "--format=%s").split("\n")[:2] == ["Add notes", "first"]
    status, add, commit = await calls_of(served, run_id)
    assert status.effect == "read" and "notes.md" in status.content
    assert (add.effect, commit.effect) == ("write", "write") and commit.status == "ok"
    assert not commit.ledger_hit and commit.idempotency_key


async def test_a_cacheable_read_is_answered_from_the_read_cache(
        served: SimpleNamespace, scripted: ScriptedServer) -> None:
    args = {"source_timezone": "Europe/Paris", "time": "09:30", "target_timezone": "Asia/Tokyo"}
    run_id = await start(served, scripted, team("time__convert_time"), script(
        call("time__convert_time", **args), call("time__convert_time", **args),
        {"content": "17:30 in Tokyo."}))
    assert (await served.baton.result(run_id)).status is RunStatus.COMPLETED
    first, second = await calls_of(served, run_id)
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert first.result == second.result and first.result["target"]["timezone"] == "Asia/Tokyo"


async def test_a_server_that_cannot_start_refuses_the_runs_that_need_it(
        served: SimpleNamespace) -> None:
    with pytest.raises(RunRefusedError) as refused:
        await served.baton.start(team("time__get_current_time", "broken__anything"), "Go.")
    message = str(refused.value)
    assert "broken__anything" in message and "MCP server 'broken'" in message
    assert "no-such-server" in message and "not running" in message
    assert "time__get_current_time" not in message  # a server that is up serves its tools


def test_baton_mcp_list_shows_what_a_worker_serves(tmp_path: Path) -> None:
    time = {"command": sys.executable, "args": ["-m", "mcp_server_time"],
            "tools": ["get_current_time"]}
    env = {**os.environ, "BATON_HOME": str(tmp_path / "home"),
           "BATON_MCP_SERVERS": json.dumps({"time": time})}
    listed = subprocess.run([sys.executable, "-m", "baton.client.cli", "mcp", "list", "--json"],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert entry["state"] == "up"
    tools = {t["tool"]: t for t in entry["tools"]}
    assert tools["get_current_time"]["served_as"] == "time__get_current_time"
    assert tools["get_current_time"]["effect"] == "write"  # the defaults, whatever the server says
    assert tools["get_current_time"]["approval"] == "always"
    assert "read-only" in tools["get_current_time"]["server_hints"]
    assert tools["convert_time"]["served_as"] is None  # listed, not exposed
