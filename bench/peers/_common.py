"""The runner's side of every peer: worker subprocesses, the effect file, and the size of a
workflow's history (the loop itself is in ``_loop``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent.parent


def effects(path: Path) -> list[str]:
    """The lines the write tool appended (one per side effect)."""
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


class WorkerProcess:
    """A peer's worker as a child process in its own session, so SIGKILL reaches only it."""

    def __init__(self, name: str, argv: Sequence[str], log: Path,
                 env: Mapping[str, str]) -> None:
        self.name, self.argv, self.log = name, list(argv), log
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **env}
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.argv, cwd=ROOT, env=self.env,
                                          stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no drain, as when the host dies."""
        if self.alive():
            assert self.popen is not None
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def wait_polling(self, client: Client, queue: str, within_s: float = 60) -> None:
        """Until the server lists this process among the queue's workflow pollers."""
        deadline = time.monotonic() + within_s
        request = DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} worker exited:\n{self.tail(150)}")
            with contextlib.suppress(Exception):
                response = await client.workflow_service.describe_task_queue(request)
                if any(p.identity.startswith(f"{self.pid}@") for p in response.pollers):
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} worker never polled {queue}:\n{self.tail()}")


async def history_bytes(client: Client, workflow_id: str) -> int:
    """The server's own measure, as in ``bench.history``: the protobuf size of every history
    event, summed over the run and every run it continued as new from."""
    total, run_id = 0, None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        total += sum(event.ByteSize() for event in history.events)
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return total
        run_id = started.continued_execution_run_id


async def largest_events(client: Client, workflow_id: str, top: int = 3) -> list[tuple[str, int]]:
    """The event types that hold most of the last run's history (what dominates it)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    sizes: dict[str, int] = {}
    for event in history.events:
        kind = event.WhichOneof("attributes") or "?"
        sizes[kind] = sizes.get(kind, 0) + event.ByteSize()
    return sorted(sizes.items(), key=lambda item: -item[1])[:top]
