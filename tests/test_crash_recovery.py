"""Exactly-once side effects when a worker *process* dies.

Every test runs real worker subprocesses (``run_worker(BatonSettings())`` configured only by
``BATON_*`` variables) against the session's dev server, kills one with SIGKILL at a precise
point (a test tool blocks on a file in ``$BATON_CRASH_DIR``), starts a replacement that shares
the ledger file, and checks that the run finishes and that the side effect happened once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import crash_tools
import pytest
from procs import (
    AGENT,
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

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import run_result
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer

pytestmark = pytest.mark.slow


class Workers:
    """Worker subprocesses on one task queue; every one is reaped by the fixture that made it."""

    def __init__(self, client: Client, scripted: ScriptedServer, root: Path) -> None:
        self.client, self.root = client, root
        self.crash = root / "crash"
        self.crash.mkdir(parents=True)
        self.queue = f"crash-{uuid.uuid4().hex[:8]}"
        self.state = root / "state"
        self.env = worker_env(address=client.service_client.config.target_host,
                              task_queue=self.queue, model_url=scripted.base_url,
                              state=self.state, crash_dir=self.crash)
        self.procs: list[Proc] = []

    async def spawn(self, name: str) -> Proc:
        proc = start_worker(name, self.env, self.root / "logs")
        self.procs.append(proc)
        await wait_polling(self.client, self.queue, proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()


@pytest.fixture
def stack(tmp_path: Path, client: Client, scripted: ScriptedServer,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Workers]:
    workers = Workers(client, scripted, tmp_path)
    monkeypatch.setenv("BATON_CRASH_DIR", str(workers.crash))  # crash_tools helpers, this process
    try:
        yield workers
    finally:
        workers.stop_all()


NOTE_SCRIPT: dict[str, list[dict[str, Any]]] = {AGENT: [
    {"tool_calls": [{"name": "take_note", "arguments": {"text": "hello"}}]},
    {"content": "Noted: hello."},
]}


@pytest.fixture(scope="module")
async def one_crash(client: Client, scripted: ScriptedServer,
                    tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimpleNamespace]:
    """One worker process, three runs each stopped at a different point, one SIGKILL, one
    replacement worker: the three tests below each check one run. (Sharing the kill keeps the
    module fast: after a crash every cached run waits out the sticky queue timeout, ~10 s.)

    * K1 is inside ``slow_write`` before its commit;
    * K2 is inside ``commit_then_hang`` after its commit, before the activity completed;
    * M is waiting on its second model call (a hanging response, so no script step is used up).
    """
    workers = Workers(client, scripted, tmp_path_factory.mktemp("one-crash"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BATON_CRASH_DIR", str(workers.crash))
        try:
            first = await workers.spawn("worker-a")
            tag = uuid.uuid4().hex[:8]
            ids = {k: f"crash-{k.lower()}-{tag}" for k in ("K1", "K2", "M", "REF")}
            # The uninterrupted reference for M: same team, same script, no crash.
            scripted.set_script(ids["REF"], NOTE_SCRIPT)
            reference = await asyncio.wait_for(run_result(
                await start(client, workers.queue, crash_team("take_note"), "Note hello",
                            ids["REF"])), 30)
            ref_events = await run_log(client.get_workflow_handle(ids["REF"]))

            scripted.set_script(ids["K1"], write_script("slow_write", "K1"))
            scripted.set_script(ids["K2"], write_script("commit_then_hang", "K2"))
            scripted.set_script(ids["M"], NOTE_SCRIPT)
            scripted.set_faults(ids["M"], [{"fault": "ok"}, {"fault": "hang", "seconds": 60}])
            handles = {
                "K1": await start(client, workers.queue, crash_team("slow_write"),
                                  "Record the payment for K1", ids["K1"]),
                "K2": await start(client, workers.queue, crash_team("commit_then_hang"),
                                  "Record the payment for K2", ids["K2"]),
            }
            await until(lambda: crash_tools.markers("started", "K1"), "K1's tool to start")
            await until(lambda: crash_tools.markers("committed", "K2"), "K2's tool to commit")
            # Last, because the hanging call is cut by the provider timeout (2 s) on its own.
            handles["M"] = await start(client, workers.queue, crash_team("take_note"), "Note hello",
                                       ids["M"])
            await until(lambda: scripted.state(ids["M"])["faults_left"] == 0,
                        "M's second model call")
            await asyncio.sleep(0.3)
            first.kill()
            before = SimpleNamespace(
                started=crash_tools.markers("started"), effects=crash_tools.effects(),
                ledger=ledger_rows(workers.state))
            crash_tools.release("K1")
            crash_tools.release("K2")
            second = await workers.spawn("worker-b")
            yield SimpleNamespace(first=first, second=second, handles=handles, ids=ids,
                                  reference=reference, ref_events=ref_events, before=before,
                                  state=workers.state)
        finally:
            workers.stop_all()


async def test_worker_killed_while_write_tool_runs_before_commit(
        one_crash: SimpleNamespace, scripted: ScriptedServer) -> None:
    crash = one_crash
    assert f"started-K1-a1-p{crash.first.pid}" in crash.before.started
    assert not [e for e in crash.before.effects if e["order_id"] == "K1"]  # nothing committed

    handle = crash.handles["K1"]
    result = await asyncio.wait_for(run_result(handle), 60)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "Payment for K1 recorded."
    [effect] = crash_tools.effects_of("K1")
    assert effect["executions"] == 1
    assert effect["pid"] == crash.second.pid  # the replacement did the work, once
    [call] = [e for e in await run_log(handle) if e.kind == "tool_call"]
    assert call.status == "ok" and call.result["effect_id"] == effect["id"]
    assert call.idempotency_key == effect["idempotency_key"]
    assert call.result["attempt"] >= 2
    assert (effect["idempotency_key"], "slow_write") in ledger_rows(crash.state)
    scripted.assert_script_consumed(handle.id)


async def test_worker_killed_after_commit_before_activity_completed(
        one_crash: SimpleNamespace, scripted: ScriptedServer) -> None:
    crash = one_crash
    [committed] = [e for e in crash.before.effects if e["order_id"] == "K2"]
    assert committed["pid"] == crash.first.pid
    # The ledger never heard of it: only the tool's unique key stands between us and a double.
    assert not [k for k, tool in crash.before.ledger if tool == "commit_then_hang"]

    handle = crash.handles["K2"]
    result = await asyncio.wait_for(run_result(handle), 60)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "Payment for K2 recorded."
    [effect] = crash_tools.effects_of("K2")  # still exactly one side effect
    assert effect["id"] == committed["id"] and effect["pid"] == crash.first.pid
    [call] = [e for e in await run_log(handle) if e.kind == "tool_call"]
    # The log shows the second attempt's outcome: the same effect, served by the new worker.
    assert call.status == "ok"
    assert call.ledger_hit or call.result["effect_id"] == committed["id"]
    assert call.result["effect_id"] == committed["id"]
    assert call.result["served_by_pid"] == crash.second.pid and call.result["attempt"] >= 2
    assert (committed["idempotency_key"], "commit_then_hang") in ledger_rows(crash.state)
    scripted.assert_script_consumed(handle.id)


async def test_worker_killed_during_model_call_resumes_without_duplicate_step(
        one_crash: SimpleNamespace, scripted: ScriptedServer) -> None:
    crash = one_crash
    handle = crash.handles["M"]
    result = await asyncio.wait_for(run_result(handle), 60)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == crash.reference.output == "Noted: hello."
    assert result.steps == crash.reference.steps == 2
    events = await run_log(handle)
    # The killed worker's attempt is in the run log as one that timed out (the next attempt
    # found its record without an outcome); the step is recorded once. Temporal retries the
    # call at once on any worker, so a retry may reach the new worker before the run itself
    # has moved there and time out too, waiting for the conversation it must rebuild.
    lost = [e for e in events if e.kind == "model_attempt"]
    assert (lost[0].step, lost[0].status, lost[0].attempt) == (2, "timed_out", 1)
    assert [(e.step, e.status, e.attempt) for e in lost] == [
        (2, "timed_out", n) for n in range(1, len(lost) + 1)]
    assert [e.kind for e in events if e.kind != "model_attempt"] == [
        e.kind for e in crash.ref_events] == [
        "started", "model_started", "model_call", "tool_call", "model_started", "model_call",
        "finished"]

    def shape(evs: list[Any]) -> list[tuple[Any, ...]]:
        return [(e.step, e.profile, e.content,
                 [(c["name"], c["arguments"]) for c in e.tool_calls])
                for e in evs if e.kind == "model_call"]

    assert shape(events) == shape(crash.ref_events)
    calls = scripted.calls(handle.id)
    # The killed call really was in flight: the server saw its client go away mid-hang.
    hung = [c for c in calls if c["kind"] == "fault"]
    assert len(hung) == 1 and hung[0].get("disconnected") is True, calls
    assert [c["kind"] for c in calls if c["kind"] != "fault"] == ["tool_calls", "content"]
    scripted.assert_script_consumed(handle.id)


async def test_two_workers_one_killed_under_load_every_effect_exactly_once(
        client: Client, scripted: ScriptedServer, stack: Workers) -> None:
    count = 20
    workers = list(await asyncio.gather(stack.spawn("worker-a"), stack.spawn("worker-b")))
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

    results = await asyncio.wait_for(asyncio.gather(*(run_result(h) for h in handles)), 75)
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


async def test_worker_killed_while_waiting_for_approval_then_decision_applies_once(
        stack: Workers, client: Client, scripted: ScriptedServer) -> None:
    """A run parked on an approval loses its worker (SIGKILL); the decision is accepted by the
    server and a new worker process resumes the run from history: the tool runs once."""
    first = await stack.spawn("worker-a")
    team = crash_team("slow_write", approvals={"slow_write": {"mode": "always"}})
    run_id = f"crash-approval-{uuid.uuid4().hex[:8]}"
    scripted.set_script(run_id, write_script("slow_write", "AP1"))
    crash_tools.release("AP1")  # the tool itself does not block in this test
    handle = await start(client, stack.queue, team, "Record the payment for AP1", run_id)
    pending = await until(lambda: handle.query("pending_approvals",
                                               result_type=list[PendingApproval]),
                          "the approval request")
    first.kill()
    await stack.spawn("worker-b")
    await handle.execute_update("decide", ApprovalDecision(
        approval_id=pending[0].approval_id, decision="approve", by="alice", reason="ok"))
    result = await asyncio.wait_for(run_result(handle), 60)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [e["order_id"] for e in crash_tools.effects()] == ["AP1"]
    actions = [e.action for e in await run_log(handle) if e.kind == "approval"]
    assert actions == ["requested", "approved"]
    scripted.assert_script_consumed(run_id)
