"""The embedded stack: real dev server, real model server, real worker, on free loopback ports.

Never the default ports (7233/8233/8765) and never the developer's ``.baton/``: every test gets
its own ports and a home under ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus

from baton.approvals import ApprovalDecision
from baton.client import BatonClient, EmbeddedStack, free_port
from baton.client._supervisor import ChildRestarted
from baton.errors import BatonError, StackError
from baton.runs import RunResult, RunStatus, ToolCallEvent
from baton.settings import BatonSettings
from baton.visibility import ALL_SEARCH_ATTRIBUTES

EXAMPLE = Path(__file__).resolve().parents[1] / "baton" / "examples" / "support.yaml"


def stack_settings(home: Path) -> BatonSettings:
    return BatonSettings(
        home=home,
        temporal_port=free_port(),
        ui_port=free_port(),
        model_server_port=free_port(),
        task_queue=f"stack-{uuid.uuid4().hex[:8]}",
        model_server_url=None,  # the stack's own scripted server, not one from the environment
    )


async def test_temporal_starts_with_search_attributes(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "home")
    async with EmbeddedStack(settings, model_server=False, worker=False) as stack:
        assert stack.temporal_address == f"127.0.0.1:{settings.temporal_port}"
        client = await Client.connect(stack.temporal_address)
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        for key in ALL_SEARCH_ATTRIBUTES:
            assert key.name in listed.custom_attributes
        async with httpx.AsyncClient() as http:  # the UI is served too
            assert (await http.get(stack.ui_url)).status_code == 200
    assert (tmp_path / "home" / "temporal.sqlite").exists()
    assert (tmp_path / "home" / "logs" / "temporal.log").exists()
    with pytest.raises(RuntimeError):  # stopped means stopped
        await Client.connect(stack.temporal_address)


async def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = stack_settings(tmp_path / "home").model_copy(update={"temporal_port": port})
        with pytest.raises(StackError) as caught:
            async with EmbeddedStack(settings):
                pass
    message = str(caught.value)
    assert f"port {port} is in use" in message
    assert "BATON_TEMPORAL_PORT" in message
    assert "--temporal-port" in message


async def test_failed_start_shows_the_log_and_cleans_up(tmp_path: Path) -> None:
    # A directory where the SQLite file should be makes the dev server exit at once: the error
    # must say which process failed and show the end of its log, and nothing may be left running.
    settings = stack_settings(tmp_path / "home")
    (tmp_path / "home" / "temporal.sqlite").mkdir(parents=True)
    stack = EmbeddedStack(settings, startup_timeout_s=20)
    with pytest.raises(StackError) as caught:
        await stack.start()
    message = str(caught.value)
    assert message.startswith("temporal: exited with code")
    assert "last lines of" in message
    assert stack.processes == []


async def finish(client: BatonClient, run_id: str) -> RunResult:
    """Wait for the run, approving whatever it asks a person for (the example's refunds)."""
    waiting = asyncio.ensure_future(client.result(run_id))
    while not waiting.done():
        with contextlib.suppress(BatonError):
            for approval in await client.pending_approvals(run_id):
                await client.decide(ApprovalDecision(
                    approval_id=approval.approval_id, decision="approve",
                    by=(approval.allowed_deciders or ["someone"])[0]),
                    workflow_id=approval.workflow_id, run_id=approval.run_id)
        await asyncio.sleep(0.2)
    return await waiting


@pytest.mark.slow
async def test_full_stack_and_restart_keeps_runs(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "home")

    # 1. Temporal only, no worker: the run is accepted and waits durably in SQLite.
    async with EmbeddedStack(settings, model_server=False, worker=False) as stack:
        client = await BatonClient.connect(stack.settings)
        run_id = await client.start(EXAMPLE, "Order A1002 arrived broken, please refund it.")
        description = await client.describe(run_id)
        assert description.status == WorkflowExecutionStatus.RUNNING

    # 2. Same home, everything: the run survived the restart and now completes.
    async with EmbeddedStack(settings) as stack:
        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{settings.model_server_port}/healthz")
            assert health.status_code == 200
        client = await BatonClient.connect(stack.settings)
        result = await finish(client, run_id)
        assert result.status == RunStatus.COMPLETED, result.reason
        view = await client.show(run_id)
        assert any(isinstance(e, ToolCallEvent) and e.tool == "lookup_order" for e in view.events)
        assert (stack.logs_dir / "worker.log").exists()
        assert (stack.logs_dir / "model-server.log").exists()

    # 3. And once more: the finished run is still there, with its search attributes.
    async with EmbeddedStack(settings, model_server=False, worker=False) as stack:
        client = await BatonClient.connect(stack.settings)
        description = await client.describe(run_id)
        assert description.status == WorkflowExecutionStatus.COMPLETED
        assert description.typed_search_attributes.get(ALL_SEARCH_ATTRIBUTES[0]) == "support"


async def test_the_console_runs_next_to_the_stack_and_comes_back_when_it_dies(
        tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "home").model_copy(update={"console_port": free_port()})
    async with EmbeddedStack(settings, model_server=False, worker=False, console=True) as stack:
        assert stack.console_url == f"http://127.0.0.1:{settings.console_port}"
        async with httpx.AsyncClient() as http:
            page = await http.get(f"{stack.console_url}/approvals", follow_redirects=True)
            # A development stack: the console asks for a name (decisions go unsigned).
            assert page.status_code == 200 and "Sign in" in page.text
            [console] = [p for p in stack.processes if p.name == "console"]
            killed = console.pid
            assert killed is not None
            os.kill(killed, signal.SIGKILL)
            for _ in range(300):
                if any(isinstance(e, ChildRestarted) and e.name == "console"
                       for e in stack.events):
                    break
                await asyncio.sleep(0.1)
            restarted = [e for e in stack.events if isinstance(e, ChildRestarted)]
            assert [e.name for e in restarted] == ["console"] and console.pid != killed
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{stack.console_url}/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the restarted console never answered")
