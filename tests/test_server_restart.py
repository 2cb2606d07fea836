"""Runs survive a Temporal server restart.

Each test owns a dev server (``temporal server start-dev`` on its own SQLite file, WAL, free
loopback ports) and one worker subprocess. With runs in flight (write tools blocked mid-call,
model calls hanging, one run waiting on an approval) the server is stopped with SIGTERM or
SIGKILL and started again on the same file and ports. The worker is *not* restarted: it must
reconnect by itself. The test reconnects with a new client. Every run must complete, and every
side effect must exist exactly once.

The last test leaves the restart to the embedded stack: its supervisor notices the SIGKILLed dev
server and starts it again on the same SQLite file, and the stack's worker reconnects.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import crash_tools
import pytest
from procs import (
    REPO,
    TESTS,
    DevServer,
    Proc,
    crash_team,
    ledger_rows,
    run_log,
    start,
    start_worker,
    until,
    wait_polling,
    worker_env,
    write_script,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import EmbeddedStack, free_port, run_result
from baton.client._supervisor import ChildExited, ChildRestarted
from baton.runs import RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings

pytestmark = pytest.mark.slow

BLOCKED = 4  # runs inside a write tool when the server goes down
HANGING = 2  # runs whose model call hangs when the server goes down


@pytest.fixture
async def world(tmp_path: Path, scripted: ScriptedServer,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SimpleNamespace]:
    crash = tmp_path / "crash"
    crash.mkdir()
    monkeypatch.setenv("BATON_CRASH_DIR", str(crash))
    server = DevServer(tmp_path)
    procs: list[Proc] = []
    try:
        client = await server.start()
        queue = f"restart-{uuid.uuid4().hex[:8]}"
        state = tmp_path / "state"
        env = worker_env(address=server.address, task_queue=queue, model_url=scripted.base_url,
                         state=state, crash_dir=crash)
        worker = start_worker("worker", env, tmp_path / "logs")
        procs.append(worker)
        await wait_polling(client, queue, worker)
        yield SimpleNamespace(server=server, client=client, queue=queue, worker=worker,
                              state=state)
    finally:
        for proc in procs:
            proc.stop()
        server.cleanup()


async def wait_pending(client: Client, run_id: str) -> list[PendingApproval]:
    handle = client.get_workflow_handle(run_id)

    async def pending() -> list[PendingApproval]:
        found: list[PendingApproval] = await handle.query(
            "pending_approvals", result_type=list[PendingApproval])
        return found

    result: list[PendingApproval] = await until(pending, "an approval request")
    return result


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_runs_survive_server_restart_and_effects_happen_once(
        world: SimpleNamespace, scripted: ScriptedServer, sig: int) -> None:
    client: Client = world.client
    tag = uuid.uuid4().hex[:6]
    runs: dict[str, str] = {}  # run id -> order id
    handles = []
    writer = crash_team("slow_write")
    for i in range(BLOCKED):
        order, run_id = f"B{i}", f"restart-{tag}-b{i}"
        scripted.set_script(run_id, write_script("slow_write", order, latency_s=0.1))
        handles.append(await start(client, world.queue, writer, f"Record {order}", run_id))
        runs[run_id] = order
    # The approval-gated run: it waits for a person across the restart.
    gated = crash_team("slow_write", approvals={"slow_write": {"mode": "always"}})
    approval_run = f"restart-{tag}-approval"
    scripted.set_script(approval_run, write_script("slow_write", "AP"))
    await start(client, world.queue, gated, "Record AP", approval_run)
    await until(lambda: len(crash_tools.markers("started")) >= BLOCKED, "the tools to block")
    [before] = await wait_pending(client, approval_run)
    for i in range(HANGING):
        order, run_id = f"H{i}", f"restart-{tag}-h{i}"
        scripted.set_script(run_id, write_script("slow_write", order))
        # The first model call hangs (no script step used) and is in flight at the stop.
        scripted.set_faults(run_id, [{"fault": "hang", "seconds": 60}])
        handles.append(await start(client, world.queue, writer, f"Record {order}", run_id))
        runs[run_id] = order
    await until(lambda: all(scripted.state(r)["faults_left"] == 0 for r in runs
                            if "-h" in r), "the hanging model calls")

    world.server.stop(sig)
    await asyncio.sleep(1.0)  # down for a moment: polls, heartbeats and completions fail
    assert world.worker.alive(), world.worker.tail()
    fresh = await world.server.start()  # same SQLite file, same ports
    await wait_polling(fresh, world.queue, world.worker)  # the same worker process, reconnected
    crash_tools.release()

    [after] = await wait_pending(fresh, approval_run)
    assert after.approval_id == before.approval_id
    await fresh.get_workflow_handle(approval_run).execute_update(
        "decide", ApprovalDecision(approval_id=after.approval_id, decision="approve",
                                   by="alice", reason="after the restart"))
    runs[approval_run] = "AP"

    results: list[RunResult] = await asyncio.wait_for(asyncio.gather(*(
        run_result(fresh.get_workflow_handle(run_id)) for run_id in runs)),
        60)
    for run_id, result in zip(runs, results, strict=True):
        assert result.status is RunStatus.COMPLETED, (run_id, result.reason)
        assert result.output == f"Payment for {runs[run_id]} recorded."
        scripted.assert_script_consumed(run_id)
    assert world.worker.alive(), "the worker must ride out the restart without being restarted"

    rows = crash_tools.effects()
    # Nothing lost, nothing duplicated: one side effect per run, each under its own key.
    assert sorted(r["order_id"] for r in rows) == sorted(runs.values()), rows
    assert len({r["idempotency_key"] for r in rows}) == len(runs)
    assert len(ledger_rows(world.state)) == len(runs)
    approval_events = [e for e in await run_log(fresh.get_workflow_handle(approval_run))
                       if e.kind in ("approval", "tool_call")]
    assert [(e.kind, getattr(e, "action", None)) for e in approval_events] == [
        ("approval", "requested"), ("approval", "approved"), ("tool_call", None)]


async def test_new_runs_start_on_a_restarted_server_from_the_same_database(
        world: SimpleNamespace, scripted: ScriptedServer) -> None:
    """The restarted server keeps completed runs (same file) and serves new ones at once."""
    client: Client = world.client
    crash_tools.release()
    first = f"restart-before-{uuid.uuid4().hex[:6]}"
    scripted.set_script(first, write_script("slow_write", "P1"))
    done = await run_result(await start(client, world.queue, crash_team("slow_write"),
                                        "Record P1", first))
    assert done.status is RunStatus.COMPLETED
    world.server.stop(signal.SIGKILL)
    fresh = await world.server.start()
    kept: Any = await run_result(fresh.get_workflow_handle(first))
    assert kept.status is RunStatus.COMPLETED and kept.output == done.output
    second = f"restart-after-{uuid.uuid4().hex[:6]}"
    scripted.set_script(second, write_script("slow_write", "P2"))
    result = await asyncio.wait_for(run_result(await start(
        fresh, world.queue, crash_team("slow_write"), "Record P2", second)), 30)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert sorted(r["order_id"] for r in crash_tools.effects()) == ["P1", "P2"]


async def test_embedded_stack_restarts_its_killed_server_and_the_run_finishes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crash = tmp_path / "crash"
    crash.mkdir()
    monkeypatch.setenv("BATON_CRASH_DIR", str(crash))
    # The stack's worker inherits the environment: it can import the test's blocking tool.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(REPO)]))
    settings = BatonSettings(
        home=tmp_path / "home", temporal_port=free_port(), ui_port=free_port(),
        model_server_port=free_port(), task_queue=f"stack-{uuid.uuid4().hex[:8]}",
        model_server_url=None, tool_modules=["crash_tools"])
    async with EmbeddedStack(settings) as stack:
        temporal, _, worker = stack.processes
        worker_pid = worker.pid
        client = await Client.connect(stack.temporal_address,
                                      data_converter=pydantic_data_converter)
        model = ScriptedServer.attach("127.0.0.1", settings.model_server_port)
        run_id = f"stack-restart-{uuid.uuid4().hex[:6]}"
        model.set_script(run_id, write_script("slow_write", "S1"))
        await start(client, settings.task_queue, crash_team("slow_write"), "Record S1", run_id)
        await until(lambda: crash_tools.markers("started", "S1"), "the tool to block")

        assert temporal.pid is not None
        os.kill(temporal.pid, signal.SIGKILL)  # the test restarts nothing: the stack does
        await until(lambda: any(isinstance(e, ChildRestarted) for e in stack.events),
                    "the stack to restart the dev server")
        crash_tools.release()

        async def connect() -> Client | None:
            try:
                return await Client.connect(stack.temporal_address,
                                            data_converter=pydantic_data_converter)
            except RuntimeError:  # not listening yet
                return None

        fresh: Client = await until(connect, "the restarted dev server")
        result = await asyncio.wait_for(run_result(fresh.get_workflow_handle(run_id)), 120)
        assert result.status is RunStatus.COMPLETED, result.reason
        assert result.output == "Payment for S1 recorded."
        assert [e["order_id"] for e in crash_tools.effects()] == ["S1"]
        model.assert_script_consumed(run_id)
        model.stop()  # attached: closes only the control connection

        # Only the dev server came back; the worker rode it out as the same process.
        exited, restarted = stack.events
        assert isinstance(exited, ChildExited) and exited.name == "temporal"
        assert exited.code == -signal.SIGKILL and exited.restart_in_s == 0.5
        assert isinstance(restarted, ChildRestarted) and restarted.name == "temporal"
        assert worker.pid == worker_pid and worker.exited() is None
