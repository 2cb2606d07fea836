"""Staged rollout of team versions on the real Temporal dev server, with the scripted model over
loopback HTTP: a canary gets its share of new runs chosen from the run id, every run carries its
version (search attribute, ``show``), the rollout state is durable and audited, and the
automatic rule rolls a bad canary back and promotes a good one, after which new runs use it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pattern_run_helpers import record_and_replay
from temporalio.client import Client
from test_cli import baton as cli

from baton.client.api import BatonClient
from baton.loader import parse_team
from baton.rollout import (
    DeployRequest,
    RolloutState,
    bucket,
    rollout_workflow_id,
    team_digest,
)
from baton.runs import RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec
from baton.visibility import VERSION
from baton.workflows.rollout import ROLE_RULE

OK = {"clerk": [{"content": "Order A1001 has shipped."}]}
BROKEN = {"clerk": [{"fault": "400", "message": "this version sends a bad request"}]}


def version(name: str, instructions: str, rule: dict[str, Any] | None = None) -> TeamSpec:
    return parse_team({"name": name, "agents": [{
        "name": "clerk", "description": "answers questions about orders",
        "instructions": instructions, "max_steps": 3}], **({"rollout": rule} if rule else {})})


def team_name() -> str:
    return f"desk-{uuid.uuid4().hex[:8]}"  # rollouts are per team name in a shared namespace


def run_ids(team: str, percent: int, *, canary: int, stable: int) -> list[tuple[str, bool]]:
    """Run ids of which ``canary`` fall in the canary's share and ``stable`` do not."""
    chosen: list[tuple[str, bool]] = []
    wanted = {True: canary, False: stable}
    while any(wanted.values()):
        run_id = f"{team}-{uuid.uuid4().hex[:10]}"
        on_canary = bucket(run_id) < percent
        if wanted[on_canary]:
            wanted[on_canary] -= 1
            chosen.append((run_id, on_canary))
    return chosen


async def run(baton: BatonClient, scripted: ScriptedServer, team: str | TeamSpec, run_id: str,
              script: dict[str, Any]) -> RunResult:
    scripted.set_script(run_id, script)
    await baton.start(team, "Where is order A1001?", run_id=run_id)
    return await baton.result(run_id)


async def wait_for(baton: BatonClient, team: str, done: Any) -> RolloutState:
    """Poll the rollout state until ``done(state)`` (the rule checks every second)."""
    for _ in range(600):
        state = await baton.rollout_state(team)
        assert state is not None
        if done(state):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"the rollout of {team} never got there: {state}")


async def test_canary_share_versions_on_every_run_and_a_durable_audited_state(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    from baton.worker import worker_resources

    name = team_name()
    v1, v2 = version(name, "Answer briefly."), version(name, "Answer briefly and kindly.")
    baton = BatonClient(client, settings)
    async with worker_resources(client, settings) as worker, worker:
        first = await baton.deploy(v1, by="alice", reason="first release")
        assert first.stable is not None and first.stable.label == "v1" and first.canary is None
        state = await baton.deploy(v2, canary=40, label="kind", by="bob", reason="try kindness")
        chosen = run_ids(name, 40, canary=3, stable=3)
        results = await asyncio.gather(*(run(baton, scripted, name, run_id, OK)
                                         for run_id, _ in chosen))
        assert all(r.status is RunStatus.COMPLETED for r in results)
        for run_id, on_canary in chosen:
            expected = team_digest(v2 if on_canary else v1)
            described = await baton.describe(run_id)
            assert described.typed_search_attributes.get(VERSION) == expected
            ran = await baton.workflow_input(run_id)
            assert team_digest(ran.team) == expected  # the run carries that version's team
            shown = await baton.show(run_id)
            assert shown.version == expected
            assert shown.version_label == ("kind, canary" if on_canary else "v1, stable")
        # The same run id always gets the same version.
        again = [state.choose(run_id)[1] == "canary" for run_id, _ in chosen]
        assert again == [on_canary for _, on_canary in chosen]
    # A new worker (a restart) finds the same state: it lives in Temporal, not in a process.
    async with worker_resources(client, settings) as worker, worker:
        after = await baton.rollout_state(name)
    assert after == state
    assert [(e.by, e.action, e.label, e.percent, e.reason) for e in after.audit] == [
        ("alice", "deploy", "v1", 100, "first release"),
        ("bob", "canary", "kind", 40, "try kindness")]
    await record_and_replay(client, rollout_workflow_id(name), "rollout")


async def test_a_canary_that_fails_more_often_is_rolled_back_automatically(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    name = team_name()
    rule = {"min_runs": 4, "max_failure_points": 20, "check_every_s": 1}
    stable, canary = version(name, "Answer briefly."), version(name, "Answer tersely.", rule)
    baton = BatonClient(client, settings)
    await baton.deploy(stable, by="alice")
    await baton.deploy(canary, canary=50, by="alice", reason="cheaper wording")
    chosen = run_ids(name, 50, canary=5, stable=5)
    canary_runs = [r for r, on_canary in chosen if on_canary]
    failing = set(canary_runs[:3])  # three of the canary's five runs fail, none of stable's
    results = await asyncio.gather(*(
        run(baton, scripted, name, run_id, BROKEN if run_id in failing else OK)
        for run_id, _ in chosen))
    assert sum(r.status is RunStatus.FAILED for r in results) == 3
    state = await wait_for(baton, name, lambda s: s.canary is None)
    rolled = state.audit[-1]
    assert (rolled.action, rolled.by, rolled.label) == ("rollback", ROLE_RULE, "v2")
    assert "failure rate" in rolled.reason and "exceeds stable's 0%" in rolled.reason
    assert state.stable is not None and state.stable.digest == team_digest(stable)
    # Every new run gets the stable version again, whatever its bucket.
    for run_id, _ in run_ids(name, 50, canary=1, stable=1):
        done = await run(baton, scripted, name, run_id, OK)
        assert done.status is RunStatus.COMPLETED
        assert (await baton.show(run_id)).version == team_digest(stable)


async def test_a_good_canary_is_promoted_and_the_next_runs_use_it(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    name = team_name()
    rule = {"min_runs": 3, "promote_after_runs": 3, "max_failure_points": 20,
            "check_every_s": 1}
    stable, canary = version(name, "Answer briefly."), version(name, "Answer warmly.", rule)
    baton = BatonClient(client, settings)
    await baton.deploy(stable, by="alice")
    await baton.deploy(canary, canary=30, label="warm", by="alice")
    chosen = run_ids(name, 30, canary=3, stable=2)
    results = await asyncio.gather(*(run(baton, scripted, name, run_id, OK)
                                     for run_id, _ in chosen))
    assert all(r.status is RunStatus.COMPLETED for r in results)
    state = await wait_for(baton, name, lambda s: s.canary is None)
    promoted = state.audit[-1]
    assert (promoted.action, promoted.by, promoted.label) == ("promote", ROLE_RULE, "warm")
    assert state.stable is not None and state.stable.digest == team_digest(canary)
    # The next runs, by team name or from the old file, run the promoted version.
    for run_id, _ in run_ids(name, 30, canary=1, stable=1):
        await run(baton, scripted, name, run_id, OK)
        assert (await baton.show(run_id)).version == team_digest(canary)
    old_file_run = f"{name}-{uuid.uuid4().hex[:10]}"
    await run(baton, scripted, stable, old_file_run, OK)
    assert (await baton.show(old_file_run)).version_label == "warm, stable"


async def test_the_cli_deploys_runs_by_name_reports_and_rolls_back(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    name = team_name()
    files = {}
    for label, instructions in (("v1", "Answer briefly."), ("v2", "Answer in one line.")):
        files[label] = tmp_path / f"{label}.yaml"
        files[label].write_text(yaml.safe_dump(version(name, instructions).model_dump(
            mode="json", exclude_defaults=True)))
    env = {"BATON_TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "BATON_TASK_QUEUE": settings.task_queue, "BATON_HOME": str(settings.home),
           "BATON_DECIDER": "dave"}
    first = await cli("deploy", str(files["v1"]), "--by", "carol", "--reason", "launch",
                      env=env)
    assert first.returncode == 0, first.stderr
    assert f"deployed {name}" in first.stdout and "as stable" in first.stdout
    second = await cli("deploy", str(files["v2"]), "--canary", "50", "--label", "beta",
                       env=env)
    assert second.returncode == 0, second.stderr
    assert "as canary" in second.stdout and "on 50% of new runs" in second.stdout
    baton = BatonClient(client, settings)
    for run_id, _ in run_ids(name, 50, canary=1, stable=1):
        await run(baton, scripted, name, run_id, OK)
    [(by_name, on_canary)] = run_ids(name, 50, canary=1, stable=0)
    scripted.set_script(by_name, OK)
    ran = await cli("run", name, "--input", "Where is A1001?", "--run-id", by_name, env=env)
    assert ran.returncode == 0, ran.stderr
    assert on_canary and "version beta" in ran.stderr and "canary) from the team's rollout" \
        in ran.stderr
    status = await cli("rollout", "status", name, env=env)
    assert status.returncode == 0, status.stderr
    for text in ("stable  v1", "canary  beta", "runs finished", "completed", "failure rate",
                 "approvals rejected", "cost per run", "duration p50", "duration p95",
                 "carol: deploy v1", "dave: canary beta"):
        assert text in status.stdout, (text, status.stdout)
    report = json.loads((await cli("rollout", "status", name, "--json", env=env)).stdout)
    stable_runs, canary_runs = (v["runs"] for v in report["versions"])
    assert (stable_runs, canary_runs) == (1, 2)
    back = await cli("rollout", "rollback", name, "--reason", "not yet", env=env)
    assert back.returncode == 0, back.stderr
    state = await baton.rollout_state(name)
    assert state is not None and state.canary is None
    last = state.audit[-1]
    assert (last.by, last.action, last.label, last.reason) == ("dave", "rollback", "beta",
                                                               "not yet")
    again = await cli("rollout", "promote", name, env=env)
    assert again.returncode == 1 and "has no canary to promote" in again.stderr


def test_deploy_rules_first_stable_same_version_refused_canary_share_and_full_promotion() -> None:
    now = datetime(2026, 5, 4, tzinfo=UTC)
    v1, v2 = version("desk", "Answer briefly."), version("desk", "Answer kindly.")
    state = RolloutState(team="desk").deploy(DeployRequest(spec=v1, percent=5, by="a"), now)
    assert state.stable is not None and state.canary is None  # a first version is stable
    with pytest.raises(ValueError, match="already stable"):
        state.deploy(DeployRequest(spec=v1, by="a"), now)
    with pytest.raises(ValueError, match="not 'other'"):
        state.deploy(DeployRequest(spec=version("other", "x"), by="a"), now)
    state = state.deploy(DeployRequest(spec=v2, percent=5, by="a"), now)
    state = state.deploy(DeployRequest(spec=v2, percent=25, by="b", reason="more"), now)
    assert state.percent == 25 and state.audit[-1].action == "percent"
    shares = [state.choose(f"desk-{n}")[1] for n in range(2_000)]
    assert 0.2 < shares.count("canary") / len(shares) < 0.3  # a quarter of run ids, by hash
    state = state.deploy(DeployRequest(spec=v2, percent=100, by="c"), now)
    assert state.canary is None and state.stable is not None
    assert (state.stable.label, state.audit[-1].action) == ("v2", "promote")


async def test_the_rollout_continues_as_new_keeping_state_and_audit(
        client: Client, settings: BatonSettings, worker: object) -> None:
    from baton.rollout import RolloutInput

    name = team_name()
    baton = BatonClient(client, settings)
    first = await client.start_workflow(
        "RolloutWorkflow", RolloutInput(team=name, continue_after_events=50),
        id=rollout_workflow_id(name), task_queue=settings.task_queue)
    await baton.deploy(version(name, "Answer briefly."), by="alice")
    for percent in range(1, 16):
        await baton.deploy(version(name, "Answer warmly."), canary=percent, by="bob")
    state = await baton.rollout_state(name)
    described = await client.get_workflow_handle(rollout_workflow_id(name)).describe()
    assert described.run_id != first.first_execution_run_id
    assert state is not None and state.percent == 15 and len(state.audit) == 16
    assert [e.action for e in state.audit[:3]] == ["deploy", "canary", "percent"]


@pytest.mark.slow
async def test_rollout_state_and_a_tenant_book_survive_restarting_server_and_worker(
        settings: BatonSettings, scripted: ScriptedServer, tmp_path: Path) -> None:
    import signal

    from procs import DevServer

    from baton.budgets import PeriodLimit, TenantBudget, TenantBudgetReport
    from baton.budgets import tenant_budget_workflow_id as authority_id
    from baton.worker import worker_resources

    name, tenant = team_name(), f"acme-{uuid.uuid4().hex[:8]}"
    settings = settings.model_copy(update={"tenant_budgets": {
        tenant: TenantBudget(day=PeriodLimit(max_tokens=100_000))}})
    server = DevServer(tmp_path)
    try:
        client = await server.start()
        baton = BatonClient(client, settings)
        async with worker_resources(client, settings) as worker, worker:
            await baton.deploy(version(name, "Answer briefly."), by="alice", reason="launch")
            await baton.deploy(version(name, "Answer kindly."), canary=20, by="bob")
            run_id = f"{name}-{uuid.uuid4().hex[:8]}"
            scripted.set_script(run_id, OK)
            await baton.start(name, "Where is A1001?", tenant=tenant, run_id=run_id)
            spent = (await baton.result(run_id)).usage.total_tokens
            before = await baton.rollout_state(name)
        server.stop(signal.SIGKILL)  # everything stops: the worker above, then the server
        client = await server.start()  # the same SQLite file, a new process
        baton = BatonClient(client, settings)
        async with worker_resources(client, settings) as worker, worker:
            after = await baton.rollout_state(name)
            book = await client.get_workflow_handle(authority_id(tenant)).query(
                "report", result_type=TenantBudgetReport)
            again = f"{name}-{uuid.uuid4().hex[:8]}"
            scripted.set_script(again, OK)
            await baton.start(name, "Where is A1001?", tenant=tenant, run_id=again)
            assert (await baton.result(again)).status is RunStatus.COMPLETED
    finally:
        server.cleanup()
    assert after == before and after is not None and after.canary is not None
    assert [(e.by, e.action) for e in after.audit] == [("alice", "deploy"), ("bob", "canary")]
    assert book.periods[0].spent_tokens == spent > 0
