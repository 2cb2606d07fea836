"""The ``baton`` CLI as a user runs it: real subprocesses against a real embedded stack.

The stack is started once for this module on free loopback ports with a home under a temporary
directory; the CLI finds it through ``BATON_*`` variables and ``--address``, like a user would.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from baton.client import BatonClient, EmbeddedStack, free_port
from baton.errors import BatonError
from baton.settings import BatonSettings

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "baton" / "examples" / "support.yaml")


async def baton(*args: str, env: dict[str, str] | None = None,
                limit_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m client.cli ARGS`` (what the ``baton`` script runs) and capture output."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "baton.client.cli", *args], cwd=ROOT,
        env={**clean, "COLUMNS": "200", **(env or {})},
        capture_output=True, text=True, timeout=limit_s, check=False,
    )


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedStack]:
    settings = BatonSettings(
        home=tmp_path_factory.mktemp("cli") / "home",
        temporal_port=free_port(), ui_port=free_port(), model_server_port=free_port(),
        task_queue=f"cli-{uuid.uuid4().hex[:8]}", model_server_url=None,
    )
    async with EmbeddedStack(settings) as running:
        yield running


@pytest.fixture(scope="module")
def env(stack: EmbeddedStack) -> dict[str, str]:
    s = stack.settings
    return {"BATON_TASK_QUEUE": s.task_queue, "BATON_UI_PORT": str(s.ui_port),
            "BATON_HOME": str(s.home)}


async def test_broken_yaml_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "team.yaml"
    bad.write_text("name: t\nagents:\n  - name: a\n    description: d\n    instructions: i\n"
                   "    tols: [lookup_order]\n")
    done = await baton("run", str(bad), "--input", "hello")
    assert done.returncode == 2
    assert str(bad) in done.stderr
    assert "agents[0].tols" in done.stderr
    assert "unknown key 'tols' (did you mean 'tools'?)" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


async def test_unreachable_temporal_is_one_line(tmp_path: Path) -> None:
    done = await baton("status", "some-run", "--address", f"127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "cannot reach Temporal" in done.stderr
    assert "Traceback" not in done.stderr


async def approve_with_cli(stack: EmbeddedStack, run_id: str, env: dict[str, str],
                           done: asyncio.Future[Any]) -> list[str]:
    """Until ``done``, approve every approval the run asks for with ``baton approve`` (the
    example's refund tool needs a person), as its allowed approver. Returns the CLI outputs."""
    client = await BatonClient.connect(stack.settings)
    outputs: list[str] = []
    while not done.done():
        try:
            pending = await client.pending_approvals(run_id)
        except BatonError:  # not started yet
            pending = []
        for approval in pending:
            approver = (approval.allowed_deciders or ["someone"])[0]
            listed = await baton("approvals", run_id, env=env)
            assert approval.approval_id in listed.stdout
            decided = await baton("approve", run_id, approval.approval_id, "--by", approver,
                                  "--reason", "looks right", env=env)
            assert decided.returncode == 0, decided.stderr
            outputs.append(decided.stdout)
        await asyncio.sleep(0.3)
    return outputs


@pytest.mark.slow
async def test_run_prints_steps_and_answer(stack: EmbeddedStack, env: dict[str, str]) -> None:
    run_id = f"support-run-{uuid.uuid4().hex[:6]}"
    env = {**env, "BATON_TEMPORAL_ADDRESS": stack.temporal_address}
    running = asyncio.ensure_future(baton(
        "run", EXAMPLE, "--input", "Order A1001 arrived broken, please refund it.",
        "--run-id", run_id, "--address", stack.temporal_address, env=env))
    approvals = await approve_with_cli(stack, run_id, env, running)
    done = await running
    assert done.returncode == 0, done.stderr + done.stdout
    assert "lookup_order" in done.stdout  # one progress line per step
    assert "chat baton-scripted" in done.stdout
    assert "completed" in done.stdout
    assert run_id in done.stdout
    ui = f"http://127.0.0.1:{stack.settings.ui_port}/namespaces/default/workflows/{run_id}"
    assert ui in done.stdout
    if approvals:  # the scripted model refunded: the approval shows in the progress lines
        assert "approval requested for issue_refund" in done.stdout
        assert "approve" in approvals[0]


@pytest.mark.slow
async def test_no_wait_then_status_and_show(stack: EmbeddedStack, env: dict[str, str]) -> None:
    run_id = f"support-cli-{uuid.uuid4().hex[:6]}"
    env = {**env, "BATON_TEMPORAL_ADDRESS": stack.temporal_address}
    done = await baton("run", EXAMPLE, "Order A1003 arrived with a torn sole, refund it please.",
                       "--no-wait", "--run-id", run_id, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == run_id

    client = await BatonClient.connect(stack.settings)
    finished = asyncio.ensure_future(client.result(run_id))
    await approve_with_cli(stack, run_id, env, finished)
    await finished

    status = await baton("status", run_id, env=env)
    assert status.returncode == 0, status.stderr
    assert run_id in status.stdout

    shown = await baton("show", run_id, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "lookup_order" in shown.stdout
    assert "idempotency key" in shown.stdout
    assert "A1003" in shown.stdout  # the tool call's arguments

    as_json = await baton("show", run_id, "--json", env=env)
    view = json.loads(as_json.stdout)
    tools = [e for e in view["events"] if e["kind"] == "tool_call"]
    assert tools
    assert all(e["idempotency_key"] for e in tools)

    again = await baton("run", EXAMPLE, "again", "--no-wait", "--run-id", run_id, env=env)
    assert again.returncode == 1, again.stderr
    assert "already exists" in again.stderr


@pytest.mark.slow
async def test_show_unknown_run(stack: EmbeddedStack, env: dict[str, str]) -> None:
    done = await baton("show", "no-such-run", "--address", stack.temporal_address, env=env)
    assert done.returncode == 1
    assert "no run 'no-such-run'" in done.stderr


@pytest.mark.slow
async def test_demo_twice(tmp_path: Path) -> None:
    # `baton demo` brings its own stack: give it free ports and a temporary home, twice, so the
    # second run reuses the SQLite file and logs of the first.
    ports = ["--temporal-port", str(free_port()), "--ui-port", str(free_port()),
             "--model-port", str(free_port())]
    for _ in range(2):
        done = await baton("demo", "--home", str(tmp_path / "home"), *ports, limit_s=170)
        assert done.returncode == 0, done.stderr + done.stdout
        assert "completed" in done.stdout
        assert "lookup_order" in done.stdout
        assert "/namespaces/default/workflows/support-" in done.stdout
        # Each demo starts with the shop as new, so the second one refunds again too.
        assert re.search(r"tool issue_refund\(order_id=A1001, amount=89\.99.*\) ok",
                         done.stdout), done.stdout
        assert "tools failed" not in done.stdout
    assert (tmp_path / "home" / "temporal.sqlite").exists()
    with sqlite3.connect(tmp_path / "home" / "demo" / "support.sqlite") as shop:
        assert shop.execute("SELECT order_id, amount FROM outbox").fetchall() == [
            ("A1001", 89.99)]
