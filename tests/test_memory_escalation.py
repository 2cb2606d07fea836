"""Escalating a memory tier (docs/memory.md): when nothing relevant is recalled, or only what is
older than the policy allows, the agent is told so in words; ``on_nothing_recalled: ask_person``
asks a person through the approval gate instead, and the answer becomes a memory (real Temporal,
decisions through the public ``decide`` update)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from memory_helpers import AGENT, admin, events, injected, memory_team, run, start
from temporalio.client import Client, WorkflowHandle

from baton.activities.memory import MemoryService, open_memory_store
from baton.approvals import ApprovalDecision, DecisionReceipt, PendingApproval
from baton.client import run_result
from baton.memory import DAY_S, AskPersonSpec, StoreRequest
from baton.runs import ApprovalEvent, RecalledEvent, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings

ANSWER = "Prefers phone calls after 6pm"


async def _question(handle: WorkflowHandle[Any, Any]) -> PendingApproval:
    while True:
        pending = await handle.query("pending_approvals", result_type=list[PendingApproval])
        if pending:
            return pending[0]
        await asyncio.sleep(0.05)


async def test_memories_older_than_the_policy_allows_are_shown_as_outdated(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    store = open_memory_store(settings.resolved_memory_url)  # the worker's own store
    months_ago = MemoryService(store, clock=lambda: datetime.now(UTC) - timedelta(days=100))
    await months_ago.remember(StoreRequest(
        id="old-1", tenant="default", subject="cust-60", kind="preference",
        text="Prefers courier delivery", source_run="support-old", source_agent=AGENT))
    await store.close()
    team = memory_team(max_age_s=30 * DAY_S)
    run_id, result = await run(client, settings, team, "Ship my order by courier.",
                               subject="cust-60", scripted=scripted,
                               script={AGENT: [{"content": "I will check your preference."}]})
    assert result.status is RunStatus.COMPLETED
    shown = await injected(client, run_id)
    assert "older than the policy allows (30 days)" in shown and "verify it" in shown
    assert "Prefers courier delivery" in shown and "from run support-old, 100 days ago" in shown
    [recalled] = [e for e in await events(client, run_id) if isinstance(e, RecalledEvent)]
    assert recalled.outcome == "too_old" and recalled.memories[0]["stale"] is True


async def test_nothing_recalled_asks_a_person_and_keeps_the_answer(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = memory_team(on_nothing_recalled="ask_person", always_inject=("preference",),
                       ask=AskPersonSpec(approvers=("alice",), kind="preference"))
    handle = await start(client, settings, team, "Call me about order A1002.",
                         subject="cust-61", scripted=scripted,
                         script={AGENT: [{"content": "I will call you after 6pm."}]})
    question = await _question(handle)
    assert question.tool == "ask_person" and question.allowed_deciders == ["alice"]
    assert "What should support_agent know about subject 'cust-61'" in question.args["question"]
    receipt = await handle.execute_update("decide", ApprovalDecision(
        approval_id=question.approval_id, decision="edit", by="alice", reason="I know them",
        args={"answer": ANSWER}), result_type=DecisionReceipt)
    assert receipt.accepted
    assert (await run_result(handle)).status is RunStatus.COMPLETED
    shown = await injected(client, handle.id)
    assert ANSWER in shown and "a person (alice) was asked" in shown
    recalled = next(e for e in await events(client, handle.id) if isinstance(e, RecalledEvent))
    assert recalled.outcome == "answered" and recalled.approval_id == question.approval_id
    async with admin(settings) as memory:
        [kept] = await memory.list(subject="cust-61")
    assert (kept.text, kept.kind, kept.source_agent, kept.source_run) == (
        ANSWER, "preference", "alice", handle.id)

    # The next run about the customer recalls the answer: nobody is asked again.
    later, _ = await run(client, settings, team, "Any news on order A1002?", subject="cust-61",
                         scripted=scripted, script={AGENT: [{"content": "Calling at 6pm."}]})
    assert ANSWER in await injected(client, later)
    assert not [e for e in await events(client, later) if isinstance(e, ApprovalEvent)]


async def test_a_declined_question_tells_the_agent_nothing_was_recalled(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = memory_team(on_nothing_recalled="ask_person")
    handle = await start(client, settings, team, "Call me about order A1003.",
                         subject="cust-62", scripted=scripted,
                         script={AGENT: [{"content": "Let me look it up."}]})
    question = await _question(handle)
    await handle.execute_update("decide", ApprovalDecision(
        approval_id=question.approval_id, decision="reject", by="morgan",
        reason="never heard of them"))
    assert (await run_result(handle)).status is RunStatus.COMPLETED
    assert "nothing relevant to this task was recalled" in await injected(client, handle.id)
    async with admin(settings) as memory:
        assert await memory.list(subject="cust-62") == []
