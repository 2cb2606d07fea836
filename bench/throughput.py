"""Throughput: many support runs at once through one, then two worker processes, against the
same server's bare throughput in the same run.

Each phase starts ``RUNS`` runs of the example support team (unscripted: look the order up,
read the policy, issue the refund, answer) through ``BatonClient.start``, the way users start
them, while an approver loop finds the refunds waiting for a person (``pending_approvals``, the
visibility search ``baton approvals`` uses) and approves them through the ``decide`` update.
Workers are ``baton worker`` processes configured by ``BATON_*`` variables; the bare side is a
worker process serving workflows of two activities per step, as many steps as the support runs
averaged, all started at once. Timed from the first start to the last result.

Figures: ``throughput_steps_per_s`` and ``throughput_runs_per_s`` (one worker),
``bare_throughput_steps_per_s``, ``throughput_ratio`` (Baton / bare, one worker process each)
and ``throughput_scaling_2_workers`` (two workers / one). The server, the model server, the
workers and the benchmark share this machine's cores, which caps what a second worker can add.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import BatonClient
from baton.errors import ApprovalRefusedError
from baton.examples import APPROVER_GROUPS, TOOL_MODULES
from baton.loader import load_team
from baton.runs import RunStatus
from baton.settings import BatonSettings
from bench import bare
from bench._env import BenchEnv

RUNS = int(os.environ.get("BATON_BENCH_THROUGHPUT_RUNS", "100"))
TASK = "Order A1001 arrived broken. Please look it up and refund it."
SUPPORT = Path(__file__).parent.parent / "baton" / "examples" / "support.yaml"


@dataclass
class Phase:
    runs: int
    steps: int
    seconds: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds

    @property
    def runs_per_s(self) -> float:
        return self.runs / self.seconds


def _worker_env(settings: BatonSettings) -> dict[str, str]:
    """``baton worker``'s configuration, as ``BATON_*`` variables (JSON for structured ones)."""
    return {
        "BATON_HOME": str(settings.home), "BATON_TEMPORAL_ADDRESS": settings.temporal_address,
        "BATON_TASK_QUEUE": settings.task_queue, "BATON_LOG_LEVEL": "warning",
        "BATON_MODEL_SERVER_URL": settings.model_server_url or "",
        "BATON_TOOL_MODULES": json.dumps(list(TOOL_MODULES)),
        "BATON_APPROVER_GROUPS": json.dumps(APPROVER_GROUPS),
        "BATON_ALLOW_UNSIGNED_DECISIONS": "true",
        "BATON_SUPPORT_DB": str(settings.home / "shop.sqlite"),
    }


@contextmanager
def _processes(argvs: list[list[str]], home: Path, env: dict[str, str]) -> Iterator[None]:
    logs = [(home / f"worker-{i}.log").open("w") for i in range(len(argvs))]
    procs = [subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, **env})
             for argv, log in zip(argvs, logs, strict=True)]
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


async def _wait_for_pollers(client: Client, task_queue: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
        if len({p.identity for p in described.pollers}) >= count:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{count} worker(s) did not poll {task_queue} within 60 s")


async def _approve_until(baton: BatonClient, done: asyncio.Event) -> int:
    """Approve every refund that waits (all that are found at once: the approvals are the
    benchmark's, the time they take is not what it measures)."""
    approved = 0

    async def approve(pending: PendingApproval) -> int:
        try:
            await baton.decide(ApprovalDecision(
                approval_id=pending.approval_id, decision="approve", by="alice",
                reason="benchmark"), workflow_id=pending.workflow_id)
        except ApprovalRefusedError:  # decided a moment ago, by the previous sweep
            return 0
        return 1

    while not done.is_set():
        waiting = await baton.pending_approvals(team="support")
        approved += sum(await asyncio.gather(*(approve(p) for p in waiting)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=0.1)
    return approved


async def _baton_phase(env: BenchEnv, workers: int) -> Phase:
    settings = env.settings().model_copy(update={
        "temporal_address": env.client.service_client.config.target_host,
        "tool_modules": list(TOOL_MODULES), "approver_groups": APPROVER_GROUPS,
        "allow_unsigned_decisions": True})
    home = settings.home / settings.task_queue
    home.mkdir(parents=True)
    settings = settings.model_copy(update={"home": home})
    argv = [sys.executable, "-m", "baton.client.cli", "worker"]
    with _processes([argv] * workers, home, _worker_env(settings)):
        await _wait_for_pollers(env.client, settings.task_queue, workers)
        baton = BatonClient(env.client, settings)
        team = load_team(SUPPORT)
        done = asyncio.Event()
        approver = asyncio.create_task(_approve_until(baton, done))
        started = time.perf_counter()
        run_ids = await asyncio.gather(*(baton.start(team, TASK) for _ in range(RUNS)))
        results = await asyncio.gather(*(baton.result(run_id) for run_id in run_ids))
        elapsed = time.perf_counter() - started
        done.set()
        approved = await approver
    completed = [r for r in results if r.status is RunStatus.COMPLETED]
    assert len(completed) == RUNS, [r.reason for r in results if r not in completed][:3]
    assert approved >= RUNS, f"only {approved} refunds approved for {RUNS} runs"
    return Phase(runs=RUNS, steps=sum(r.steps for r in results), seconds=elapsed)


async def _bare_phase(env: BenchEnv, steps_per_run: int) -> Phase:
    queue = f"bench-bare-{time.perf_counter_ns()}"
    argv = [sys.executable, "-m", "bench.bare_worker",
            env.client.service_client.config.target_host, queue]
    with _processes([argv], env.home, {}):
        await _wait_for_pollers(env.client, queue, 1)
        started = time.perf_counter()
        await asyncio.gather(*(
            env.client.execute_workflow(bare.BareTwoActivities.run, steps_per_run,
                                        id=f"{queue}-{i}", task_queue=queue)
            for i in range(RUNS)))
        elapsed = time.perf_counter() - started
    return Phase(runs=RUNS, steps=RUNS * steps_per_run, seconds=elapsed)


async def measure(env: BenchEnv) -> dict[str, dict[str, Any]]:
    one = await _baton_phase(env, workers=1)
    two = await _baton_phase(env, workers=2)
    bare_phase = await _bare_phase(env, steps_per_run=round(one.steps / one.runs))
    return {
        "throughput_steps_per_s": {"value": round(one.steps_per_s, 1), "unit": "steps/s"},
        "throughput_runs_per_s": {"value": round(one.runs_per_s, 2), "unit": "runs/s"},
        "throughput_steps_per_s_2_workers": {"value": round(two.steps_per_s, 1),
                                             "unit": "steps/s"},
        "bare_throughput_steps_per_s": {"value": round(bare_phase.steps_per_s, 1),
                                        "unit": "steps/s (two activities each)"},
        "throughput_ratio": {"value": round(one.steps_per_s / bare_phase.steps_per_s, 3),
                             "unit": "ratio"},
        "throughput_scaling_2_workers": {"value": round(two.steps_per_s / one.steps_per_s, 3),
                                         "unit": "ratio"},
    }
