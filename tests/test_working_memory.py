"""Working memory (docs/memory.md): past ``summarize_above_tokens`` an agent's older turns are
folded into a summary written by the summariser profile, through the ``chat`` activity; the last
``keep_recent`` messages stay verbatim, a tool call never loses its result, the fold is a
``summarized`` run-log event that ``baton show --step N --diff`` and a closed run's history both
show, and no folded message enters the history a second time.

Real Temporal, the scripted model over loopback HTTP; the summariser is scripted apart from the
agent (its calls are attributed to ``<agent>.summarizer``)."""

from __future__ import annotations

import json
from typing import Any

from helpers import new_run_id, run_agent, support_team
from temporalio.client import Client

from baton.client import BatonClient
from baton.memory import SUMMARY_SOURCE, MemorySpec, WorkingMemorySpec
from baton.messages import (
    AssistantMessage,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    UserMessage,
)
from baton.runs import MessagesPage, PageRequest, RunLogPage, RunStatus, SummarizedEvent
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.workflows._history import fold_plan

AGENT = "support_agent"
SUMMARIZER = f"{AGENT}.summarizer"
# Each call and its result take ~500 tokens (four bytes a token); the prompt starts at ~450. With
# a threshold of 1,700 and two messages kept, older turns are folded before steps 4 and 6.
PAGES = [f"page {n}: " + f"the warehouse log line {n} says parcel {n} moved. " * 20
         for n in range(1, 9)]


def _echo(n: int) -> dict[str, Any]:
    return {"tool_calls": [{"name": "echo", "id": f"call-{n}",
                            "arguments": {"text": PAGES[n - 1]}}]}


def _team(**working: Any) -> Any:
    policy = WorkingMemorySpec(**{"summarize_above_tokens": 1_700, "keep_recent": 2, **working})
    return support_team(tools=("echo", "lookup_order"), max_steps=12,
                        memory=MemorySpec(working=policy))


async def _events(client: Client, run_id: str) -> list[Any]:
    page = await client.get_workflow_handle(run_id).query(
        "run_log", PageRequest(limit=1000), result_type=RunLogPage)
    return page.events


async def test_older_turns_are_folded_into_a_summary_past_the_threshold(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team, run_id = _team(), new_run_id(_team())
    result = await run_agent(client, settings, team, "Trace parcels 1 to 6.", run_id=run_id,
                             scripted=scripted, script={
        AGENT: [*(_echo(n) for n in range(1, 7)), {"content": "All six parcels traced."}],
        SUMMARIZER: [
            {"content": "Parcels 1-2 moved through the warehouse.",
             "expect": {"last_message_contains": "parcel 1 moved"}},
            {"content": "Parcels 1-4 moved through the warehouse.",
             "expect": {"last_message_contains": "Parcels 1-2 moved"}}]})
    assert result.status is RunStatus.COMPLETED, result.reason
    scripted.assert_script_consumed(run_id)

    folds = [e for e in await _events(client, run_id) if isinstance(e, SummarizedEvent)]
    assert [f.summary for f in folds] == ["Parcels 1-2 moved through the warehouse.",
                                          "Parcels 1-4 moved through the warehouse."]
    assert [f.step for f in folds] == [4, 6]
    for fold in folds:
        assert fold.error is None and fold.folded_messages == 4 and fold.kept_messages == 2
        assert fold.tokens_before > 1_700 > fold.tokens_after
        assert fold.usage.input_tokens > 0 and fold.model == "baton-scripted"
    # The summariser's tokens are the run's too.
    calls = [e for e in await _events(client, run_id) if e.kind == "model_call"]
    spent = sum(e.usage.total_tokens for e in calls) + sum(f.usage.total_tokens for f in folds)
    assert result.usage.total_tokens == spent

    # The conversation now: system prompt, summary, task, then the recent turns verbatim.
    page = await client.get_workflow_handle(run_id).query(
        "messages", PageRequest(limit=1000), result_type=MessagesPage)
    messages = page.messages
    summary, task = messages[1], messages[2]
    assert isinstance(summary, UserMessage) and summary.source == SUMMARY_SOURCE
    assert summary.content.endswith("Parcels 1-4 moved through the warehouse.")
    assert isinstance(task, UserMessage) and task.content == "Trace parcels 1 to 6."
    assert len(messages) == 3 + 2 + 3  # kept two, then one more call, its result and the answer
    # Every tool result still follows the call that asked for it.
    asked = {c.id for m in messages if isinstance(m, AssistantMessage) for c in m.tool_calls}
    assert all(m.tool_call_id in asked for m in messages if isinstance(m, ToolResultMessage))
    assert PAGES[0] not in "".join(m.content or "" for m in messages if hasattr(m, "content"))


async def test_a_summary_references_the_conversation_it_folds(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    """History stays linear: the summariser's request carries a prefix reference and the new
    messages only, never the folded turns again; the summary is then a new prefix."""
    team, run_id = _team(), new_run_id(_team())
    await run_agent(client, settings, team, "Trace parcels 1 to 4.", run_id=run_id,
                    scripted=scripted, script={
        AGENT: [*(_echo(n) for n in range(1, 5)), {"content": "Done."}],
        SUMMARIZER: [{"content": "Parcels 1-2 moved."}]})
    scripted.assert_script_consumed(run_id)
    requests, carrying = [], 0
    async for event in client.get_workflow_handle(run_id).fetch_history_events():
        attrs = event.activity_task_scheduled_event_attributes
        carrying += PAGES[0].encode() in event.SerializeToString()
        if event.HasField("activity_task_scheduled_event_attributes") and (
                attrs.activity_type.name == "chat"):
            requests.append(attrs.input.payloads[0].data.decode())
    folding = [r for r in requests if '"summarize":[' in r]
    assert len(folding) == 1
    # The page is the echo's argument and its result: in history as the model's call (a chat
    # result), the tool activity's input and its result; no model call carries it again, not
    # even the summariser's, which folds it.
    assert carrying == 3
    assert not any(PAGES[0] in r for r in requests)
    after = requests[requests.index(folding[0]) + 1]
    # A new prefix: nothing held yet (a length of 0 is left out of the payload).
    assert json.loads(after)["prefix"].get("length", 0) == 0 and "Parcels 1-2 moved." in after


async def test_the_fold_is_a_step_show_and_history_can_read(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team, run_id = _team(), new_run_id(_team())
    await run_agent(client, settings, team, "Trace parcels 1 to 4.", run_id=run_id,
                    scripted=scripted, script={
        AGENT: [*(_echo(n) for n in range(1, 5)), {"content": "Done."}],
        SUMMARIZER: [{"content": "Parcels 1-2 moved."}]})
    reader = BatonClient(client, settings).runs
    view = await reader.tree(run_id)  # a closed run: read from its history alone
    assert view.source == "history"
    folds = [e for e in view.events if isinstance(e, SummarizedEvent)]
    assert len(folds) == 1 and folds[0].summary == "Parcels 1-2 moved."
    assert folds[0].usage.input_tokens > 0 and folds[0].folded_messages >= 2
    assert view.totals.model_calls == 6  # five answers and the summariser
    diff = await reader.step_diff(view, folds[0].step, AGENT)
    assert diff.summarized is not None and diff.summarized.summary == "Parcels 1-2 moved."


async def test_a_failing_summariser_leaves_a_mechanical_summary(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team, run_id = _team(), new_run_id(_team())
    result = await run_agent(client, settings, team, "Trace parcels 1 to 4.", run_id=run_id,
                             scripted=scripted, script={
        AGENT: [*(_echo(n) for n in range(1, 5)), {"content": "Done."}],
        SUMMARIZER: [{"fault": "400", "message": "summariser misconfigured"}]})
    assert result.status is RunStatus.COMPLETED
    folds = [e for e in await _events(client, run_id) if isinstance(e, SummarizedEvent)]
    assert len(folds) == 1 and "summariser misconfigured" in (folds[0].error or "")
    assert "echo → ok: page 1" in folds[0].summary  # one line per folded message


async def test_below_the_threshold_nothing_is_folded(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = _team().model_copy()
    run_id = new_run_id(team)
    result = await run_agent(client, settings, team, "Trace parcel 1.", run_id=run_id,
                             scripted=scripted, script={
        AGENT: [_echo(1), {"content": "Parcel 1 moved."}]})
    assert result.status is RunStatus.COMPLETED
    assert not [e for e in await _events(client, run_id) if isinstance(e, SummarizedEvent)]


async def test_a_prompt_past_the_threshold_with_nothing_older_than_the_window_is_kept_whole(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    """The prompt passes the threshold at the first step, but the conversation is shorter than
    ``keep_recent``: there is nothing to fold, and the run goes on."""
    team = _team(summarize_above_tokens=256, keep_recent=6)
    run_id = new_run_id(team)
    result = await run_agent(client, settings, team, "Trace parcel 1.", run_id=run_id,
                             scripted=scripted, script={
        AGENT: [_echo(1), {"content": "Parcel 1 moved."}]})
    assert result.status is RunStatus.COMPLETED, result.reason
    assert not [e for e in await _events(client, run_id) if isinstance(e, SummarizedEvent)]


def test_a_fold_plan_never_reaches_before_the_task() -> None:
    call = AssistantMessage(tool_calls=(ToolCall(id="c1", name="echo"),))
    result = ToolResultMessage(tool_call_id="c1", name="echo", content="ok")
    messages = [SystemMessage(content="s"), UserMessage(content="task")]
    for keep in (2, 6, 50):
        assert fold_plan(messages, keep) is None
        assert fold_plan([*messages, call, result], keep) is None
    longer = [*messages, call, result, call, result, call, result]
    plan = fold_plan(longer, 2)
    assert plan is not None and (plan.start, plan.task, plan.end, plan.folded) == (1, 1, 6, 4)
    assert fold_plan(longer, 6) is None  # fewer than two turns would be folded
