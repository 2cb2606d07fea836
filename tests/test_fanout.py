"""Fan-out pattern on real Temporal: parallel branches and every merge, the concurrency bound
(from the run log), failed branches reported by the merge, all failed, a split cycling over
branches, a team as a branch, approvals and the exactly-once refund in a branch, replay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pattern_run_helpers import (
    REFUND,
    agent,
    approve_in_child,
    assert_parent,
    child_events,
    outbox,
    record_and_replay,
    refunder,
    run,
    start,
)
from procs import run_log
from temporalio.client import Client

from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.client import run_result
from baton.loader import parse_team
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec

TASK = "Should we refund order A1001?"
FAULT = {"fault": "401"}  # non-retryable provider error: the branch's child run ends FAILED


def panel(merge: str = "agent", branches: tuple[str, ...] = ("a", "b", "c"),
          **fanout: Any) -> TeamSpec:
    merger = {"merger": "merger"} if merge in ("agent", "best_of") else {}
    return parse_team({
        "name": "panel", "pattern": "fanout",
        "agents": [*(agent(b) for b in branches), agent("merger")],
        "fanout": {"branches": list(branches), "merge": merge, **merger, **fanout},
    })


def says(text: str, latency_s: float = 0.0) -> list[dict[str, Any]]:
    return [{"content": text, "latency_s": latency_s}]


async def test_branches_run_in_parallel_and_the_merger_sees_every_output(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, panel(), {
        "a": says("Yes, refund."), "b": says("Refund half."), "c": says("No refund."),
        "merger": [{"content": "Refund half.", "expect": {
            "last_message_contains": "--- Output of c (job 3):\nNo refund."}}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "Refund half."
    assert [c.member for c in result.children][-1] == "merger"
    assert sorted(c.member for c in result.children[:3]) == ["a", "b", "c"]
    assert result.details["failed_branches"] == []
    assert result.reason == "merged 3 of 3 branch outputs"
    *branches, merger = result.children
    for child in branches:
        await assert_parent(client, child.workflow_id, run_id, "AgentWorkflow")
    # The merger runs inside the fan-out's own workflow: no child, its call in this run's log.
    assert merger.workflow_id == run_id
    log = await run_log(client.get_workflow_handle(run_id))
    assert [e.agent for e in log if e.kind == "model_call"] == ["merger"]
    scripted.assert_script_consumed(run_id)
    await record_and_replay(client, run_id, "fanout")


async def test_no_more_than_max_concurrency_children_run_at_once(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    branches = ("a", "b", "c", "d", "e")
    run_id, result = await run(
        client, settings, scripted, panel("concat", branches, max_concurrency=2),
        {b: says(b.upper(), latency_s=0.2) for b in branches}, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "A\n\nB\n\nC\n\nD\n\nE"  # concat keeps job order, not finish order
    running = peak = 0
    for event in sorted(await child_events(client, run_id), key=lambda e: e.seq):
        running += 1 if event.action == "started" else -1
        peak = max(peak, running)
    assert peak == 2 == result.details["peak_running"]  # bounded, and actually parallel
    # The same from the timestamps: at no child's start were two others still running.
    events = await child_events(client, run_id)
    spans = {e.workflow_id: [e.at, e.at] for e in events if e.action == "started"}
    for e in events:
        if e.action == "finished":
            spans[e.workflow_id][1] = e.at
    for start_at, _ in spans.values():
        assert sum(1 for s, f in spans.values() if s <= start_at < f) <= 2
    scripted.assert_script_consumed(run_id)


async def test_a_failed_branch_is_reported_and_the_merge_says_so(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, panel(), {
        "a": says("Yes."), "b": [FAULT], "c": says("Yes, refund."),
        "merger": [{"content": "Refund.", "expect": {
            "last_message_contains": "Failed branches (no output): b (job 2): failed"}}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.details["failed_branches"] == ["b"]
    assert "merged 2 of 3" in (result.reason or "") and "b (job 2)" in (result.reason or "")
    assert {c.member: c.status for c in result.children}["b"] is RunStatus.FAILED
    scripted.assert_script_consumed(run_id)

    _, concat = await run(client, settings, scripted, panel("concat"),
                          {"a": says("A."), "b": [FAULT], "c": says("C.")}, TASK)
    assert concat.output is not None and concat.output.startswith("A.\n\nC.\n\n(merged 2 of 3")


async def test_all_branches_failing_ends_failed(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    run_id, result = await run(client, settings, scripted, panel("concat", ("a", "b")),
                               {"a": [FAULT], "b": [FAULT]}, TASK)
    assert result.status is RunStatus.FAILED
    assert result.error_type == "all_branches_failed"
    assert "all 2 branches failed" in (result.reason or "")
    assert result.details["failed_branches"] == ["a", "b"]
    scripted.assert_script_consumed(run_id)


async def test_vote_and_best_of(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    _, voted = await run(client, settings, scripted, panel("vote"),
                         {"a": says("No."), "b": says("Yes."), "c": says("yes")}, TASK)
    assert voted.status is RunStatus.COMPLETED
    assert voted.output == "Yes."  # two normalised votes for "yes"; the first spelling wins
    assert voted.details["votes"] == {"no": 1, "yes": 2}

    _, tie = await run(client, settings, scripted, panel("vote", ("a", "b")),
                       {"a": says("No."), "b": says("Yes.")}, TASK)
    assert tie.output == "No."  # a tie goes to the earliest branch

    run_id, best = await run(client, settings, scripted, panel("best_of"), {
        "a": says("Maybe."), "b": says("Refund 10.0 now."), "c": says("No."),
        "merger": [{"content": "2", "expect": {
            "last_message_contains": "Candidate 2 (from b (job 2)):\nRefund 10.0 now."}}],
    }, TASK)
    assert best.status is RunStatus.COMPLETED, best.reason
    assert (best.output, best.details["best"]) == ("Refund 10.0 now.", "b (job 2)")
    scripted.assert_script_consumed(run_id)


async def test_split_lines_cycles_branches_over_the_parts(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # Three lines, two branches: a gets lines 1 and 3, b line 2 (one job at a time, so the
    # scripted steps of branch a are consumed in job order).
    run_id, result = await run(
        client, settings, scripted,
        panel("concat", ("a", "b"), split="lines", max_concurrency=1), {
            "a": [{"content": "one", "expect": {"last_message_contains": "first"}},
                  {"content": "three", "expect": {"last_message_contains": "third"}}],
            "b": [{"content": "two", "expect": {"last_message_contains": "second"}}],
        }, "first line\n\nsecond line\nthird line")
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "one\n\ntwo\n\nthree"
    assert [(j["branch"], j["task"]) for j in result.details["jobs"]] == [
        ("a", "first line"), ("b", "second line"), ("a", "third line")]
    assert result.details["peak_running"] == 1
    scripted.assert_script_consumed(run_id)


async def test_a_team_as_a_branch(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = parse_team({
        "name": "panel", "pattern": "fanout", "agents": [agent("solo")],
        "teams": {"desk": {
            "name": "desk", "description": "a supervised desk", "pattern": "supervisor",
            "agents": [agent("lead", "routes"), agent("clerk")],
            "supervisor": {"router": "lead", "workers": ["clerk"]}}},
        "fanout": {"branches": ["solo", "desk"], "merge": "concat"},
    })
    run_id, result = await run(client, settings, scripted, team, {
        "solo": says("solo says yes"),
        "lead": [{"tool_calls": [{"name": "delegate_to_clerk", "arguments": {"task": "check"}}]},
                 {"content": "desk says yes"}],
        "clerk": says("checked"),
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "solo says yes\n\ndesk says yes"
    desk = next(c for c in result.children if c.member == "desk")
    assert desk.kind == "team"
    await assert_parent(client, desk.workflow_id, run_id, "SupervisorWorkflow")
    [clerk] = [e for e in await child_events(client, desk.workflow_id) if e.action == "finished"]
    await assert_parent(client, clerk.workflow_id, desk.workflow_id, "AgentWorkflow")
    scripted.assert_script_consumed(run_id)


async def test_approval_and_exactly_once_refund_in_a_branch(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    team = parse_team({
        "name": "refunds", "pattern": "fanout",
        "agents": [agent("notes"), refunder()],
        "fanout": {"branches": ["notes", "refunder"], "merge": "concat"},
    })
    handle = await start(client, settings, scripted, team, {
        "notes": says("Noted."), "refunder": [{"tool_calls": [REFUND]}, {"content": "Refunded."}],
    }, "Refund A1001")
    waiting = await approve_in_child(client, handle.id)
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert waiting == next(c.workflow_id for c in result.children if c.member == "refunder")
    assert result.output == "Noted.\n\nRefunded."
    assert outbox(tmp_path) == [("A1001", 10.0)]
    scripted.assert_script_consumed(handle.id)


async def test_a_merger_in_the_fanout_workflow_waits_for_approval_there(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    """The merger runs inside the fan-out's workflow: its refund waits for a person on the
    fan-out run itself (listed, decided and audited there) and happens once."""
    team = parse_team({
        "name": "panel", "pattern": "fanout",
        "agents": [agent("a"), agent("b"), refunder("merger")],
        "fanout": {"branches": ["a", "b"], "merge": "agent", "merger": "merger"},
    })
    handle = await start(client, settings, scripted, team, {
        "a": says("Refund it."), "b": says("Refund it."),
        "merger": [{"tool_calls": [REFUND]}, {"content": "Refunded."}],
    }, TASK)
    for _ in range(400):
        pending = await handle.query("pending_approvals", result_type=list[PendingApproval])
        if pending:
            break
        await asyncio.sleep(0.05)
    [request] = pending
    assert request.workflow_id == handle.id and request.tool == "issue_refund"
    receipt = await handle.execute_update("decide", ApprovalDecision(
        approval_id=request.approval_id, decision="approve", by="alice", reason="ok"),
        result_type=DecisionReceipt)
    assert receipt.accepted
    result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "Refunded."
    assert len(outbox(tmp_path)) == 1
    approvals = [e for e in await run_log(handle) if e.kind == "approval"]
    assert [(e.action, e.agent) for e in approvals] == [("requested", "merger"),
                                                         ("approved", "merger")]
    scripted.assert_script_consumed(handle.id)
