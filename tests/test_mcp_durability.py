"""MCP write calls survive processes dying: the server's and the worker's.

The server is ``tests/mcp_record_server.py``, a payments server built with the official SDK that
records each payment once per idempotency key (the ``_meta`` key Baton sends) and counts how
often each key was executed, so the test reads from the *server's own record* whether anything
happened twice. Processes are killed with SIGKILL while the server holds the call.

* Over stdio, inside a worker: the server process dies mid-call; the worker starts a new one
  and Temporal's retry of the call runs on it, once.
* Over streamable HTTP (an API key in a header, from the worker's environment), with worker
  subprocesses: the worker dies after the server committed the payment and before the outcome
  reached the ledger; the next worker takes the expired claim over and calls again with the same
  key, and the server answers with the payment it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import mcp_record_server as payments_server
import pytest
from procs import (
    AGENT,
    TESTS,
    Proc,
    crash_team,
    free_port,
    run_log,
    start,
    start_worker,
    until,
    wait_polling,
    worker_env,
)
from temporalio.client import Client

from baton.client import run_result
from baton.mcp_servers import McpServerConfig
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.worker import worker_resources

pytestmark = pytest.mark.slow

SERVER = str(TESTS / "mcp_record_server.py")
TOOL = "payments__record_payment"
# Room for the attempts a crash costs: the lost one, waits on a live claim, the takeover.
RECORD = {"approval": "never", "heartbeat_s": 0.5, "timeout_s": 60,
          "retry": {"max_attempts": 10, "initial_interval_s": 0.2, "backoff": 1.0,
                    "max_interval_s": 1.0}}


def pay_script(order_id: str) -> dict[str, list[dict[str, Any]]]:
    return {AGENT: [
        {"tool_calls": [{"name": TOOL, "arguments": {"order_id": order_id, "amount": 12.5}}]},
        {"content": f"Payment for {order_id} recorded."}]}


def of(state: Path, order_id: str) -> list[dict[str, Any]]:
    return [p for p in payments_server.payments(state) if p["order_id"] == order_id]


async def test_a_server_killed_mid_call_is_restarted_and_the_call_retried_on_it(
        client: Client, scripted: ScriptedServer, tmp_path: Path) -> None:
    state = tmp_path / "payments"
    state.mkdir()
    (state / "hold-K1").touch()  # the call blocks inside the server, before it commits
    settings = BatonSettings(
        home=tmp_path / "home", task_queue=f"mcp-kill-{uuid.uuid4().hex[:8]}",
        model_server_url=scripted.base_url, mcp_servers={"payments": McpServerConfig(
            command=sys.executable, args=[SERVER, str(state)], tools={"record_payment": RECORD})})
    run_id = f"mcp-kill-{uuid.uuid4().hex[:8]}"
    scripted.set_script(run_id, pay_script("K1"))
    async with worker_resources(client, settings) as worker, worker:
        handle = await start(client, settings.task_queue, crash_team(TOOL), "Pay K1", run_id)
        [held] = await until(lambda: payments_server.markers(state, "started-K1-"),
                             "the call to reach the server")
        killed = int(held.rsplit("-p", 1)[1])
        os.kill(killed, signal.SIGKILL)
        payments_server.release(state, "K1")
        result = await asyncio.wait_for(run_result(handle), 60)
        [call] = [e for e in await run_log(handle) if e.kind == "tool_call"]
    assert result.status is RunStatus.COMPLETED, result.reason
    restarted = [pid for pid in payments_server.pids(state) if pid != killed]
    assert len(restarted) == 1  # the worker started the server again, once
    [payment] = of(state, "K1")
    assert payment["pid"] == restarted[0] and payment["executions"] == 1
    assert call.status == "ok" and call.result["served_by_pid"] == restarted[0]
    assert call.idempotency_key == payment["idempotency_key"]  # passed through in _meta
    scripted.assert_script_consumed(run_id)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def _claims(ledger: Path, key: str) -> tuple[int, bool]:
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        claims, outcome = db.execute("SELECT claims, outcome FROM baton_ledger "
                                     "WHERE idempotency_key = ?", (key,)).fetchone()
    return claims, outcome is not None


async def test_a_worker_killed_during_a_write_call_does_not_pay_twice(
        client: Client, scripted: ScriptedServer, tmp_path: Path) -> None:
    state, port = tmp_path / "payments", free_port()
    token = uuid.uuid4().hex  # the server's API key: the worker sends it from its environment
    server = Proc("payments", [sys.executable, SERVER, str(state), "--http", str(port)],
                  tmp_path / "logs" / "payments.log", env={"PAYMENTS_TOKEN": token}).start()
    queue = f"mcp-crash-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        address=client.service_client.config.target_host, task_queue=queue,
        model_url=scripted.base_url, state=tmp_path / "worker", crash_dir=tmp_path / "crash",
        extra={"PAYMENTS_API_KEY": token, "BATON_MCP_SERVERS": json.dumps({"payments": {
            "url": f"http://127.0.0.1:{port}/mcp",
            "headers": {"Authorization": "Bearer ${PAYMENTS_API_KEY}"},
            "tools": {"record_payment": RECORD}}})})
    workers: list[Proc] = []
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert server.alive() and time.monotonic() < deadline, server.tail()
            await asyncio.sleep(0.1)
        state.mkdir(exist_ok=True)
        (state / "hold-after-K2").touch()  # the server commits, then holds the response
        workers.append(start_worker("worker-a", env, tmp_path / "logs"))
        await wait_polling(client, queue, workers[0])
        run_id = f"mcp-crash-{uuid.uuid4().hex[:8]}"
        scripted.set_script(run_id, pay_script("K2"))
        handle = await start(client, queue, crash_team(TOOL), "Pay K2", run_id)
        [committed] = await until(lambda: of(state, "K2"), "the server to commit the payment")
        workers[0].kill()  # the ledger has a claim and no outcome; the server has the payment
        payments_server.release(state, "K2")
        workers.append(start_worker("worker-b", env, tmp_path / "logs"))
        await wait_polling(client, queue, workers[1])
        result = await asyncio.wait_for(run_result(handle), 90)
        assert result.status is RunStatus.COMPLETED, result.reason
        [payment] = of(state, "K2")  # one payment, however often the call was executed
        assert payment["id"] == committed["id"] and payment["pid"] == server.pid
        assert payment["executions"] == 2  # the retry reached the server, with the same key
        [call] = [e for e in await run_log(handle) if e.kind == "tool_call"]
        assert call.status == "ok" and call.result["payment_id"] == payment["id"]
        assert call.idempotency_key == payment["idempotency_key"]
        # The ledger's side: the replacement took the dead worker's claim over and recorded.
        assert _claims(tmp_path / "worker" / "ledger.sqlite", call.idempotency_key) == (2, True)
        scripted.assert_script_consumed(run_id)
    finally:
        for proc in [*workers, server]:
            proc.stop()
