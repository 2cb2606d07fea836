"""History grows linearly (docs/architecture.md#linear-history): each message enters history once, long runs
continue as new with a compacted conversation, and one workflow id shows the whole run."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import new_run_id, run_agent
from temporalio.client import Client

from baton.loader import parse_team
from baton.messages import AssistantMessage, SystemMessage, ToolCall, ToolResultMessage, UserMessage
from baton.runs import AgentStatus, PageRequest, RunLogPage, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.workflows._history import compact

STEPS = 300


def echo_team(steps: int, **history: Any) -> Any:
    return parse_team({
        "name": "longrun",
        "budget": {"max_tokens": 50_000_000, "max_cost_usd": 100, "max_wall_clock_s": 3600},
        "history": history,
        "agents": [{"name": "worker", "description": "long-running agent",
                    "instructions": "Echo each line you are given.", "tools": ["echo"],
                    "max_steps": steps + 1}],
    })


@pytest.mark.slow
async def test_a_300_step_run_completes_with_history_linear_in_its_messages(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = echo_team(STEPS, continue_as_new_events=400, keep_recent_messages=20)
    run_id = new_run_id(team)
    steps = [{"tool_calls": [{"name": "echo", "arguments": {"text": f"line {i:04d} " + "x" * 200}}]}
             for i in range(STEPS)]
    result = await run_agent(client, settings, team, "Echo 300 lines.", run_id=run_id,
                             scripted=scripted, script={"worker": [*steps, {"content": "done"}]})
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.steps == STEPS + 1
    scripted.assert_script_consumed(run_id)

    handle = client.get_workflow_handle(run_id)
    status = await handle.query("status", result_type=AgentStatus)
    assert len(status.previous_runs) >= 3  # it really continued as new, several times

    # The whole run, across continuations, from one workflow id (what `baton show` walks).
    events: list[Any] = []
    sizes: list[int] = []
    for temporal_run in [*status.previous_runs, None]:
        run_handle = client.get_workflow_handle(run_id, run_id=temporal_run)
        page = await run_handle.query("run_log", PageRequest(limit=1000), result_type=RunLogPage)
        events += page.events
        history = await run_handle.fetch_history()
        sizes.append(sum(event.ByteSize() for event in history.events))  # as the server counts
    assert [e.seq for e in events] == list(range(len(events)))
    assert sum(e.kind == "model_call" for e in events) == STEPS + 1
    assert sum(e.kind == "tool_call" for e in events) == STEPS

    # Linear: every full continuation costs about the same; quadratic growth would make later
    # ones several times larger than the first.
    full = sizes[:-1]
    assert max(full) < 1.6 * min(full), sizes
    # Per step the history holds the call, its result and a fixed envelope (activity events,
    # tool and profile specs): a constant factor of the messages, never a growing one.
    message_bytes = sum(len(json.dumps(s)) for s in steps) * 2  # the call and its echoed result
    assert sum(sizes) < 15 * message_bytes, (sum(sizes), message_bytes)
    assert sum(sizes) / STEPS < 8_000, sizes  # bytes per step; 1000 steps stay under 10 MB


def test_compaction_keeps_task_summarises_the_middle_and_never_orphans_a_tool_result() -> None:
    messages: list[Any] = [SystemMessage(content="sys"), UserMessage(content="task")]
    for i in range(10):
        messages.append(AssistantMessage(tool_calls=(
            ToolCall(id=f"c{i}", name="echo", arguments={"text": str(i)}),)))
        messages.append(ToolResultMessage(tool_call_id=f"c{i}", name="echo", content=str(i)))
    compacted, dropped = compact(messages, keep_recent=5)
    assert compacted[:2] == messages[:2]
    assert isinstance(compacted[2], UserMessage)
    assert "Summary of" in compacted[2].content
    assert "echo" in compacted[2].content
    assert not isinstance(compacted[3], ToolResultMessage)
    assert len(compacted) - 3 <= 5
    assert dropped == len(messages) - 2 - (len(compacted) - 3)
    assert compact(messages[:4], keep_recent=5) == (messages[:4], 0)
