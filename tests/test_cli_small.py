"""The CLI's small promises: its version, lint exit codes, "did you mean", failed tools and
failed pipelines said plainly, lists readable at 80 columns, runs newest first."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from console_helpers import waiting_approval
from rich.console import Console, RenderableType
from temporalio.client import Client

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import BatonClient
from baton.client.cli._render import result_panel
from baton.client.cli._summary import summary
from baton.client.cli._tables import approvals_table, findings_table, runs_table
from baton.client.reader import runs_query
from baton.client.views import RunRow, RunView
from baton.errors import SpecError
from baton.lint import lint_team
from baton.loader import parse_team
from baton.messages import Usage
from baton.runs import (
    FinishedEvent,
    ModelCallEvent,
    RunResult,
    RunStatus,
    StartedEvent,
    ToolCallEvent,
)
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.signing import load_private_key, public_key_text

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
LOOPING = ("name: loop\npattern: handoff\nagents:\n"
           "  - {name: front, description: Front desk that only transfers to back., "
           "instructions: Hand off.}\n"
           "  - {name: back, description: Back office that only transfers to front., "
           "instructions: Hand off.}\nhandoff: {agents: [front, back]}\n")


def baton(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "baton.client.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "80"})


def text_of(*items: RenderableType, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    for item in items:
        console.print(item)
    return console.export_text()


def test_baton_and_temporal_are_in_the_virtualenvs_bin() -> None:
    # What the README puts on PATH: one directory holds both commands.
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "baton").is_file() and (bin_dir / "temporal").is_file()
    shown = subprocess.run([bin_dir / "temporal", "--version"], capture_output=True, text=True,
                           timeout=30, check=True)
    assert "temporal version" in shown.stdout


def test_version() -> None:
    done = baton("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"baton {version('baton')}")


def test_lint_exit_codes_are_the_documented_ones(tmp_path: Path) -> None:
    looping = tmp_path / "loop.yaml"
    looping.write_text(LOOPING)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [\n")
    clean, errors = baton("lint", "baton/examples/support.yaml"), baton("lint", str(looping))
    invalid, missing = baton("lint", str(broken)), baton("lint", str(tmp_path / "nope.yaml"))
    assert clean.returncode == 0 and "no findings" in clean.stdout
    assert errors.returncode == 1 and "handoff-no-exit" in errors.stdout
    assert invalid.returncode == 2 and "invalid YAML" in invalid.stderr
    assert missing.returncode == 2 and "file not found" in missing.stderr
    assert "Exit codes: 0 no errors" in baton("lint", "--help").stdout.replace("\n", " ")
    assert max(map(len, errors.stdout.splitlines())) <= 80


@pytest.mark.parametrize(("agent", "team", "said"), [
    ({"tols": ["lookup_order"]}, {}, "agents[0].tols: unknown key 'tols' (did you mean 'tools'?)"),
    ({"approvals": {"issue_refund": {"mode": "always", "approver": ["alice"]}}}, {},
     "unknown key 'approver' (did you mean 'approvers'?)"),
    ({}, {"budget": {"max_token": 5}}, "unknown key 'max_token' (did you mean 'max_tokens'?)"),
    ({}, {"agnets": []}, "agnets: unknown key 'agnets' (did you mean 'agents'?)"),
    ({}, {"mascot": "owl"}, "mascot: unknown key 'mascot'"),
], ids=["agent", "approval policy", "budget", "top level", "nothing close"])
def test_an_unknown_key_names_the_closest_valid_one(agent: dict[str, Any], team: dict[str, Any],
                                                     said: str) -> None:
    document = {"name": "t", "agents": [
        {"name": "a", "description": "d", "instructions": "i", **agent}], **team}
    with pytest.raises(SpecError) as caught:
        parse_team(document)
    assert str(caught.value).endswith(said)
    if "did you mean" not in said:
        assert "did you mean" not in str(caught.value)


def view_of(result: RunResult, *events: Any) -> RunView:
    started = StartedEvent(seq=0, at=NOW, agent="clerk", step=0, input="refund A1001",
                           team="shop", tenant="acme")
    return RunView(run_id=result.run_id, team="shop", agent="clerk", tenant="acme",
                   execution_status="COMPLETED", started_at=NOW, closed_at=NOW, status=None,
                   result=result, events=[started, *events], ui_url="http://ui")


def test_a_run_whose_tools_failed_says_so_in_summary_and_final_panel() -> None:
    failed = ToolCallEvent(
        seq=1, at=NOW, agent="clerk", step=1, call_id="c1", tool="issue_refund",
        effect="write", arguments={"order_id": "A1001", "amount": 500.0}, status="error",
        content="cannot refund 500.00 EUR on order A1001: it was paid 89.99 EUR",
        error_type="tool_raised", idempotency_key="k")
    result = RunResult(run_id="shop-1", team="shop", agent="clerk", status=RunStatus.COMPLETED,
                       output="Sorry, I could not refund that.")
    asked = ModelCallEvent(seq=1, at=NOW, agent="clerk", step=1, profile="default", model="m",
                           provider="openai", usage=Usage(), cost_usd=0.0, latency_ms=1.0,
                           finish_reason="tool_calls", content=None)
    told = "\n".join(summary(view_of(result, asked, failed)))
    assert "clerk's call to issue_refund failed: cannot refund 500.00 EUR" in told
    assert "1 tool call failed along the way (issue_refund)" in told
    panel = text_of(result_panel(result, [failed]))
    assert "tools failed" in panel and "clerk issue_refund: cannot refund" in panel
    assert "tools failed" not in text_of(result_panel(result, []))


def test_a_failed_pipeline_says_baton_resume_run() -> None:
    result = RunResult(run_id="release-1", team="release", agent="build",
                       status=RunStatus.FAILED, reason="stage 'test' ended failed",
                       details={"failed_stage": "test", "outputs": {"build": "ok"}})
    assert "baton resume release-1" in text_of(result_panel(result), width=120)
    finished = FinishedEvent(seq=1, at=NOW, agent="build", step=1, status=RunStatus.FAILED)
    assert "baton resume release-1" in "\n".join(summary(view_of(result, finished)))
    done = result.model_copy(update={"status": RunStatus.COMPLETED})
    assert "baton resume" not in text_of(result_panel(done), width=120)


def test_lists_are_readable_at_80_columns() -> None:
    rows = [RunRow(run_id=f"support-1a2b3c4{i}", temporal_run_id="r", team="support",
                   workflow_type="SupervisorWorkflow", tenant="acme", agent="a",
                   status="awaiting_approval", execution_status="RUNNING", cost_usd=0.0123,
                   started_at=NOW - timedelta(hours=i), closed_at=None, parent_id=None)
            for i in range(2)]
    pending = PendingApproval(
        approval_id="apr-5e6f7a8b", run_id="support-1a2b3c4d",
        workflow_id="support-1a2b3c4d.refunder.1", agent="refunder", step=1, call_id="c",
        tool="issue_refund", args={"order_id": "A1001", "amount": 10.0, "reason": "broken"},
        reason="the tool's policy requires approval for every call", requested_at=NOW,
        expires_at=NOW + timedelta(hours=23), allowed_deciders=["alice", "demo"])
    findings = lint_team(parse_team({"name": "t", "pattern": "handoff", "agents": [
        {"name": n, "description": "does things", "instructions": "i"} for n in "ab"],
        "handoff": {"agents": ["a", "b"]}}))
    shown = text_of(runs_table(rows, width=80), approvals_table([pending], runs=True, width=80),
                    findings_table(findings, width=80))
    assert max(map(len, shown.splitlines())) <= 80
    # Ids, names and arguments stay whole: nothing folded into fragments.
    for whole in ("support-1a2b3c40", "support/acme", "awaiting_approval", "01-05 09:30",
                  "apr-5e6f7a8b", "support-1a2b3c4d.refunder.1", 'amount=10.0',
                  "overlapping-agents", "why: the tool's policy"):
        assert whole in shown, whole
    # Wide terminals keep the full tables.
    assert "workflow type" in text_of(runs_table(rows, width=160), width=160)


async def test_runs_are_listed_newest_first(client: Client, settings: BatonSettings,
                                            scripted: ScriptedServer, worker: object) -> None:
    # Temporal lists running runs first, then by close time: the older run closes last here.
    baton_client = BatonClient(client, settings)
    team = parse_team({"name": f"order{uuid.uuid4().hex[:6]}", "agents": [{
        "name": "clerk", "description": "refunds", "instructions": "i",
        "tools": ["issue_refund"], "approvals": {"issue_refund": {"mode": "always"}}}]})
    older, newer = f"{team.name}-older", f"{team.name}-newer"
    refund = {"name": "issue_refund", "arguments": {"order_id": "A1001", "amount": 1.0,
                                                    "reason": "r"}}
    scripted.set_script(older, {"clerk": [{"tool_calls": [refund]}, {"content": "done"}]})
    scripted.set_script(newer, {"clerk": [{"content": "nothing to do"}]})
    await baton_client.start(team, "refund", run_id=older)
    approval = await waiting_approval(client.get_workflow_handle(older))
    await asyncio.sleep(0.05)  # a later start time, not a timing assertion
    await baton_client.start(team, "check", run_id=newer)
    await baton_client.result(newer)
    await baton_client.decide(ApprovalDecision(approval_id=approval.approval_id,
                                               decision="approve", by="alice"),
                              workflow_id=older)
    await baton_client.result(older)
    query = runs_query(team=team.name)
    for _ in range(100):
        rows = await baton_client.search_runs(query)
        if [r.execution_status for r in rows] == ["COMPLETED", "COMPLETED"]:
            break
        await asyncio.sleep(0.05)
    assert [r.run_id for r in rows] == [newer, older]


def test_keys_print_the_lines_for_the_workers_configuration(tmp_path: Path) -> None:
    made = baton("keys", "console", "--out", str(tmp_path / "console.pem"),
                 "--may-sign-for", "support-leads")
    assert made.returncode == 0, made.stderr
    public = public_key_text(load_private_key(tmp_path / "console.pem"))
    assert (f'[approval_services.console]\npublic_keys = ["{public}"]\n'
            'may_sign_for = ["support-leads"]') in made.stdout
    approver = baton("keys", "approver", "alice", "--out", str(tmp_path / "alice.pem"))
    assert "[approvers.alice]\npublic_keys = [" in approver.stdout  # not eaten as markup
