"""Exactly-once across worker *processes* sharing the PostgreSQL ledger, as compose replicas do.

Real worker subprocesses (``run_worker(BatonSettings())``, configured by ``BATON_*`` variables)
share one ledger on the session's real PostgreSQL server (``BATON_LEDGER_URL``) and, in the
soak, the example shop's refund outbox on it (``BATON_SUPPORT_DB``). They race for one key,
are killed between claim and record, and are killed at a random moment under load.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import crash_tools
import psycopg
import pytest
from procs import Proc, crash_team, run_log, start, start_worker, until, wait_polling, worker_env
from procs import write_script as _write_script
from temporalio.client import Client, WorkflowHandle

from baton.loader import parse_team
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer

pytestmark = pytest.mark.slow

LEASE_S = "2.0"  # short, so a takeover after a kill comes quickly


class PgWorkers:
    """Worker subprocesses on one task queue, sharing ``ledger_url`` and ``shop_url``."""

    def __init__(self, client: Client, scripted: ScriptedServer, root: Path, ledger_url: str,
                 shop_url: str) -> None:
        self.client, self.root, self.ledger_url = client, root, ledger_url
        self.crash = root / "crash"
        self.crash.mkdir(parents=True)
        self.queue = f"pg-{uuid.uuid4().hex[:8]}"
        self.env = worker_env(
            address=client.service_client.config.target_host, task_queue=self.queue,
            model_url=scripted.base_url, state=root / "state", crash_dir=self.crash,
            extra={"BATON_LEDGER_URL": ledger_url, "BATON_LEDGER_LEASE_S": LEASE_S,
                   "BATON_SUPPORT_DB": shop_url,
                   "BATON_TOOL_MODULES": json.dumps(["crash_tools",
                                                     "baton.examples.support_tools"])})
        self.procs: list[Proc] = []

    async def spawn(self, name: str) -> Proc:
        proc = start_worker(name, self.env, self.root / "logs")
        self.procs.append(proc)
        await wait_polling(self.client, self.queue, proc)
        return proc

    def ledger(self) -> list[tuple[str, str, int, bool]]:
        """(idempotency key, owner, claims, has an outcome) of every ledger row."""
        with psycopg.connect(self.ledger_url) as conn:
            return conn.execute("SELECT idempotency_key, owner, claims, outcome IS NOT NULL "
                                "FROM baton_ledger").fetchall()


@pytest.fixture
def workers(tmp_path: Path, client: Client, scripted: ScriptedServer, postgres: Any,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[PgWorkers]:
    pool = PgWorkers(client, scripted, tmp_path, postgres.create_database(),
                     postgres.create_database())
    monkeypatch.setenv("BATON_CRASH_DIR", str(pool.crash))  # crash_tools helpers, this process
    try:
        yield pool
    finally:
        for proc in pool.procs:
            proc.stop()


async def tool_attempts(handle: WorkflowHandle[Any, Any]) -> list[tuple[int, str, str]]:
    """(attempt, worker identity, previous attempt's failure type) of each ``execute_tool``
    activity, as history recorded the attempt that completed it."""
    scheduled: dict[int, str] = {}
    found = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            kind = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = kind
        elif event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            if scheduled.get(started.scheduled_event_id) == "execute_tool":
                found.append((started.attempt, started.identity,
                              started.last_failure.application_failure_info.type))
    return found


async def test_two_workers_race_one_key_and_the_tool_runs_once(
        client: Client, scripted: ScriptedServer, workers: PgWorkers) -> None:
    a, b = await asyncio.gather(workers.spawn("worker-a"), workers.spawn("worker-b"))
    run_id = f"pg-race-{uuid.uuid4().hex[:8]}"
    scripted.set_script(run_id, _write_script("overrun_write", "R1"))
    handle = await start(client, workers.queue, crash_team("overrun_write"),
                         "Record the payment for R1", run_id)
    [marker] = await until(lambda: crash_tools.markers("started", "R1"), "the tool to start")
    holder = a if marker.endswith(f"-p{a.pid}") else b
    other = b if holder is a else a
    # The holder stops taking tasks, so Temporal's retry (start-to-close 2 s, tool 5 s) can only
    # land on the other process while the holder's thread still runs the tool.
    holder.signal(signal.SIGTERM)

    result = await asyncio.wait_for(handle.result(), 90)
    assert result.status is RunStatus.COMPLETED, result.reason
    [effect] = crash_tools.effects_of("R1")
    assert effect["executions"] == 1 and effect["pid"] == holder.pid
    [(attempt, identity, previous)] = await tool_attempts(handle)
    assert identity.startswith(f"{other.pid}@") and attempt >= 3
    assert previous == "ToolCallInProgress"  # it waited for the live claim, through Temporal
    [call] = [e for e in await run_log(handle) if e.kind == "tool_call"]
    assert call.ledger_hit and call.result["effect_id"] == effect["id"]
    [(key, owner, claims, recorded)] = workers.ledger()
    assert key == effect["idempotency_key"] and owner.startswith(f"{holder.pid}@")
    assert (claims, recorded) == (1, True)  # never taken over: the holder renewed to the end
    assert crash_tools.markers("started", "R1") == [marker]  # the tool never started again
    assert holder.wait(30) is not None  # and the holder shut down once it had recorded


async def test_worker_killed_between_claim_and_record(
        client: Client, scripted: ScriptedServer, workers: PgWorkers) -> None:
    first = await workers.spawn("worker-a")
    tag = uuid.uuid4().hex[:6]
    runs = {"K1": "slow_write", "K2": "commit_then_hang"}
    handles = {}
    for order, tool_name in runs.items():
        scripted.set_script(f"pg-kill-{order}-{tag}", _write_script(tool_name, order))
        handles[order] = await start(client, workers.queue, crash_team(tool_name),
                                     f"Record the payment for {order}", f"pg-kill-{order}-{tag}")
    await until(lambda: crash_tools.markers("started", "K1"), "K1's tool to start")
    await until(lambda: crash_tools.markers("committed", "K2"), "K2's tool to commit")
    claimed = {key: owner for key, owner, _, recorded in workers.ledger() if not recorded}
    assert len(claimed) == 2 and all(o.startswith(f"{first.pid}@") for o in claimed.values())
    first.kill()  # both claims are live and nothing will renew them
    crash_tools.release()
    second = await workers.spawn("worker-b")

    for order in runs:
        result = await asyncio.wait_for(handles[order].result(), 60)
        assert result.status is RunStatus.COMPLETED, (order, result.reason)
    [k1] = crash_tools.effects_of("K1")  # killed before its commit: the successor did it once
    assert (k1["pid"], k1["executions"]) == (second.pid, 1)
    # Killed after its commit: the successor ran the tool again, and the tool's own unique key
    # turned that second execution into a look-up. Still one side effect.
    [k2] = crash_tools.effects_of("K2")
    assert (k2["pid"], k2["executions"]) == (first.pid, 2)
    rows = {key: (owner, claims, recorded) for key, owner, claims, recorded in workers.ledger()}
    for effect in (k1, k2):
        owner, claims, recorded = rows[effect["idempotency_key"]]
        assert owner.startswith(f"{second.pid}@") and (claims, recorded) == (2, True)


def refunds_of(workers: PgWorkers) -> list[tuple[str, float]]:
    """(idempotency key, amount) of every refund in the shared shop's outbox."""
    with psycopg.connect(workers.env["BATON_SUPPORT_DB"]) as conn:
        if conn.execute("SELECT to_regclass('outbox')").fetchone() == (None,):
            return []
        return conn.execute("SELECT idempotency_key, amount FROM outbox").fetchall()


@pytest.mark.timeout(400)
async def test_soak_50_runs_3_workers_one_killed_at_random(
        client: Client, scripted: ScriptedServer, workers: PgWorkers) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    procs = list(await asyncio.gather(*(workers.spawn(f"worker-{i}") for i in range(3))))
    team = parse_team({"name": "refunds", "agents": [{
        "name": "clerk", "description": "Back-office clerk who issues refunds.",
        "instructions": "Issue the refund the user asks for, then confirm.",
        "tools": ["issue_refund"], "max_steps": 4}]})
    # Unscripted: the scripted server's heuristic model answers from the conversation, so a model
    # call retried after the kill gets the same answer. (A script would hand the retry its next
    # step, and a run whose tool call was lost with the worker would end without calling it.)
    prefix = f"pg-soak-{uuid.uuid4().hex[:6]}"
    run_ids = [f"{prefix}-{i:02d}" for i in range(50)]
    handles = await asyncio.gather(*(
        start(client, workers.queue, team,
              f"Refund 1.00 EUR on order A1008 (case {i}): the parcel arrived damaged.", run_id)
        for i, run_id in enumerate(run_ids)))
    # A random moment while refunds are being issued: after a random number of them.
    progress = rng.randint(1, 40)
    await until(lambda: len(refunds_of(workers)) >= progress, f"{progress} refunds", 120)
    victim = rng.choice(procs)
    victim.kill()

    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 300)
    lost = [(run_ids[i], r.status, r.reason) for i, r in enumerate(results)
            if r.status is not RunStatus.COMPLETED]
    assert lost == [], f"seed {seed}"
    calls = [[e for e in await run_log(h) if e.kind == "tool_call"] for h in handles]
    outcomes = [(c.status, c.result) for run in calls for c in run]
    assert len(outcomes) == 50 and all(status == "ok" for status, _ in outcomes), (
        f"seed {seed}: {outcomes}")
    refunds = refunds_of(workers)
    assert len(refunds) == 50, f"seed {seed}"  # exactly one refund per run
    # Each run reports its own refund, the one the shared outbox holds for its key.
    assert len({result["refund_id"] for _, result in outcomes}) == 50
    assert {run[0].idempotency_key for run in calls} == {key for key, _ in refunds}
    ledger = workers.ledger()
    assert len(ledger) == 50 and all(recorded for *_, recorded in ledger), f"seed {seed}"
    assert {key for key, *_ in ledger} == {key for key, _ in refunds}
    assert all(amount == 1.0 for _, amount in refunds)
