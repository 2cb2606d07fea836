"""Exactly-once side effects when a worker *process* dies (issue 3, section 2).

Every test runs real worker subprocesses (``run_worker(BatonSettings())`` configured only by
``BATON_*`` variables) against the session's dev server, kills one with SIGKILL at a precise
point (a test tool blocks on a file in ``$BATON_CRASH_DIR``), starts a replacement that shares
the ledger file, and checks that the run finishes and that the side effect happened once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import crash_tools
import pytest
from procs import Proc, start_worker, wait_polling, worker_env
from temporalio.client import Client, WorkflowHandle

from activities.llm.scripted.testing import ScriptedServer
from baton.loader import parse_team
from baton.runs import PageRequest, RunInput, RunLogPage, RunResult, RunStatus
from baton.specs import TeamSpec

pytestmark = pytest.mark.slow

AGENT = "clerk"


def crash_team(*tools: str, timeout_s: float = 2.0, name: str = "crashy") -> TeamSpec:
    return parse_team({
        "name": name,
        "tool_modules": ["crash_tools"],
        # A small provider timeout: the chat activity's start-to-close (timeout_s + 5) is what
        # notices a model call lost with its worker.
        "models": {"default": {"model": "baton-scripted", "timeout_s": timeout_s}},
        "agents": [{
            "name": AGENT,
            "description": "Back-office clerk who records payments.",
            "instructions": "Record the payment the user asks for with the tools, then confirm.",
            "tools": list(tools),
            "max_steps": 4,
        }],
    })


@pytest.fixture
def stack(tmp_path: Path, client: Client, scripted: ScriptedServer,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """Worker subprocesses on a task queue of their own; every one is reaped at the end."""
    crash = tmp_path / "crash"
    crash.mkdir()
    monkeypatch.setenv("BATON_CRASH_DIR", str(crash))  # crash_tools helpers in this process
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    state = tmp_path / "state"
    env = worker_env(address=client.service_client.config.target_host, task_queue=queue,
                     model_url=scripted.base_url, state=state, crash_dir=crash)
    procs: list[Proc] = []

    async def spawn(name: str) -> Proc:
        proc = start_worker(name, env, tmp_path / "logs")
        procs.append(proc)
        await wait_polling(client, queue, proc)
        return proc

    try:
        yield SimpleNamespace(queue=queue, spawn=spawn, state=state, procs=procs)
    finally:
        for proc in procs:
            proc.stop()


async def start(client: Client, queue: str, team: TeamSpec, task: str,
                run_id: str) -> WorkflowHandle[Any, RunResult]:
    return await client.start_workflow("AgentWorkflow", RunInput(team=team, input=task),
                                       id=run_id, task_queue=queue, result_type=RunResult)


async def until(check: Callable[[], Any] | Callable[[], Awaitable[Any]], what: str,
                timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


async def run_log(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    page = await handle.query("run_log", PageRequest(limit=1000), result_type=RunLogPage)
    return page.events


def ledger_rows(state: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(state / "ledger.sqlite") as db:
        return db.execute("SELECT idempotency_key, tool FROM side_effects").fetchall()


def write_script(tool: str, order_id: str, **first: Any) -> dict[str, list[dict[str, Any]]]:
    return {AGENT: [
        {"tool_calls": [{"name": tool, "arguments": {"order_id": order_id}}], **first},
        {"content": f"Payment for {order_id} recorded."},
    ]}


async def test_worker_killed_while_write_tool_runs_before_commit(
        client: Client, scripted: ScriptedServer, stack: SimpleNamespace) -> None:
    first = await stack.spawn("worker-a")
    team = crash_team("slow_write")
    run_id = f"crash-before-commit-{uuid.uuid4().hex[:8]}"
    scripted.set_script(run_id, write_script("slow_write", "K1"))
    handle = await start(client, stack.queue, team, "Record the payment for K1", run_id)

    await until(lambda: crash_tools.markers("started"), "the tool's first attempt to start")
    assert crash_tools.markers("started") == [f"started-K1-a1-p{first.pid}"]
    first.kill()  # mid-tool, nothing committed
    assert crash_tools.effects() == []
    crash_tools.release("K1")
    second = await stack.spawn("worker-b")

    result = await asyncio.wait_for(handle.result(), 60)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "Payment for K1 recorded."
    [effect] = crash_tools.effects()
    assert effect["order_id"] == "K1" and effect["executions"] == 1
    assert effect["pid"] == second.pid  # the replacement did the work, once
    [call] = [e for e in await run_log(handle) if e.kind == "tool_call"]
    assert call.status == "ok" and call.result["effect_id"] == effect["id"]
    assert call.idempotency_key == effect["idempotency_key"]
    assert call.result["attempt"] >= 2
    assert ledger_rows(stack.state) == [(effect["idempotency_key"], "slow_write")]
    scripted.assert_script_consumed(run_id)


async def test_worker_killed_after_commit_before_activity_completed(
        client: Client, scripted: ScriptedServer, stack: SimpleNamespace) -> None:
    first = await stack.spawn("worker-a")
    team = crash_team("commit_then_hang")
    run_id = f"crash-after-commit-{uuid.uuid4().hex[:8]}"
    scripted.set_script(run_id, write_script("commit_then_hang", "K2"))
    handle = await start(client, stack.queue, team, "Record the payment for K2", run_id)

    await until(lambda: crash_tools.markers("committed"), "the tool to commit")
    first.kill()  # the row is committed; the activity never reported completion
    [committed] = crash_tools.effects()
    assert committed["pid"] == first.pid
    assert ledger_rows(stack.state) == []  # the ledger never heard of it: only the key protects
    crash_tools.release("K2")
    second = await stack.spawn("worker-b")

    result = await asyncio.wait_for(handle.result(), 60)
    assert result.status is RunStatus.COMPLETED, result.reason
    [effect] = crash_tools.effects()  # still exactly one side effect
    assert effect["id"] == committed["id"] and effect["pid"] == first.pid
    [call] = [e for e in await run_log(handle) if e.kind == "tool_call"]
    # What the log shows is the second attempt's outcome: same effect, served by the new worker.
    assert call.status == "ok"
    assert call.ledger_hit or call.result["effect_id"] == committed["id"]
    assert call.result["effect_id"] == committed["id"]
    assert call.result["served_by_pid"] == second.pid and call.result["attempt"] >= 2
    assert ledger_rows(stack.state) == [(committed["idempotency_key"], "commit_then_hang")]
    scripted.assert_script_consumed(run_id)


async def test_worker_killed_during_model_call_resumes_without_duplicate_step(
        client: Client, scripted: ScriptedServer, stack: SimpleNamespace) -> None:
    first = await stack.spawn("worker-a")
    team = crash_team("note", timeout_s=2.0)
    script = {AGENT: [
        {"tool_calls": [{"name": "note", "arguments": {"text": "hello"}}]},
        {"content": "Noted: hello."},
    ]}
    # The uninterrupted reference run.
    ref_id = f"crash-model-ref-{uuid.uuid4().hex[:8]}"
    scripted.set_script(ref_id, script)
    reference = await asyncio.wait_for(
        (await start(client, stack.queue, team, "Note hello", ref_id)).result(), 30)
    ref_events = await run_log(client.get_workflow_handle(ref_id))

    run_id = f"crash-model-{uuid.uuid4().hex[:8]}"
    scripted.set_script(run_id, script)
    # The second model call hangs at the server (a fault consumes no script step), so it is in
    # flight when the worker dies; the retry on the new worker gets the scripted answer.
    scripted.set_faults(run_id, [{"fault": "ok"}, {"fault": "hang", "seconds": 60}])
    handle = await start(client, stack.queue, team, "Note hello", run_id)
    await until(lambda: scripted.state(run_id)["faults_left"] == 0, "the second model call")
    await asyncio.sleep(0.3)
    first.kill()
    await stack.spawn("worker-b")

    result = await asyncio.wait_for(handle.result(), 60)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == reference.output == "Noted: hello."
    assert result.steps == reference.steps == 2
    events = await run_log(handle)
    assert [e.kind for e in events] == [e.kind for e in ref_events] == [
        "started", "model_call", "tool_call", "model_call", "finished"]

    def shape(evs: list[Any]) -> list[tuple[Any, ...]]:
        return [(e.step, e.profile, e.content,
                 [(c["name"], c["arguments"]) for c in e.tool_calls])
                for e in evs if e.kind == "model_call"]

    assert shape(events) == shape(ref_events)
    calls = scripted.calls(run_id)
    # The killed call really was in flight: the server saw its client go away mid-hang.
    hung = [c for c in calls if c["kind"] == "fault"]
    assert len(hung) == 1 and hung[0].get("disconnected") is True
    assert [c["kind"] for c in calls if c["kind"] != "fault"] == ["tool_calls", "content"]
    scripted.assert_script_consumed(run_id)


async def test_two_workers_one_killed_under_load_every_effect_exactly_once(
        client: Client, scripted: ScriptedServer, stack: SimpleNamespace) -> None:
    count = 20
    workers = [await stack.spawn("worker-a"), await stack.spawn("worker-b")]
    team = crash_team("slow_write")
    prefix = f"crash-load-{uuid.uuid4().hex[:6]}"
    run_ids = [f"{prefix}-{i:02d}" for i in range(count)]
    for i, run_id in enumerate(run_ids):
        scripted.set_script(run_id, write_script("slow_write", f"L{i:02d}", latency_s=0.2))
    handles = await asyncio.gather(*(
        start(client, stack.queue, team, f"Record the payment for L{i:02d}", run_id)
        for i, run_id in enumerate(run_ids)))

    # Every run is inside its write tool (so no model call is in flight anywhere): kill the
    # worker running most of them.
    await until(lambda: len(crash_tools.markers("started")) >= count, "all tools to start")
    by_pid = Counter(name.rsplit("-p", 1)[1] for name in crash_tools.markers("started"))
    victim = max(workers, key=lambda w: by_pid[str(w.pid)])
    survivor = next(w for w in workers if w is not victim)
    assert by_pid[str(victim.pid)] >= count // 2
    victim.kill()
    crash_tools.release()

    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 75)
    for i, result in enumerate(results):
        assert result.status is RunStatus.COMPLETED, (run_ids[i], result.reason)
        assert result.output == f"Payment for L{i:02d} recorded."
    rows = crash_tools.effects()
    assert sorted(r["order_id"] for r in rows) == [f"L{i:02d}" for i in range(count)]
    assert len({r["idempotency_key"] for r in rows}) == count
    assert all(r["executions"] == 1 for r in rows), rows
    assert {r["pid"] for r in rows} == {survivor.pid}  # the victim committed nothing
    assert len(ledger_rows(stack.state)) == count
    for run_id in run_ids:
        scripted.assert_script_consumed(run_id)
