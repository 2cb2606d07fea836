"""The run log as the debugging surface, run as a user runs it: ``baton show`` (tree,
``--json``, ``--step N --diff``), ``replay-tool``, ``summary``, ``runs``, approvals across runs,
``edit``, ``lint``, ``examples`` and ``resume``; real subprocesses against one embedded stack.

Runs are scripted through the stack's model server control API
(``PUT /_scripted/runs/{run_id}/script``), so every step is known in advance.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from baton.approvals import PendingApproval
from baton.client import BatonClient, EmbeddedStack, free_port
from baton.errors import BatonError
from baton.runs import RunResult, RunStatus
from baton.settings import BatonSettings
from baton.specs import ModelProfile

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = yaml.safe_load((ROOT / "baton" / "examples" / "support.yaml").read_text())
PRICED: dict[str, Any] = {"provider": "openai", "model": "baton-scripted",
                          "price_input_per_mtok": 3.0, "price_output_per_mtok": 15.0}


async def baton(*args: str, env: dict[str, str], limit_s: float = 60
                ) -> subprocess.CompletedProcess[str]:
    """``python -m client.cli ARGS`` (what the ``baton`` script runs), output captured."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "baton.client.cli", *args], cwd=ROOT,
        env={**clean, "COLUMNS": "220", **env}, capture_output=True, text=True,
        timeout=limit_s, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedStack]:
    base = tmp_path_factory.mktemp("cli-debug")
    settings = BatonSettings(
        home=base / "home",
        temporal_port=free_port(), ui_port=free_port(), model_server_port=free_port(),
        task_queue=f"cli-debug-{uuid.uuid4().hex[:8]}", model_server_url=None,
        # Priced, so costs show up; the benchmark tool for the long run below.
        profiles={"default": ModelProfile(**PRICED)}, tool_modules=["bench.tools"],
    )
    with pytest.MonkeyPatch.context() as patch:
        # This module's own shop database: its worker and its replays write refunds there.
        patch.setenv("BATON_SUPPORT_DB", str(base / "support.sqlite"))
        async with EmbeddedStack(settings) as running:
            yield running


@pytest.fixture(scope="module")
def env(stack: EmbeddedStack) -> dict[str, str]:
    s = stack.settings
    return {"BATON_TASK_QUEUE": s.task_queue, "BATON_UI_PORT": str(s.ui_port),
            "BATON_HOME": str(s.home), "BATON_TEMPORAL_ADDRESS": stack.temporal_address,
            "BATON_SUPPORT_DB": str(s.home.parent / "support.sqlite"),  # the worker's
            # The CLI shares the worker's configuration (replay-tool runs its tools).
            "BATON_TOOL_MODULES": json.dumps(s.tool_modules)}


@pytest.fixture(scope="module")
async def client(stack: EmbeddedStack) -> BatonClient:
    return await BatonClient.connect(stack.settings)


async def script(stack: EmbeddedStack, run_id: str, agents: dict[str, list[Any]]) -> None:
    root = stack.model_server_url.removesuffix("/v1")
    async with httpx.AsyncClient(trust_env=False) as http:
        answer = await http.put(f"{root}/_scripted/runs/{run_id}/script", json={"agents": agents})
        answer.raise_for_status()


def team_file(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def call(name: str, cid: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "id": cid, "arguments": arguments}]}


async def pending(client: BatonClient, run_id: str) -> PendingApproval:
    for _ in range(200):
        try:
            found = await client.pending_approvals(run_id)
        except BatonError:  # not started yet
            found = []
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{run_id} never asked for approval")


async def finished(client: BatonClient, run_id: str) -> RunResult:
    return await asyncio.wait_for(client.result(run_id), 30)


def refund_script(cid: str, order: str, amount: float) -> dict[str, list[Any]]:
    return {"support_agent": [
        call("lookup_order", f"{cid}-look", order_id=order),
        call("issue_refund", f"{cid}-pay", order_id=order, amount=amount, reason="torn sole"),
        {"content": "Refunded your order."}]}


async def test_single_run_show_diff_summary_runs_replay(
        stack: EmbeddedStack, env: dict[str, str], client: BatonClient, tmp_path: Path) -> None:
    support = team_file(tmp_path, SUPPORT)
    approved, edited = (f"support-dbg-{uuid.uuid4().hex[:6]}" for _ in range(2))
    await script(stack, approved, refund_script("a", "A1003", 50))
    await script(stack, edited, refund_script("e", "A1001", 80))
    for run_id in (approved, edited):
        started = await baton("run", support, "My shoes arrived torn, refund please.",
                              "--no-wait", "--run-id", run_id, env=env)
        assert started.returncode == 0, started.stderr

    # Approvals across runs: no run id lists both waiting runs with their run ids.
    await pending(client, approved)
    await pending(client, edited)
    listed = await baton("approvals", "--team", "support", env=env)
    assert listed.returncode == 0, listed.stderr
    assert approved in listed.stdout
    assert edited in listed.stdout
    decided = await asyncio.gather(
        baton("approve", approved, "--by", "alice", "--reason", "policy allows it", env=env),
        baton("edit", edited, "--by", "demo", "--args",
              '{"order_id": "A1001", "amount": 60, "reason": "half, worn"}',
              "--reason", "partial refund", env=env))
    assert [d.returncode for d in decided] == [0, 0], [d.stderr for d in decided]
    for run_id in (approved, edited):
        assert (await finished(client, run_id)).status is RunStatus.COMPLETED

    shown, as_json, diff, summary, runs, edited_json = await asyncio.gather(
        baton("show", approved, env=env), baton("show", approved, "--json", env=env),
        baton("show", approved, "--step", "1", "--diff", env=env),
        baton("summary", approved, env=env), baton("runs", "--team", "support", env=env),
        baton("show", edited, "--json", env=env))
    assert shown.returncode == 0, shown.stderr
    for expected in ("agent support_agent", "step 1", "step 2", "lookup_order", "call a-look",
                     "idempotency key", "approval apr-", "approved for issue_refund by alice",
                     "per agent", "per model", "baton-scripted", "completed"):
        assert expected in shown.stdout, expected

    view = json.loads(as_json.stdout)
    kinds = [e["kind"] for e in view["events"]]
    assert kinds.count("model_call") == 3
    assert "approval" in kinds
    assert view["totals"]["cost_usd"] > 0
    assert view["totals"]["per_model"][0]["model"] == "baton-scripted"

    assert diff.returncode == 0, diff.stderr
    assert "+ assistant:" in diff.stdout
    assert "+ tool:" in diff.stdout
    assert "a-look" in diff.stdout
    assert "Aiko" in diff.stdout  # the looked-up order, added to memory by step 1

    assert summary.returncode == 0, summary.stderr
    assert "alice approved issue_refund" in summary.stdout
    assert "policy allows it" in summary.stdout
    assert "tokens" in summary.stdout
    assert f"${view['totals']['cost_usd']:.4f}" in summary.stdout
    assert "finished successfully" in summary.stdout

    assert runs.returncode == 0, runs.stderr
    assert approved in runs.stdout
    assert "BatonTeam = 'support'" in runs.stdout

    refund = next(e for e in json.loads(edited_json.stdout)["events"]
                  if e["kind"] == "tool_call" and e["tool"] == "issue_refund")
    assert refund["arguments"]["amount"] == 60  # the edited arguments ran

    # replay-tool: a read tool runs again, old and new side by side.
    read = await baton("replay-tool", approved, "a-look", env=env)
    assert read.returncode == 0, read.stderr
    assert "recorded" in read.stdout
    assert "replayed now" in read.stdout
    assert read.stdout.count("Aiko Tanaka") >= 2
    # A write tool is refused without --force, and with it gets a fresh idempotency key.
    refused = await baton("replay-tool", approved, "a-pay", env=env)
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    dry = await baton("replay-tool", approved, "a-pay", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would run issue_refund" in dry.stdout
    recorded = next(e for e in view["events"] if e["kind"] == "tool_call"
                    and e["call_id"] == "a-pay")["idempotency_key"]
    with sqlite3.connect(env["BATON_SUPPORT_DB"]) as db:
        before = db.execute("SELECT idempotency_key FROM outbox").fetchall()
    forced = await baton("replay-tool", approved, "a-pay", "--force", "--args",
                         '{"order_id": "A1003", "amount": 1, "reason": "replay"}', env=env)
    assert forced.returncode == 0, forced.stderr
    with sqlite3.connect(env["BATON_SUPPORT_DB"]) as db:
        after = db.execute("SELECT idempotency_key, amount FROM outbox").fetchall()
    new = [row for row in after if (row[0],) not in before]
    assert len(new) == 1
    assert new[0][0].startswith("replay-")
    assert new[0][0] != recorded
    assert new[0][1] == 1
    assert (recorded,) in before


def desk(tmp_path: Path) -> str:
    return team_file(tmp_path, {
        "name": "desk", "pattern": "supervisor",
        "agents": [
            {"name": "router", "description": "Routes support requests; receives the request "
             "and returns the specialist's answer.", "instructions": "Delegate, then answer.",
             "max_steps": 4},
            {"name": "billing", "description": "Billing specialist; receives one sub-task "
             "about orders and returns the order facts.", "instructions": "Look orders up.",
             "tools": ["lookup_order"], "max_steps": 3},
        ],
        "supervisor": {"router": "router", "workers": ["billing"]},
    })


async def test_pattern_run_shows_members(
        stack: EmbeddedStack, env: dict[str, str], client: BatonClient, tmp_path: Path) -> None:
    run_id = f"desk-dbg-{uuid.uuid4().hex[:6]}"
    await script(stack, run_id, {
        "router": [call("delegate_to_billing", "r1", task="Look up order A1001"),
                   {"content": "A1001 is delivered."}],
        "billing": [call("lookup_order", "b1", order_id="A1001"), {"content": "Delivered."}]})
    started = await baton("run", desk(tmp_path), "Where is A1001?", "--no-wait", "--run-id",
                          run_id, env=env)
    assert started.returncode == 0, started.stderr
    assert (await finished(client, run_id)).status is RunStatus.COMPLETED

    shown, as_json, ambiguous, diff, top, every, summary, traced = await asyncio.gather(
        baton("show", run_id, env=env), baton("show", run_id, "--json", env=env),
        baton("show", run_id, "--step", "1", "--diff", env=env),
        baton("show", run_id, "--step", "1", "--diff", "--agent", "billing", env=env),
        baton("runs", "--team", "desk", env=env),
        baton("runs", "--team", "desk", "--all", env=env), baton("summary", run_id, env=env),
        baton("status", run_id, env={**env, "BATON_TRACE_EXPORTER": "console"}))
    assert shown.returncode == 0, shown.stderr
    for expected in ("SupervisorWorkflow", "member billing (agent)", f"{run_id}.billing.1",
                     "AgentWorkflow", "delegate_to_billing", "lookup_order", "agent router"):
        assert expected in shown.stdout, expected
    view = json.loads(as_json.stdout)
    [child] = view["children"]
    assert child["member"] == "billing"
    assert child["result"]["status"] == "completed"
    assert {a["agent"] for a in view["totals"]["per_agent"]} == {"router", "billing"}

    assert ambiguous.returncode == 1
    assert "--agent" in ambiguous.stderr
    assert diff.returncode == 0, diff.stderr
    assert "b1" in diff.stdout
    assert "+ tool:" in diff.stdout

    assert run_id in top.stdout
    assert f"{run_id}.billing.1" not in top.stdout
    assert "ParentWorkflowId is null" in top.stdout
    assert f"{run_id}.billing.1" in every.stdout
    assert "router asked billing: Look up order A1001" in summary.stdout
    # Client spans: with an exporter configured the CLI's own Temporal calls are traced.
    assert traced.returncode == 0, traced.stderr
    assert '"name": "QueryWorkflow:status"' in traced.stdout


async def test_continued_as_new_run_shows_every_step(
        stack: EmbeddedStack, env: dict[str, str], client: BatonClient, tmp_path: Path) -> None:
    steps = 30
    team = team_file(tmp_path, {
        "name": "longrun",
        "history": {"continue_as_new_events": 100, "keep_recent_messages": 6},
        "agents": [{"name": "worker", "description": "Echoes lines; receives lines and "
                    "returns them.", "instructions": "Echo each line.", "tools": ["echo"],
                    "max_steps": steps + 1}]})
    run_id = f"longrun-dbg-{uuid.uuid4().hex[:6]}"
    await script(stack, run_id, {"worker": [
        *(call("echo", f"e{i}", text=f"line {i}") for i in range(steps)), {"content": "done"}]})
    started = await baton("run", team, "Echo 30 lines.", "--no-wait", "--run-id", run_id,
                          env=env)
    assert started.returncode == 0, started.stderr
    assert (await finished(client, run_id)).status is RunStatus.COMPLETED

    as_json, shown, diff = await asyncio.gather(
        baton("show", run_id, "--json", env=env), baton("show", run_id, env=env),
        baton("show", run_id, "--step", "2", "--diff", env=env))
    view = json.loads(as_json.stdout)
    assert len(view["previous_runs"]) >= 2
    assert [e["seq"] for e in view["events"]] == list(range(len(view["events"])))
    assert sum(e["kind"] == "model_call" for e in view["events"]) == steps + 1
    assert sum(e["kind"] == "tool_call" for e in view["events"]) == steps
    assert "continued" in [e["kind"] for e in view["events"]]
    assert "continuations" in shown.stdout
    assert f"step {steps + 1}" in shown.stdout
    assert diff.returncode == 0, diff.stderr
    assert "line 1" in diff.stdout  # step 2 is in the first continuation


async def test_lint_examples_and_run_refuses_errors(tmp_path: Path, env: dict[str, str]) -> None:
    workers = [{"name": f"w{i}", "description": f"Worker {i} for area {i}; receives a "
                f"sub-task and returns findings about area {i}.", "instructions": "Work.",
                "max_steps": 2} for i in range(9)]
    wide = team_file(tmp_path, {
        "name": "wide", "pattern": "supervisor",
        "agents": [{"name": "lead", "description": "Lead; receives requests and returns "
                    "answers.", "instructions": "Delegate.", "max_steps": 3}, *workers],
        "supervisor": {"router": "lead", "workers": [w["name"] for w in workers]}})
    loop = team_file(tmp_path, {
        "name": "loop", "pattern": "handoff",
        "agents": [{"name": "front", "description": "Front desk that only transfers to back.",
                    "instructions": "Never answer; always hand off."},
                   {"name": "back", "description": "Back office that only transfers to front.",
                    "instructions": "Never answer; always hand off."}],
        "handoff": {"agents": ["front", "back"]}})
    warned, failed, refused, listed = await asyncio.gather(
        baton("lint", wide, env=env), baton("lint", loop, env=env),
        baton("run", loop, "hello", "--no-wait", env=env), baton("examples", env=env))
    assert warned.returncode == 0, warned.stdout + warned.stderr
    assert "too-many-workers" in warned.stdout
    assert "warning" in warned.stdout
    assert failed.returncode == 1
    assert "handoff-no-exit" in failed.stdout
    assert "error" in failed.stdout
    assert refused.returncode == 2
    assert "handoff-no-exit" in refused.stderr
    assert "refusing to run" in refused.stderr
    assert listed.returncode == 0, listed.stderr
    assert "baton/examples/support.yaml" in listed.stdout
    assert "baton run baton/examples/support.yaml" in listed.stdout
    assert "pipeline" in listed.stdout


async def test_resume_a_failed_pipeline(
        stack: EmbeddedStack, env: dict[str, str], client: BatonClient, tmp_path: Path) -> None:
    stages = [{"name": name, "description": f"{name} stage; receives the text and returns "
               f"it {name}ed.", "instructions": f"{name} it.", "max_steps": 2}
              for name in ("draft", "polish")]
    team = team_file(tmp_path, {"name": "twostep", "pattern": "pipeline", "agents": stages,
                                "pipeline": {"stages": ["draft", "polish"], "stage_retries": 0}})
    run_id, again = (f"twostep-dbg-{uuid.uuid4().hex[:6]}" for _ in range(2))
    await script(stack, run_id, {"draft": [{"content": "a draft"}], "polish": [{"fault": "401"}]})
    await script(stack, again, {"polish": [{"content": "a polished draft"}]})
    started = await baton("run", team, "Write it.", "--no-wait", "--run-id", run_id, env=env)
    assert started.returncode == 0, started.stderr
    assert (await finished(client, run_id)).status is RunStatus.FAILED
    resumed, shown, refused = await asyncio.gather(
        baton("resume", run_id, "--run-id", again, env=env), baton("show", run_id, env=env),
        baton("runs", "--status", "nonsense", env=env))
    assert resumed.returncode == 0, resumed.stderr
    assert shown.returncode == 0, shown.stderr
    assert "failed" in shown.stdout
    assert "member polish (agent)" in shown.stdout
    assert refused.returncode == 1
    assert "not a run status" in refused.stderr
    assert resumed.stdout.strip() == again
    result = await finished(client, again)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert [c.member for c in result.children] == ["polish"]  # draft is not re-run
    assert result.output == "a polished draft"
