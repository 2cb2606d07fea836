"""Processes that heal: ``baton up`` restarts a child that died, ``baton worker`` waits for
Temporal instead of exiting.

The backoff rule is checked as a pure function; the supervisor with real (tiny) child processes;
``baton up`` and ``baton worker`` as an operator runs them, as subprocesses of the real CLI
against real dev servers, with the worker SIGKILLed mid-run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import crash_tools
import pytest
from google.protobuf.duration_pb2 import Duration
from procs import (
    AGENT,
    REPO,
    TESTS,
    DevServer,
    Proc,
    crash_team,
    pollers,
    start,
    until,
    wait_polling,
    worker_env,
    write_script,
)
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from baton.backoff import Backoff
from baton.client import free_port, run_result
from baton.client._procs import ManagedProcess, check_port_free
from baton.client._supervisor import (
    ChildExited,
    ChildRestarted,
    Supervisor,
    SupervisorEvent,
    describe_exit,
)
from baton.errors import StackError
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer
from baton.visibility import ALL_SEARCH_ATTRIBUTES

# -- the backoff rule ------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial_s=0.5, factor=2.0, max_s=30.0)
    assert [backoff.next_delay() for _ in range(9)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_backoff_starts_over_after_a_run_that_stayed_up() -> None:
    backoff = Backoff(initial_s=0.5, max_s=30.0, reset_after_s=60.0)
    assert [backoff.next_delay(up_for_s=1.0) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert backoff.next_delay(up_for_s=59.0) == 4.0  # not long enough: still failing
    assert backoff.next_delay(up_for_s=60.0) == 0.5  # up a minute: that run was a success
    assert backoff.next_delay() == 1.0


def test_backoff_retrying_for_days_stays_at_the_cap() -> None:
    backoff = Backoff(max_s=30.0)
    assert all(backoff.next_delay() <= 30.0 for _ in range(5000))  # no float overflow


def test_exit_descriptions() -> None:
    assert describe_exit(0) == "exit code 0"
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"


# -- the supervisor, with real child processes -----------------------------------------------


def child(tmp_path: Path, code: str) -> ManagedProcess:
    return ManagedProcess(name="child", argv=[sys.executable, "-c", code],
                          log=tmp_path / "child.log", stop_timeout_s=5)


class Heard:
    """What a supervisor reported, and a way to wait for a kind of event."""

    def __init__(self) -> None:
        self.events: list[SupervisorEvent] = []
        self.changed = asyncio.Event()

    def __call__(self, event: SupervisorEvent) -> None:
        self.events.append(event)
        self.changed.set()

    async def until(self, kind: type, count: int = 1) -> None:
        async def enough() -> None:
            while sum(isinstance(e, kind) for e in self.events) < count:
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(enough(), 60)


async def test_supervisor_restarts_a_child_that_died(tmp_path: Path) -> None:
    # The first run prints and exits 3; the second one finds its marker and stays up.
    marker = tmp_path / "ran-once"
    proc = child(tmp_path, f"import pathlib, sys, time\nm = pathlib.Path({str(marker)!r})\n"
                           "if not m.exists():\n    m.touch(); print('first run, dying'); "
                           "sys.exit(3)\ntime.sleep(600)")
    heard = Heard()
    supervisor = Supervisor(heard, backoff=lambda: Backoff(initial_s=0.05))
    await proc.start()
    first_pid = proc.pid
    supervisor.watch(proc)
    try:
        await heard.until(ChildRestarted)
        exited, restarted = heard.events
        assert isinstance(exited, ChildExited) and isinstance(restarted, ChildRestarted)
        assert (exited.name, exited.pid, exited.code, exited.restart_in_s) == (
            "child", first_pid, 3, 0.05)
        assert "first run, dying" in exited.tail
        assert str(exited) == f"child (pid {first_pid}) exited: exit code 3; restarting in 0.05 s"
        assert restarted.pid == proc.pid != first_pid
        assert proc.exited() is None  # the second run is up
        assert "restart after exit code 3" in proc.log.read_text()  # the log says why, too
    finally:
        await supervisor.stop()
        await proc.stop()
    assert proc.exited() is not None
    assert len(heard.events) == 2, "stopping a child after supervisor.stop() is no crash"


async def test_supervisor_gives_up_on_a_crash_loop(tmp_path: Path) -> None:
    proc = child(tmp_path, "import sys; print('bad configuration'); sys.exit(7)")
    heard = Heard()
    supervisor = Supervisor(heard, max_exits=3, window_s=600,
                            backoff=lambda: Backoff(initial_s=0.01))
    await proc.start()
    supervisor.watch(proc)
    with pytest.raises(StackError) as caught:
        await asyncio.wait_for(supervisor.wait(), 60)
    await supervisor.stop()
    assert str(caught.value) == (f"child exited 3 times within 600 s (last: exit code 7); "
                                 f"giving up, see {proc.log}")
    kinds = [(type(e).__name__, getattr(e, "restart_in_s", None)) for e in heard.events]
    assert kinds == [("ChildExited", 0.01), ("ChildRestarted", None), ("ChildExited", 0.02),
                     ("ChildRestarted", None), ("ChildExited", None)]
    assert str(heard.events[-1]).endswith("exit code 7; it keeps exiting, giving up")


# -- `baton up`: SIGKILL its worker mid-run ----------------------------------------------------


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "baton.client.cli", *args]


@pytest.fixture
async def crash_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Path]:
    folder = tmp_path / "crash"
    folder.mkdir()
    monkeypatch.setenv("BATON_CRASH_DIR", str(folder))  # crash_tools helpers, this process
    yield folder
    crash_tools.release()  # never leave a blocked tool behind


@pytest.mark.slow
async def test_baton_up_restarts_its_killed_worker_and_the_run_finishes(
        tmp_path: Path, crash_dir: Path) -> None:
    ports = {"temporal": free_port(), "ui": free_port(), "model": free_port()}
    queue = f"heal-{uuid.uuid4().hex[:8]}"
    up = Proc("baton-up", cli(
        "up", "--home", str(tmp_path / "home"), "--temporal-port", str(ports["temporal"]),
        "--ui-port", str(ports["ui"]), "--model-port", str(ports["model"]),
        "--console-port", str(free_port()),
        "--task-queue", queue,
    ), tmp_path / "up.log", env={
        # The stack's worker inherits these: it serves the test's blocking write tool too.
        "BATON_TOOL_MODULES": json.dumps(["crash_tools"]),
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(REPO)]),
        "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
    }).start()
    try:
        await until(lambda: "baton is up" in up.log.read_text() or not up.alive(),
                    "baton up to start", within_s=150)
        assert up.alive(), up.tail()
        client = await Client.connect(f"127.0.0.1:{ports['temporal']}",
                                      data_converter=pydantic_data_converter)
        model = ScriptedServer.attach("127.0.0.1", ports["model"])
        run_id = f"heal-{uuid.uuid4().hex[:8]}"
        model.set_script(run_id, write_script("slow_write", "U1"))
        handle = await start(client, queue, crash_team("slow_write"), "Record U1", run_id)
        await until(lambda: crash_tools.markers("started", "U1"), "the tool to start")

        [identity] = await pollers(client, queue)  # `pid@host`: the stack's only worker
        old_pid = int(identity.split("@")[0])
        os.kill(old_pid, signal.SIGKILL)  # mid-run: its tool is blocked inside the activity
        crash_tools.release("U1")  # nothing else is done by the test: no restart, no new worker

        result = await asyncio.wait_for(run_result(handle), 150)
        assert result.status is RunStatus.COMPLETED, result.reason
        assert result.output == "Payment for U1 recorded."
        assert [e["order_id"] for e in crash_tools.effects()] == ["U1"]
        model.assert_script_consumed(run_id)
        model.stop()  # attached: closes only the control connection

        said = up.log.read_text()
        assert f"worker (pid {old_pid}) exited: killed by SIGKILL; restarting in 0.5 s" in said
        assert f"last lines of {(tmp_path / 'home').resolve() / 'logs' / 'worker.log'}" in said
        new_pid = restarted_pid(up, 1)
        assert new_pid is not None, said
        assert "temporal (pid" not in said and "model-server (pid" not in said, said
        assert "console (pid" not in said, said
        assert any(i.startswith(f"{new_pid}@") for i in await pollers(client, queue))

        up.signal(signal.SIGINT)  # Ctrl-C: everything stops, in order, exit code 0
        assert up.wait(60) == 0, up.tail()
        assert "stopping…" in up.log.read_text()
        await until(lambda: not pid_alive(new_pid), "the restarted worker to be stopped")
        check_port_free("127.0.0.1", ports["temporal"], what="dev server", hint="-")
    finally:
        up.stop()


@pytest.mark.slow
async def test_baton_up_gives_up_on_a_worker_that_keeps_dying(tmp_path: Path) -> None:
    ports = [free_port(), free_port(), free_port()]
    home, queue = (tmp_path / "home").resolve(), f"heal-{uuid.uuid4().hex[:8]}"
    up = Proc("baton-up", cli(
        "up", "--home", str(home), "--temporal-port", str(ports[0]), "--ui-port", str(ports[1]),
        "--model-port", str(ports[2]), "--console-port", str(free_port()), "--task-queue", queue,
    ), tmp_path / "up.log", env={"PYTHONUNBUFFERED": "1", "COLUMNS": "200"}).start()
    try:
        await until(lambda: "baton is up" in up.log.read_text() or not up.alive(),
                    "baton up to start", within_s=150)
        assert up.alive(), up.tail()
        [identity] = await pollers(await Client.connect(f"127.0.0.1:{ports[0]}"), queue)
        pid = int(identity.split("@")[0])
        for restart in range(1, 5):  # a crash loop: every new worker dies as soon as it is up
            os.kill(pid, signal.SIGKILL)
            pid = await until(lambda n=restart: restarted_pid(up, n), f"restart {restart}")
        os.kill(pid, signal.SIGKILL)  # the fifth exit within a minute

        assert up.wait(90) == 1, up.tail()
        said = up.log.read_text()
        assert f"worker (pid {pid}) exited: killed by SIGKILL; it keeps exiting, giving up" in said
        assert (f"error: worker exited 5 times within 60 s (last: killed by SIGKILL); giving "
                f"up, see {home / 'logs' / 'worker.log'}") in said
        check_port_free("127.0.0.1", ports[0], what="dev server", hint="-")  # all stopped
    finally:
        up.stop()


def restarted_pid(up: Proc, restart: int) -> int | None:
    """The pid of the worker ``baton up`` started for its ``restart``-th restart, once it has."""
    for line in up.log.read_text().splitlines():
        if line.startswith("worker restarted (pid ") and line.endswith(f"restart {restart})"):
            return int(line.split("(pid ")[1].split(",")[0])
    return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- `baton worker`: started before Temporal exists ------------------------------------------


@pytest.mark.slow
async def test_baton_worker_waits_for_temporal_then_serves(
        tmp_path: Path, scripted: ScriptedServer, crash_dir: Path) -> None:
    server = DevServer(tmp_path)  # its ports are chosen, nothing listens on them yet
    queue = f"heal-{uuid.uuid4().hex[:8]}"
    env = worker_env(address=server.address, task_queue=queue, model_url=scripted.base_url,
                     state=tmp_path / "state", crash_dir=crash_dir,
                     extra={"BATON_LOG_LEVEL": "info"})
    worker = Proc("worker", cli("worker"), tmp_path / "worker.log", env).start()
    retry = f"cannot reach Temporal at {server.address}; retrying in "
    try:
        await until(lambda: worker.log.read_text().count(retry) >= 2 or not worker.alive(),
                    "two retry lines", within_s=60)
        assert worker.alive(), worker.tail()

        client = await server.start()
        await wait_polling(client, queue, worker, within_s=90)
        run_id = f"heal-{uuid.uuid4().hex[:8]}"
        scripted.set_script(run_id, {AGENT: [
            {"tool_calls": [{"name": "take_note", "arguments": {"text": "hello"}}]},
            {"content": "Noted: hello."}]})
        handle = await start(client, queue, crash_team("take_note"), "Note hello", run_id)
        result = await asyncio.wait_for(run_result(handle), 60)
        assert result.status is RunStatus.COMPLETED, result.reason

        lines = [json.loads(line) for line in worker.log.read_text().splitlines()
                 if line.startswith("{")]
        retries = [line for line in lines if line["event"].startswith(retry)]
        assert [r["retry_in_s"] for r in retries[:2]] == [0.5, 1.0]  # backing off
        assert all(r["level"] == "warning" and r["address"] == server.address
                   and "Failed client connect" in r["error"] for r in retries)
        assert [line["event"] for line in lines].count("worker started") == 1

        worker.signal(signal.SIGTERM)  # graceful shutdown, exit code 0
        assert worker.wait(60) == 0, worker.tail()
        assert "worker stopped" in worker.log.read_text()
    finally:
        worker.stop()
        server.cleanup()


@pytest.mark.slow
async def test_baton_worker_retries_when_its_namespace_is_missing(
        tmp_path: Path, scripted: ScriptedServer, crash_dir: Path) -> None:
    """Connected, but the SDK worker fails (its namespace does not exist yet): the process keeps
    retrying until an operator creates the namespace, then serves."""
    server = DevServer(tmp_path)
    client = await server.start()
    namespace, queue = f"heal-{uuid.uuid4().hex[:6]}", f"heal-{uuid.uuid4().hex[:8]}"
    env = worker_env(address=server.address, task_queue=queue, model_url=scripted.base_url,
                     state=tmp_path / "state", crash_dir=crash_dir,
                     extra={"BATON_NAMESPACE": namespace})
    worker = Proc("worker", cli("worker"), tmp_path / "worker.log", env).start()
    retry = f"worker failed against Temporal at {server.address}; retrying in "
    try:
        await until(lambda: retry in worker.log.read_text() or not worker.alive(),
                    "a retry line", within_s=60)
        assert worker.alive(), worker.tail()
        assert f"Namespace {namespace} is not found" in worker.log.read_text()

        await client.workflow_service.register_namespace(RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)))
        await until(lambda: add_search_attributes(client, namespace), "the namespace to exist")
        ours = await Client.connect(server.address, namespace=namespace,
                                    data_converter=pydantic_data_converter)
        await wait_polling(ours, queue, worker, within_s=90)
        run_id = f"heal-{uuid.uuid4().hex[:8]}"
        scripted.set_script(run_id, {AGENT: [{"content": "Nothing to record."}]})
        handle = await start(ours, queue, crash_team("take_note"), "Anything?", run_id)
        result = await asyncio.wait_for(run_result(handle), 60)
        assert result.status is RunStatus.COMPLETED, result.reason
        worker.signal(signal.SIGTERM)
        assert worker.wait(60) == 0, worker.tail()
    finally:
        worker.stop()
        server.cleanup()


async def add_search_attributes(client: Client, namespace: str) -> bool:
    """Baton's search attributes in a namespace an operator just created (False: not yet)."""
    try:
        await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=namespace, search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type)
                for key in ALL_SEARCH_ATTRIBUTES}))
    except RPCError:  # the new namespace is not visible to every service yet
        return False
    return True
