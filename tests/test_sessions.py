"""Sessions on a real dev server: a conversation with a team, one run per message.

Fifty scripted turns across a worker restart and several continue-as-new, each reply right, no
model call asked twice, every continuation's history bounded and the first message still seen
through the summary; approvals inside a turn, decided through the session; the queue's bound;
the idle timeout; the budget; cancelling; a pattern team holding a conversation; ``baton chat``;
a session moving to a new worker version when it continues as new; and sessions' histories
recorded for replay (tests/histories/<release>/session_*.json, replayed by test_replay.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import make_current
from pattern_run_helpers import record_and_replay
from replaying import assert_replays, record
from temporalio.client import Client

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client.api import BatonClient
from baton.errors import SessionBusyError, SessionClosedError
from baton.loader import parse_team
from baton.runs import ChildEvent, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec
from baton.worker import worker_resources

REFUND = {"name": "issue_refund",
          "arguments": {"order_id": "A1001", "amount": 10.0, "reason": "arrived broken"}}


def helper_team(*, tools: tuple[str, ...] = (), approvals: dict[str, Any] | None = None,
                **fields: Any) -> TeamSpec:
    return parse_team({"name": "chat", **fields, "agents": [{
        "name": "helper", "description": "answers", "instructions": "Answer the user.",
        "tools": list(tools), "approvals": approvals or {}}]})


NAME = "my name is Ada"  # said in the first message only: later turns see it in the summary


def said(i: int) -> dict[str, Any]:
    """Turn ``i``'s scripted answer, given only when the model was asked message ``i`` and,
    from the second turn on, still has the first message and the previous reply before it."""
    expect: dict[str, Any] = {"last_message_contains": f"message {i}"}
    if i:
        expect["messages_contain"] = [NAME, f"reply {i - 1}"]
    return {"content": f"reply {i}", "expect": expect}


def message(i: int) -> str:
    return f"message {i}: {NAME}" if i == 0 else f"message {i}"


async def wait_pending(baton: BatonClient, session_id: str) -> PendingApproval:
    for _ in range(400):
        found = await baton.pending_approvals(session_id)
        if found:
            return found[0]
        await asyncio.sleep(0.025)
    raise AssertionError("the session never listed its turn's approval")


async def test_fifty_turns_across_a_worker_restart_and_continue_as_new(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    baton = BatonClient(client, settings)
    team = helper_team(history={"continue_as_new_events": 100, "keep_recent_messages": 6})
    session_id = f"chat-{uuid.uuid4().hex[:10]}"
    scripted.set_script(session_id, {"helper": [said(i) for i in range(50)]})
    async with worker_resources(client, settings) as first, first:
        session = await baton.session(team, session_id=session_id)
        for i in range(25):
            assert (await session.send(message(i))).text == f"reply {i}"
    # No worker: the message waits in Temporal until one is back.
    waiting = asyncio.ensure_future(session.send(message(25)))
    async with worker_resources(client, settings) as second, second:
        reply = await waiting
        assert (reply.turn, reply.text) == (26, "reply 25")
        for i in range(26, 50):
            reply = await session.send(message(i))
            assert (reply.turn, reply.status, reply.text) == (i + 1, RunStatus.COMPLETED,
                                                              f"reply {i}")
        view = await session.view()
        assert view.turns == 50 and view.state == "open" and len(view.previous_runs) >= 3
        assert [t.reply for t in view.recent] == [f"reply {i}" for i in range(30, 50)]
        closed = await session.close()
        assert closed.state in ("closing", "ended")
        result = await session.result()
        assert result.status is RunStatus.COMPLETED and result.details == {
            "turns": 50, "ended": "closed"}
        with pytest.raises(SessionClosedError):
            await session.send("anyone there?")
    scripted.assert_script_consumed(session_id)
    calls = scripted.calls(session_id)
    assert [c["step_index"] for c in calls] == list(range(50))  # each step asked once
    assert len({(c["workflow_id"], c["step"]) for c in calls}) == 50
    assert all(c["status"] == 200 for c in calls)  # every expectation held: context carried
    # History stays bounded: every continuation of the session stops soon after the team's
    # continue_as_new_events (it continues between turns, never inside one), and each
    # carries the compacted conversation, not the whole one.
    runs = [*view.previous_runs, (await client.get_workflow_handle(session_id).describe()).run_id]
    for index, run in enumerate(runs):
        history = await client.get_workflow_handle(session_id, run_id=run).fetch_history()
        assert len(history.events) <= 100 + 40, (run, len(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        carry = json.loads(started.input.payloads[0].data)["carry"]
        if index == 0:
            assert carry is None
            record(history, "session_continued_as_new")
            await assert_replays(history)
            continue
        # What a continuation starts from: the conversation compacted to a summary (which
        # still holds the first message) and the team's last six messages, whatever the turn.
        conversation = carry["conversation"]
        assert len(conversation) == 7 and NAME in conversation[0]["content"], index
        assert conversation[-1]["content"] == f"reply {carry['turns'] - 1}"
        assert len(started.input.payloads[0].data) < 20_000, index


async def test_a_turns_approval_is_decided_through_the_session(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    baton = BatonClient(client, settings)
    team = helper_team(tools=("issue_refund",), approvals={"issue_refund": {"mode": "always"}})
    session = await baton.session(team, max_queued=1)
    scripted.set_script(session.id, {"helper": [
        {"tool_calls": [REFUND]}, {"content": "Refunded 10 on A1001."},
        {"content": "You're welcome."}]})
    reply = await session.submit("Please refund A1001")
    pending = await wait_pending(baton, session.id)
    assert pending.tool == "issue_refund" and pending.workflow_id == f"{session.id}.turn.1"
    with pytest.raises(SessionBusyError):  # one unanswered message is this session's bound
        await session.send("are you there?")
    await baton.decide(ApprovalDecision(approval_id=pending.approval_id, decision="approve",
                                        by="alice", reason="ok"), workflow_id=session.id)
    assert (await reply).text == "Refunded 10 on A1001."
    assert (await session.send("thanks")).text == "You're welcome."
    with sqlite3.connect(tmp_path / "support.sqlite") as db:
        assert db.execute("SELECT order_id, amount FROM outbox").fetchall() == [("A1001", 10.0)]
    await session.close()
    assert (await session.result()).details["turns"] == 2
    await record_and_replay(client, session.id, "session_with_an_approval")


async def test_an_idle_session_ends_and_refuses_messages(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    baton = BatonClient(client, settings)
    session = await baton.session(helper_team(), idle_timeout_s=1)
    scripted.set_script(session.id, {"helper": [{"content": "hello"}]})
    assert (await session.send("hi")).text == "hello"
    result = await session.result()  # a durable timer ends it
    assert result.status is RunStatus.COMPLETED and result.details["ended"] == "idle"
    with pytest.raises(SessionClosedError):
        await session.send("still there?")
    with pytest.raises(SessionClosedError):
        await baton.resume_session(session.id)


async def test_a_session_ends_when_its_budget_is_spent(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    baton = BatonClient(client, settings)
    session = await baton.session(helper_team(budget={"max_tokens": 400}))
    scripted.set_script(session.id, {"helper": [{"content": "x" * 200}] * 10})
    replies = []
    while True:
        try:
            replies.append(await session.send(f"message {len(replies)}"))
        except SessionClosedError:
            break
        if not replies[-1].open:
            break
    assert not replies[-1].open
    result = await session.result()
    assert result.status is RunStatus.BUDGET_EXHAUSTED and result.details["ended"] == "budget"
    assert result.usage.total_tokens <= 400


async def test_a_supervisor_team_holds_the_conversation(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    team = parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [{"name": "router", "description": "routes", "instructions": "route"},
                   {"name": "clerk", "description": "answers", "instructions": "answer"}],
        "supervisor": {"router": "router", "workers": ["clerk"]}})
    baton = BatonClient(client, settings)
    session = await baton.session(team)
    scripted.set_script(session.id, {
        "router": [{"tool_calls": [{"name": "delegate_to_clerk",
                                    "arguments": {"task": "greet"}}]},
                   {"content": "Hello from the desk."},
                   {"content": "You said hi before.",
                    "expect": {"last_message_contains": "Hello from the desk."}}],
        "clerk": [{"content": "greeted"}]})
    assert (await session.send("hi")).text == "Hello from the desk."
    second = await session.send("what did I say?")
    assert second.text == "You said hi before."
    log = await baton.run_log(session.id)
    turns = [e for e in log if isinstance(e, ChildEvent) and e.action == "finished"]
    assert [t.member_kind for t in turns] == ["team", "team"]
    await session.close()


async def test_cancelling_a_session_cancels_the_turn_in_progress(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    baton = BatonClient(client, settings)
    team = helper_team(tools=("issue_refund",), approvals={"issue_refund": {"mode": "always"}})
    session = await baton.session(team)
    scripted.set_script(session.id, {"helper": [{"tool_calls": [REFUND]}]})
    reply = await session.submit("Please refund A1001")
    pending = await wait_pending(baton, session.id)
    assert (await baton.cancel(session.id)).status is RunStatus.CANCELLED
    answered = await reply  # the message is answered: its turn was cancelled
    assert (answered.turn, answered.status) == (1, RunStatus.CANCELLED)
    assert (await baton.result(pending.workflow_id)).status is RunStatus.CANCELLED
    with pytest.raises(SessionClosedError):
        await session.send("hello?")
    await assert_replays(await client.get_workflow_handle(session.id).fetch_history())


async def test_baton_chat_talks_to_the_team_and_exits(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    team = tmp_path / "chat.yaml"
    team.write_text(yaml.safe_dump({"name": "chat", "agents": [{
        "name": "helper", "description": "answers", "instructions": "Answer the user."}]}))
    session_id = f"cli-chat-{uuid.uuid4().hex[:8]}"
    scripted.set_script(session_id, {"helper": [
        {"content": "Hello, Ada."},
        {"content": "You are Ada.", "expect": {"messages_contain": ["my name is Ada"]}}]})
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "baton.client.cli", "chat", str(team),
                         "--id", session_id, "--task-queue", settings.task_queue,
                         "--address", client.service_client.config.target_host],
        input="hi, my name is Ada\n/status\nwho am I?\n/exit\n", env={
            **clean, "COLUMNS": "200", "BATON_HOME": str(tmp_path / "home")},
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Hello, Ada." in done.stdout and "You are Ada." in done.stdout, done.stdout
    assert f"session {session_id} ended" in done.stderr, done.stderr
    result = await BatonClient(client, settings).result(session_id)
    assert result.status is RunStatus.COMPLETED and result.details == {
        "turns": 2, "ended": "closed"}


async def build_of(client: Client, workflow_id: str, run_id: str | None = None) -> str:
    """The build id of the worker deployment version a workflow run is on."""
    described = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    versioning = described.raw_description.workflow_execution_info.versioning_info
    return str(versioning.deployment_version.build_id)


@pytest.mark.slow
async def test_a_session_moves_to_the_new_version_when_it_continues_as_new(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    deployment = f"baton-{uuid.uuid4().hex[:6]}"
    v1 = settings.model_copy(update={"deployment_name": deployment, "build_id": "1"})
    v2 = settings.model_copy(update={"deployment_name": deployment, "build_id": "2"})
    team = helper_team(history={"continue_as_new_events": 100, "keep_recent_messages": 6})
    session_id = f"chat-{uuid.uuid4().hex[:10]}"
    scripted.set_script(session_id, {"helper": [said(i) for i in range(20)]})
    baton = BatonClient(client, settings)
    async with worker_resources(client, v1) as one, one:
        await make_current(client, v1)
        session = await baton.session(team, session_id=session_id)
        for i in range(2):
            assert (await session.send(message(i))).text == f"reply {i}"
        first_run = (await client.get_workflow_handle(session_id).describe()).run_id
        # The deploy: version 2 becomes current while the session is open. Its run stays
        # pinned to version 1; the next continuation starts on version 2.
        async with worker_resources(client, v2) as two, two:
            await make_current(client, v2)
            i = 2
            while not (await session.view()).previous_runs:
                reply = await session.send(message(i))
                assert (reply.text, await build_of(client, reply.workflow_id)) == (
                    f"reply {i}", "1")
                i += 1
            reply = await session.send(message(i))
            assert reply.text == f"reply {i}"  # the conversation carried across the deploy
            assert await build_of(client, reply.workflow_id) == "2"
            assert await build_of(client, session_id) == "2"
            assert await build_of(client, session_id, first_run) == "1"
            await session.close()
            assert (await session.result()).details["ended"] == "closed"
