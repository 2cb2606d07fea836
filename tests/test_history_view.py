"""``baton show`` and ``summary`` of a closed run from its event history alone.

A query of a closed workflow makes a worker replay it on today's workflow code, so after a deploy
(or with no worker) the query path fails or lies. These tests read runs without any worker:
histories recorded by the previous release (whose workflow code can no longer be replayed at
all), a fresh run once its worker has stopped (compared with what the queries said while it was
up), a run that continued as new, and an encrypted run with and without its key.

Facts the tests expect are computed from the JSON files and from the query path independently of
the code under test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import new_run_id, run_agent, run_approving, support_team
from pydantic import SecretStr
from temporalio.client import Client

from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.client import RunReader, run_result
from baton.client.cli._summary import summary
from baton.loader import parse_team
from baton.messages import Usage
from baton.runs import (
    ApprovalEvent,
    ContinuedEvent,
    ModelCallEvent,
    RunEvent,
    RunInput,
    RunResult,
    RunStatus,
    ToolCallEvent,
)
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import ModelProfile
from baton.worker import data_converter, worker_resources

ROOT = Path(__file__).resolve().parents[1]
RELEASE_0_1_0 = sorted((Path(__file__).parent / "histories" / "0.1.0").glob("*.json"))
TASK = "Order A1001 arrived broken. Please look it up and refund it."
KEY = base64.b64encode(os.urandom(32)).decode()


async def baton(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``baton ARGS`` as a user runs it, without any BATON_* variable of this process."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "baton.client.cli", *args], cwd=ROOT,
        env={**clean, "COLUMNS": "250", **(env or {})}, capture_output=True, text=True,
        timeout=60, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def flat(text: str) -> str:
    return " ".join(text.split())


# -- histories recorded by release 0.1.0 -------------------------------------------------------

def _json_payload(payloads: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(payloads["payloads"][0]["data"]))


def recorded_facts(path: Path) -> dict[str, Any]:
    """What the file says, read straight from its JSON: token totals, tools, members, the end."""
    events = json.loads(path.read_text())["events"]
    scheduled = {e["eventId"]: e["activityTaskScheduledEventAttributes"] for e in events
                 if "activityTaskScheduledEventAttributes" in e}
    chats, tools, members, decisions = [], [], [], []
    member_results: dict[str, Any] = {}  # by workflow id: members end in any order
    for event in events:
        done = event.get("activityTaskCompletedEventAttributes")
        if done and scheduled[done["scheduledEventId"]]["activityType"]["name"] == "chat":
            chats.append(_json_payload(done["result"])["usage"])
        if (sched := event.get("activityTaskScheduledEventAttributes")) \
                and sched["activityType"]["name"] == "execute_tool":
            tools.append(_json_payload(sched["input"])["tool"]["name"])
        if started := event.get("startChildWorkflowExecutionInitiatedEventAttributes"):
            child_input = _json_payload(started["input"])
            members.append((started["workflowId"].rsplit(".", 2)[1],
                            "agent" if child_input["agent"] else "team", started["workflowId"]))
        if ended := event.get("childWorkflowExecutionCompletedEventAttributes"):
            member_results[ended["workflowExecution"]["workflowId"]] = _json_payload(
                ended["result"])
        if accepted := event.get("workflowExecutionUpdateAcceptedEventAttributes"):
            decisions.append(_json_payload(accepted["acceptedRequest"]["input"]["args"]))
    completed = events[-1]["workflowExecutionCompletedEventAttributes"]
    result = _json_payload(completed["result"])
    run_input = _json_payload(events[0]["workflowExecutionStartedEventAttributes"]["input"])
    usage_in = sum(u["input_tokens"] for u in chats) + sum(
        r["usage"]["input_tokens"] for r in member_results.values())
    usage_out = sum(u["output_tokens"] for u in chats) + sum(
        r["usage"]["output_tokens"] for r in member_results.values())
    return {"chats": len(chats), "tools": tools, "members": members, "input": run_input["input"],
            "member_results": member_results, "decisions": decisions, "result": result,
            "tokens_in": usage_in, "tokens_out": usage_out}


def test_every_pattern_of_release_0_1_0_is_recorded() -> None:
    assert {p.stem for p in RELEASE_0_1_0} == {
        "support_single_approval", "supervisor", "hierarchical", "pipeline", "fanout", "debate",
        "handoff", "blackboard"}


@pytest.mark.parametrize("path", RELEASE_0_1_0, ids=lambda p: p.stem)
async def test_a_previous_releases_history_shows_and_summarises(path: Path,
                                                                tmp_path: Path) -> None:
    facts = recorded_facts(path)
    result = facts["result"]
    total = facts["tokens_in"] + facts["tokens_out"]
    # The file's own result agrees with what its model calls and members add up to.
    assert (facts["tokens_in"], facts["tokens_out"]) == (
        result["usage"]["input_tokens"], result["usage"]["output_tokens"])

    env = {"BATON_HOME": str(tmp_path)}  # no server anywhere: nothing to connect to
    shown, as_json, told = await asyncio.gather(
        baton("show", "--history", str(path), env=env),
        baton("show", "--history", str(path), "--json", env=env),
        baton("summary", "--history", str(path), env=env))
    for done in (shown, as_json, told):
        assert done.returncode == 0, done.stderr

    view = json.loads(as_json.stdout)
    assert view["source"] == "history"
    assert view["result"]["status"] == result["status"] == "completed"
    assert view["result"]["output"] == result["output"]
    # Release 0.1.0 counted no prompt-cache tokens: its usage reads as none cached.
    assert Usage.model_validate(view["totals"]["usage"]) == Usage.model_validate(result["usage"])
    kinds = [e["kind"] for e in view["events"]]
    assert kinds[0] == "started"
    assert kinds[-1] == "finished"
    assert kinds.count("model_call") == facts["chats"]
    assert [e["tool"] for e in view["events"]
            if e["kind"] == "tool_call" and e["effect"] != "workflow"] == facts["tools"]
    assert [(c["member"], c["member_kind"], c["run_id"]) for c in view["children"]] \
        == facts["members"]
    for child in view["children"]:
        recorded = facts["member_results"][child["run_id"]]
        assert child["source"] == "parent"
        assert child["result"]["status"] == recorded["status"]
        assert child["result"]["output"] == recorded["output"]
        assert Usage.model_validate(child["result"]["usage"]) == Usage.model_validate(
            recorded["usage"])

    text = shown.stdout
    assert f"= {total} tokens" in text
    assert "completed" in text
    for tool in facts["tools"]:
        assert f"tool {tool}" in text
    for member, kind, workflow_id in facts["members"]:
        assert f"member {member} ({kind})  {workflow_id}" in text

    said = flat(told.stdout)
    assert f"What was asked: {flat(facts['input'])}" in said
    assert f"Cost: {total} tokens ({facts['tokens_in']} read, {facts['tokens_out']} written)" \
        in said
    assert "It finished successfully" in said
    assert f"Final answer: {flat(result['output'])}" in said
    for member, kind, workflow_id in facts["members"]:
        recorded = facts["member_results"][workflow_id]
        assert f"{member} ({kind}) was given a task and ended {recorded['status']}: " \
               f"{flat(recorded['output'])[:100]}" in said
    for decision in facts["decisions"]:
        assert decision["decision"] == "approve"
        assert f"{decision['by']} approved issue_refund" in said
        assert f"approval {decision['approval_id']} approved for issue_refund by " \
               f"{decision['by']}" in text


def test_the_support_history_tells_the_refund_and_who_approved_it() -> None:
    facts = recorded_facts(Path(__file__).parent / "histories" / "0.1.0"
                           / "support_single_approval.json")
    assert facts["tools"] == ["lookup_order", "issue_refund", "search_help_center"]
    assert [(d["approval_id"], d["by"]) for d in facts["decisions"]] == [("apr-a6cf441e",
                                                                          "alice")]


# -- a live run, read once its worker is gone --------------------------------------------------

def reader_for(client: Client, settings: BatonSettings) -> RunReader:
    return RunReader(client, namespace=settings.namespace, task_queue=settings.task_queue,
                     ui_url=settings.temporal_ui_url)


def same_facts(queried: list[RunEvent], read: list[RunEvent]) -> None:
    """The history path tells what the query path told, field for field, except the time and
    numbering of each event and what history can only approximate: a continuation's history
    size (summed from its events) and what a delegation returned besides its text."""
    assert [e.kind for e in read] == [e.kind for e in queried]
    for old, new in zip(queried, read, strict=True):
        left = {"seq", "at"}
        if isinstance(old, ContinuedEvent):
            left |= {"history_events", "history_bytes"}
        if isinstance(old, ToolCallEvent) and old.effect == "workflow":
            left |= {"result"}
        assert new.model_dump(exclude=left) == old.model_dump(exclude=left), old.kind


async def test_a_closed_run_reads_from_history_without_a_worker(
        client: Client, settings: BatonSettings) -> None:
    team = support_team()
    run_id = new_run_id(team)
    reader = reader_for(client, settings)
    async with worker_resources(client, settings) as worker, worker:
        result, approved = await run_approving(client, settings, team, TASK, run_id=run_id)
        _, queried = await reader.whole_log(run_id)  # the query path, a worker answering
    assert approved == 1
    assert result.status is RunStatus.COMPLETED, result.reason

    # No worker polls the task queue now: a query would wait in vain.
    view = await reader.tree(run_id)
    assert view.source == "history"
    assert view.query_error is None
    assert view.notes == []
    same_facts(queried, view.events)
    assert view.result == result
    assert view.execution_status == "COMPLETED"
    spent = [e for e in queried if isinstance(e, ModelCallEvent)]
    assert view.totals.model_calls == len(spent)
    assert view.totals.usage.input_tokens == sum(e.usage.input_tokens for e in spent)
    assert view.totals.usage.output_tokens == sum(e.usage.output_tokens for e in spent)
    assert view.totals.usage == result.usage
    assert [e.tool for e in view.events if isinstance(e, ToolCallEvent)] == [
        e.tool for e in queried if isinstance(e, ToolCallEvent)]
    assert "issue_refund" in [e.tool for e in view.events if isinstance(e, ToolCallEvent)]

    # The CLI, as a user runs it against this server with no worker anywhere.
    env = {"BATON_TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "BATON_NAMESPACE": client.namespace, "BATON_TASK_QUEUE": settings.task_queue}
    shown, told = await asyncio.gather(baton("show", run_id, env=env),
                                       baton("summary", run_id, env=env))
    assert shown.returncode == 0, shown.stderr
    assert told.returncode == 0, told.stderr
    total = result.usage.total_tokens
    decided = next(e for e in queried if isinstance(e, ApprovalEvent) and e.action == "approved")
    assert f"approval {decided.approval_id} approved for issue_refund by alice" in shown.stdout
    assert f"= {total} tokens" in shown.stdout
    assert "(from its history)" in shown.stdout
    said = flat(told.stdout)
    assert "alice approved issue_refund" in said
    assert f"Cost: {total} tokens" in said
    assert f"Final answer: {flat(result.output or '')}" in said


async def test_refused_signalled_and_edited_decisions_read_as_the_queries_told_them(
        client: Client, settings: BatonSettings) -> None:
    team = support_team()
    run_id = new_run_id(team)
    handle = await client.start_workflow("AgentWorkflow", RunInput(team=team, input=TASK),
                                         id=run_id, task_queue=settings.task_queue,
                                         result_type=RunResult)
    reader = reader_for(client, settings)
    async with worker_resources(client, settings) as worker, worker:
        waiting: list[PendingApproval] = []
        while not waiting:
            waiting = await handle.query("pending_approvals", result_type=list[PendingApproval])
            await asyncio.sleep(0 if waiting else 0.05)
        approval = waiting[0].approval_id
        # A signal from someone who may not decide (refused), an update naming no approval
        # (refused, with the workflow's answer), then an edit that goes through.
        await handle.signal("decide", ApprovalDecision(approval_id=approval, decision="approve",
                                                       by="mallory"))
        unknown = await handle.execute_update("decide", ApprovalDecision(
            approval_id="apr-00000000", decision="reject", by="alice"),
            result_type=DecisionReceipt)
        assert not unknown.accepted
        await handle.execute_update("decide", ApprovalDecision(
            approval_id=approval, decision="edit", by="alice", reason="half of it",
            args={"amount": 40}), result_type=DecisionReceipt)
        result = await run_result(handle)
        _, queried = await reader.whole_log(run_id)
    assert result.status is RunStatus.COMPLETED, result.reason

    view = await reader.tree(run_id)
    assert view.source == "history"
    same_facts(queried, view.events)
    decided = [(e.action, e.by) for e in view.events if isinstance(e, ApprovalEvent)]
    assert decided == [("requested", None), ("refused", "mallory"), ("refused", "alice"),
                       ("edited", "alice")]
    [refund] = [e for e in view.events if isinstance(e, ToolCallEvent)
                and e.tool == "issue_refund"]
    assert refund.arguments["amount"] == 40


async def test_a_running_run_no_worker_answers_for_is_read_from_history(
        client: Client, settings: BatonSettings) -> None:
    team = support_team()
    run_id = new_run_id(team)
    handle = await client.start_workflow("AgentWorkflow", RunInput(team=team, input=TASK),
                                         id=run_id, task_queue=settings.task_queue,
                                         result_type=RunResult)
    async with worker_resources(client, settings) as worker, worker:
        waiting: list[PendingApproval] = []
        while not waiting:  # until the refund waits for a person
            waiting = await handle.query("pending_approvals", result_type=list[PendingApproval])
            await asyncio.sleep(0 if waiting else 0.05)

    # The worker is gone and the run waits: the query fails, the history still tells.
    view = await reader_for(client, settings).tree(run_id)
    assert view.execution_status == "RUNNING"
    assert view.source == "history"
    assert view.query_error
    assert view.result is None
    assert view.status is not None
    assert view.status.status is RunStatus.AWAITING_APPROVAL
    asked = [(e.action, e.approval_id, e.tool, e.arguments) for e in view.events
             if isinstance(e, ApprovalEvent)]
    assert asked == [("requested", waiting[0].approval_id, "issue_refund", waiting[0].args)]
    assert [e.tool for e in view.events if isinstance(e, ToolCallEvent)] == [
        "lookup_order", "search_help_center"]

    await handle.terminate(reason="the test is over")
    ended = await reader_for(client, settings).tree(run_id)
    assert ended.execution_status == "TERMINATED"
    assert ended.result is not None
    assert ended.result.status is RunStatus.FAILED
    assert ended.result.reason == "workflow terminated: the test is over"


async def test_a_run_that_continued_as_new_shows_its_whole_chain_from_history(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    steps = 25
    team = parse_team({
        "name": "longrun", "history": {"continue_as_new_events": 100, "keep_recent_messages": 6},
        "agents": [{"name": "worker", "description": "Echoes lines; receives lines and returns "
                    "them.", "instructions": "Echo each line.", "tools": ["echo"],
                    "max_steps": steps + 1}]})
    run_id = new_run_id(team)
    script: dict[str, list[dict[str, Any]]] = {"worker": [
        *({"tool_calls": [{"name": "echo", "id": f"e{i}", "arguments": {"text": f"line {i}"}}]}
          for i in range(steps)), {"content": "done"}]}
    reader = reader_for(client, settings)
    async with worker_resources(client, settings) as worker, worker:
        result = await run_agent(client, settings, team, "Echo the lines.", run_id=run_id,
                                 scripted=scripted, script=script)
        status, queried = await reader.whole_log(run_id)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert len(status.previous_runs) >= 2  # it really continued as new, more than once

    view = await reader.tree(run_id)
    assert view.source == "history"
    assert view.previous_runs == status.previous_runs
    assert [e.seq for e in view.events] == list(range(len(view.events)))
    assert sum(e.kind == "model_call" for e in view.events) == steps + 1
    assert [e.arguments["text"] for e in view.events if isinstance(e, ToolCallEvent)] == [
        f"line {i}" for i in range(steps)]
    continued = [e.previous_run for e in view.events if isinstance(e, ContinuedEvent)]
    assert continued == status.previous_runs
    same_facts(queried, view.events)
    assert view.result == result


async def test_a_pattern_run_with_a_failover_and_a_refused_tool_reads_as_queried(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    served = settings.model_copy(update={"profiles": {
        "default": ModelProfile(),
        "primary": ModelProfile(model="primary-model", max_attempts=2, fallback="backup"),
        "backup": ModelProfile(model="backup-model")}})
    team = parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [
            {"name": "router", "description": "Routes requests; receives a request and returns "
             "the answer.", "instructions": "Delegate, then answer.", "model": "primary",
             "max_steps": 4},
            {"name": "billing", "description": "Billing; receives one sub-task about an order "
             "and returns the facts.", "instructions": "Look orders up.",
             "tools": ["lookup_order"], "max_steps": 4}],
        "supervisor": {"router": "router", "workers": ["billing"]}})
    run_id = new_run_id(team)
    scripted.set_script(run_id, {
        "router": [{"tool_calls": [{"name": "delegate_to_billing", "id": "r1",
                                    "arguments": {"task": "Look up order A1001"}}]},
                   {"content": "A1001 is delivered."}],
        "billing": [{"tool_calls": [{"name": "issue_refund", "id": "b0", "arguments": {
                        "order_id": "A1001", "amount": 1, "reason": "not mine to give"}}]},
                    {"tool_calls": [{"name": "lookup_order", "id": "b1",
                                     "arguments": {"order_id": "A1001"}}]},
                    {"content": "Delivered."}]})
    # The router's first two calls fail on the primary profile: it fails over to the backup.
    scripted.set_faults(run_id, [{"fault": "500", "retry_after": 0.05}] * 2)
    reader = reader_for(client, served)
    async with worker_resources(client, served) as worker, worker:
        handle = await client.start_workflow(
            "SupervisorWorkflow", RunInput(team=team, input="Where is A1001?"), id=run_id,
            task_queue=served.task_queue, result_type=RunResult)
        result = await run_result(handle)
        _, queried = await reader.whole_log(run_id)
        _, member_queried = await reader.whole_log(f"{run_id}.billing.1")
    assert result.status is RunStatus.COMPLETED, result.reason
    scripted.assert_script_consumed(run_id)

    view = await reader.tree(run_id)
    same_facts(queried, view.events)
    [member] = view.children
    assert (member.member, member.source) == ("billing", "history")
    same_facts(member_queried, member.events)
    kinds = {e.kind for e in [*view.events, *member.events]}
    assert {"failover", "tool_refused", "child"} <= kinds
    assert view.totals.usage == result.usage
    said = flat(" ".join(summary(view)))
    assert "router asked billing: Look up order A1001" in said
    assert "billing tried issue_refund, which it may not use; it was refused" in said
    assert "switched from primary to backup" in said


async def test_a_members_approval_decided_at_the_teams_run_reads_as_queried(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    team = parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [
            {"name": "router", "description": "Routes requests; receives a request and returns "
             "the answer.", "instructions": "Delegate, then answer.", "max_steps": 4},
            {"name": "billing", "description": "Billing; receives one refund request and "
             "returns what it did.", "instructions": "Refund when asked.",
             "tools": ["issue_refund"], "max_steps": 4,
             "approvals": {"issue_refund": {"mode": "always", "approvers": ["support-leads"]}}}],
        "supervisor": {"router": "router", "workers": ["billing"]}})
    run_id = new_run_id(team)
    scripted.set_script(run_id, {
        "router": [{"tool_calls": [{"name": "delegate_to_billing", "id": "r1",
                                    "arguments": {"task": "Refund 5 EUR on A1001"}}]},
                   {"content": "Refunded."}],
        "billing": [{"tool_calls": [{"name": "issue_refund", "id": "b1", "arguments": {
                        "order_id": "A1001", "amount": 5, "reason": "broken"}}]},
                    {"content": "Refunded 5 EUR."}]})
    reader = reader_for(client, settings)
    member_id = f"{run_id}.billing.1"
    async with worker_resources(client, settings) as worker, worker:
        handle = await client.start_workflow(
            "SupervisorWorkflow", RunInput(team=team, input="Refund A1001"), id=run_id,
            task_queue=settings.task_queue, result_type=RunResult)
        waiting: list[PendingApproval] = []
        while not waiting:  # the team's run lists its member's approval
            waiting = await handle.query("pending_approvals", result_type=list[PendingApproval])
            await asyncio.sleep(0 if waiting else 0.05)
        await handle.execute_update("decide", ApprovalDecision(
            approval_id=waiting[0].approval_id, decision="approve", by="alice"),
            result_type=DecisionReceipt)
        result = await run_result(handle)
        _, queried = await reader.whole_log(run_id)
        _, member_queried = await reader.whole_log(member_id)
    assert result.status is RunStatus.COMPLETED, result.reason

    view = await reader.tree(run_id)
    same_facts(queried, view.events)
    [member] = view.children
    same_facts(member_queried, member.events)
    # The team's run routed the decision; the member that held the approval recorded it.
    assert not any(isinstance(e, ApprovalEvent) for e in view.events)
    assert [(e.action, e.by) for e in member.events if isinstance(e, ApprovalEvent)] == [
        ("requested", None), ("approved", "alice")]


# -- an encrypted run ---------------------------------------------------------------------------

async def test_an_encrypted_run_reads_with_its_key_and_names_what_it_cannot_read_without(
        client: Client, settings: BatonSettings, tmp_path: Path) -> None:
    keyed = settings.model_copy(update={"codec_keys": {"k1": SecretStr(KEY)}})
    config = client.config()
    config["data_converter"] = data_converter(keyed)  # this client encrypts what it sends
    encrypted = Client(**config)
    team = support_team()
    run_id = new_run_id(team)
    async with worker_resources(encrypted, keyed) as worker, worker:
        result, _ = await run_approving(encrypted, keyed, team, TASK, run_id=run_id)
    assert result.status is RunStatus.COMPLETED, result.reason
    history = await client.get_workflow_handle(run_id).fetch_history()
    scheduled = [e.activity_task_scheduled_event_attributes for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    assert all(s.input.payloads[0].metadata["encoding"] == b"binary/encrypted"
               for s in scheduled)

    # With the key: everything, as for a plain run.
    view = await reader_for(encrypted, keyed).tree(run_id)
    assert view.notes == []
    assert view.result == result
    assert {e.tool for e in view.events if isinstance(e, ToolCallEvent)} >= {
        "lookup_order", "issue_refund"}
    assert any(e.arguments.get("order_id") == "A1001" for e in view.events
               if isinstance(e, ToolCallEvent))
    assert [e.by for e in view.events if isinstance(e, ApprovalEvent)
            and e.action == "approved"] == ["alice"]

    # Without it: what Temporal itself knows, and a note naming every payload it could not read.
    blind = await reader_for(client, settings).tree(run_id)
    assert blind.execution_status == "COMPLETED"
    assert blind.result is None
    assert not any(isinstance(e, ModelCallEvent | ToolCallEvent) for e in blind.events)
    notes = " ".join(blind.notes)
    assert "could not be decoded (encrypted with key 'k1'; no codec keys are configured" in notes
    assert "the run input (event 1)" in notes
    assert "chat request (event" in notes
    assert "tool invocation (event" in notes
    assert "the run's result could not be read" in notes
    assert "A1001" not in blind.model_dump_json()

    # The same from a saved file, no server: the key from the environment decrypts it.
    saved = tmp_path / "encrypted.json"
    saved.write_text(history.to_json())
    base = {"BATON_HOME": str(tmp_path)}
    with_key, without, other_key = await asyncio.gather(
        baton("show", "--history", str(saved), env={**base, "BATON_CODEC_KEYS":
                                                     json.dumps({"k1": KEY})}),
        baton("summary", "--history", str(saved), env=base),
        baton("summary", "--history", str(saved), env={**base, "BATON_CODEC_KEYS": json.dumps(
            {"k9": base64.b64encode(os.urandom(32)).decode()})}))
    for done in (with_key, without, other_key):
        assert done.returncode == 0, done.stderr
    assert "A1001" in with_key.stdout
    assert "approved for issue_refund by alice" in with_key.stdout
    assert "note:" not in with_key.stdout
    said = flat(without.stdout)
    assert "Not everything could be read" in said
    assert "encrypted with key 'k1'; no codec keys are configured here" in said
    assert "A1001" not in said
    assert "payload encrypted with key 'k1', which is not configured here" in flat(
        other_key.stdout)
