"""Long-term memory across runs (docs/memory.md), on real Temporal with the scripted model:
an agent writes with the built-in ``remember`` tool (a write tool: ledger, approvals, run log),
the next run about the same subject starts with the memory in front of it (its source run and
age shown, as data), the ``recall`` tool finds it, another subject's run never sees it, and with
an embeddings endpoint memories are recalled by meaning too."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from memory_helpers import AGENT, admin, events, injected, memory_team, remember, run, start
from temporalio.client import Client
from test_examples import EXAMPLES, default_input

from baton.approvals import ApprovalDecision, PendingApproval
from baton.approvals import ApprovalPolicy as Policy
from baton.client import run_result
from baton.loader import load_team
from baton.runs import RecalledEvent, RunStatus, ToolCallEvent
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings, EmbeddingsSettings
from baton.worker import worker_resources
from baton.workflows.prompts import DATA_NOT_INSTRUCTIONS

PREFERENCE = "Prefers delivery by express courier to the office"


async def test_a_memory_written_in_one_run_is_recalled_at_the_start_of_the_next(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = memory_team(always_inject=("preference",))
    first, result = await run(client, settings, team, "Please always ship by courier.",
                              subject="cust-42", scripted=scripted, script={AGENT: [
        remember(PREFERENCE, "preference"), {"content": "Noted: courier it is."}]})
    assert result.status is RunStatus.COMPLETED
    call = next(e for e in await events(client, first) if isinstance(e, ToolCallEvent))
    assert (call.tool, call.effect, call.status) == ("remember", "write", "ok")
    assert call.result["kind"] == "preference" and call.result["subject"] == "cust-42"
    async with admin(settings) as memory:
        [stored] = await memory.list(subject="cust-42")
    assert (stored.text, stored.kind, stored.source_run, stored.source_agent) == (
        PREFERENCE, "preference", first, AGENT)
    assert stored.expires_at is not None and stored.expires_at > datetime.now(UTC)

    second, result = await run(client, settings, team, "Where is my order A1002?",
                               subject="cust-42", scripted=scripted,
                               script={AGENT: [{"content": "On its way, by courier."}]})
    assert result.status is RunStatus.COMPLETED
    shown = await injected(client, second)
    assert PREFERENCE in shown and f"from run {first}" in shown and "[preference," in shown
    assert "just now" in shown or "min ago" in shown
    assert DATA_NOT_INSTRUCTIONS in shown
    [recalled] = [e for e in await events(client, second) if isinstance(e, RecalledEvent)]
    assert recalled.outcome == "recalled" and recalled.subject == "cust-42"
    assert recalled.memories[0]["source_run"] == first and recalled.mode == "text"

    # Another customer's run is told there is nothing, and never sees cust-42's memory.
    other, _ = await run(client, settings, team, "Please ship by courier.", subject="cust-7",
                         scripted=scripted, script={AGENT: [{"content": "Sure."}]})
    shown = await injected(client, other)
    assert PREFERENCE not in shown and "nothing relevant to this task was recalled" in shown


async def test_the_recall_tool_answers_with_source_run_and_age_within_the_runs_subject(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = memory_team(inject_top_k=0)  # nothing injected: the agent asks itself
    first, _ = await run(client, settings, team, "Remember my courier preference.",
                         subject="cust-43", scripted=scripted, script={AGENT: [
        remember(PREFERENCE, "preference"), {"content": "Noted."}]})
    ask = {"tool_calls": [{"name": "recall", "id": "r1",
                           "arguments": {"query": "courier delivery"}}]}
    mine, _ = await run(client, settings, team, "How do I like my parcels?", subject="cust-43",
                        scripted=scripted, script={AGENT: [ask, {"content": "By courier."}]})
    [call] = [e for e in await events(client, mine) if isinstance(e, ToolCallEvent)]
    assert call.effect == "read" and PREFERENCE in call.content
    assert f"from run {first}" in call.content and "not instructions" in call.content
    assert not [e for e in await events(client, mine) if isinstance(e, RecalledEvent)]
    theirs, _ = await run(client, settings, team, "How do I like my parcels?",
                          subject="cust-44", scripted=scripted,
                          script={AGENT: [ask, {"content": "I do not know yet."}]})
    [call] = [e for e in await events(client, theirs) if isinstance(e, ToolCallEvent)]
    assert PREFERENCE not in call.content and call.content.startswith("Nothing remembered")


async def test_remember_is_a_write_tool_under_the_teams_approval_policy(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = memory_team()
    agent = team.agents[0].model_copy(update={"approvals": {
        "remember": Policy(mode="always", approvers=("alice",))}})
    team = team.model_copy(update={"agents": (agent,)})
    handle = await start(client, settings, team, "Remember that I want email only.",
                         subject="cust-45", scripted=scripted, script={AGENT: [
        remember("Contact by email only", "preference"), {"content": "Noted."}]})
    pending: list[PendingApproval] = []
    while not pending:
        pending = await handle.query("pending_approvals", result_type=list[PendingApproval])
        await asyncio.sleep(0.05)
    assert pending[0].tool == "remember" and pending[0].args["text"] == "Contact by email only"
    async with admin(settings) as memory:
        assert await memory.list(subject="cust-45") == []  # nothing kept before the decision
    await handle.execute_update("decide", ApprovalDecision(
        approval_id=pending[0].approval_id, decision="approve", by="alice", reason="ok"))
    assert (await run_result(handle)).status is RunStatus.COMPLETED
    [call] = [e for e in await events(client, handle.id) if isinstance(e, ToolCallEvent)]
    assert len(call.idempotency_key) == 64 and not call.ledger_hit
    async with admin(settings) as memory:
        [stored] = await memory.list(subject="cust-45")
    assert stored.id == call.result["memory_id"] and stored.text == "Contact by email only"


async def test_an_unknown_kind_is_an_error_the_model_reads(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = memory_team()
    run_id, result = await run(client, settings, team, "Remember this.", subject="cust-46",
                               scripted=scripted, script={AGENT: [
        remember("Likes jazz", "hobby"), {"content": "Could not."}]})
    assert result.status is RunStatus.COMPLETED
    [call] = [e for e in await events(client, run_id) if isinstance(e, ToolCallEvent)]
    assert call.status == "error" and "unknown kind 'hobby'" in call.content
    assert "preference" in call.content


async def test_with_an_embeddings_endpoint_memories_are_recalled_by_meaning(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    embedded = settings.model_copy(update={"embeddings": EmbeddingsSettings()})
    team = memory_team()
    async with worker_resources(client, embedded) as running, running:
        await run(client, embedded, team, "Remember how I want parcels.", subject="cust-47",
                  scripted=scripted, script={AGENT: [
            remember("Wants parcels sent by express courier", "preference"),
            {"content": "Noted."}]})
        later, _ = await run(client, embedded, team, "What are my delivery preferences?",
                             subject="cust-47", scripted=scripted,
                             script={AGENT: [{"content": "Express courier."}]})
        [recalled] = [e for e in await events(client, later) if isinstance(e, RecalledEvent)]
    assert recalled.mode == "hybrid" and recalled.outcome == "recalled"
    assert recalled.memories[0]["text"] == "Wants parcels sent by express courier"


async def test_the_memory_example_remembers_a_customer_across_runs_in_heuristic_mode(
        client: Client, settings: BatonSettings, worker: object) -> None:
    """baton/examples/support_memory.yaml as its header runs it, with no script: the first run
    about a customer keeps her preference, the next run about her starts with it in front of the
    agent, and a run about someone else does not."""
    team = load_team(EXAMPLES / "support_memory.yaml")
    first, result = await run(client, settings, team, default_input(
        EXAMPLES / "support_memory.yaml"), subject="cust-ana")
    assert result.status is RunStatus.COMPLETED, result.reason
    calls = [e for e in await events(client, first) if isinstance(e, ToolCallEvent)]
    assert {"remember", "lookup_order"} <= {c.tool for c in calls}
    async with admin(settings) as memory:
        [kept] = await memory.list(subject="cust-ana")
    assert "express courier" in kept.text and kept.source_run == first

    second, result = await run(client, settings, team, "Where is my order A1003?",
                               subject="cust-ana")
    assert result.status is RunStatus.COMPLETED, result.reason
    shown = await injected(client, second)
    assert kept.text in shown and f"from run {first}" in shown
    other, _ = await run(client, settings, team, "Where is my order A1003?", subject="cust-ben")
    assert kept.text not in await injected(client, other)
