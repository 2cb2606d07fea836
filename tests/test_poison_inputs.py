"""Poison inputs: tools that raise, hang, return nonsense or far too much, a
model that sends a huge argument, team files that are wrong in ways people get wrong, run inputs
that are not text or far too long.

Every case must end in something typed (a tool error the model reads, a typed run status, a
``SpecError``, or a refusal at start), never a workflow task failing forever; and after each
poisoned run the same worker must still serve a normal run.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import crash_tools  # noqa: F401  (registers the tools the teams below use)
import pytest
from procs import AGENT, crash_team, run_log
from pydantic import ValidationError
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from baton.activities.memory.tools import BUILTIN_TOOL_MODULE
from baton.client import run_result
from baton.client.api import BatonClient
from baton.errors import RunRefusedError, SpecError
from baton.loader import load_team, parse_team
from baton.runs import MessagesPage, PageRequest, RunInput, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import TeamSpec
from baton.tools import default_registry

MB = 1024 * 1024


async def run(client: Client, settings: BatonSettings, scripted: ScriptedServer, team: TeamSpec,
              script: list[dict[str, Any]], *, task: str = "Do it."
              ) -> tuple[RunResult, WorkflowHandle[Any, RunResult]]:
    run_id = f"poison-{uuid.uuid4().hex[:10]}"
    scripted.set_script(run_id, {AGENT: script})
    handle = await client.start_workflow("AgentWorkflow", RunInput(team=team, input=task),
                                         id=run_id, task_queue=settings.task_queue,
                                         result_type=RunResult)
    return await run_result(handle), handle


async def still_serving(client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    """The same worker runs a plain tool call + answer right after the poison."""
    result, handle = await run(client, settings, scripted, crash_team("take_note"), [
        {"tool_calls": [{"name": "take_note", "arguments": {"text": "still here"}}]},
        {"content": "All good."},
    ])
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.output == "All good."
    scripted.assert_script_consumed(handle.id)


def answer_after(tool: str, arguments: dict[str, Any], expect: str) -> list[dict[str, Any]]:
    """Call ``tool``; the next model turn must see ``expect`` in the tool's answer."""
    return [
        {"tool_calls": [{"name": tool, "arguments": arguments}]},
        {"content": "The tool did not work; I will tell the user.",
         "expect": {"last_message_contains": expect}},
    ]


async def tool_calls(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    return [e for e in await run_log(handle) if e.kind == "tool_call"]


# -- tools -------------------------------------------------------------------------------------

async def test_tool_that_raises_is_an_error_the_model_reads(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    result, handle = await run(client, settings, scripted, crash_team("broken_backend"),
                               answer_after("broken_backend", {"reason": "boom"}, "backend exploded"))
    assert result.status is RunStatus.COMPLETED, result.reason
    [call] = await tool_calls(handle)
    assert call.status == "error" and call.error_type == "tool_raised"
    assert "RuntimeError: backend exploded: boom" in call.content
    scripted.assert_script_consumed(handle.id)
    await still_serving(client, settings, scripted)


async def test_tool_that_hangs_times_out_and_the_model_hears_it_is_unavailable(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # hung_backend: timeout_s=1, RetrySpec(max_attempts=2, initial_interval_s=0.1).
    result, handle = await run(client, settings, scripted, crash_team("hung_backend"),
                               answer_after("hung_backend", {"seconds": 3600}, "unavailable"))
    assert result.status is RunStatus.COMPLETED, result.reason
    [call] = await tool_calls(handle)
    assert call.status == "error" and call.error_type == "tool_unavailable"
    assert "timeout" in call.content.lower(), call.content
    history = await handle.fetch_history()
    [started] = [e.activity_task_started_event_attributes for e in history.events
                 if e.HasField("activity_task_started_event_attributes")
                 and e.activity_task_started_event_attributes.attempt > 1]
    assert started.attempt == 2  # retried once, as the tool's RetrySpec says, then given up
    scripted.assert_script_consumed(handle.id)
    await still_serving(client, settings, scripted)


async def test_tool_returning_a_value_without_json_form_is_a_typed_error(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    result, handle = await run(client, settings, scripted, crash_team("opaque_value"),
                               answer_after("opaque_value", {"what": "x"}, "cannot be turned"))
    assert result.status is RunStatus.COMPLETED, result.reason
    [call] = await tool_calls(handle)
    assert call.status == "error" and call.error_type == "unserialisable_result"
    assert "object" in call.content
    scripted.assert_script_consumed(handle.id)
    await still_serving(client, settings, scripted)


async def test_ten_megabyte_tool_result_is_truncated_and_history_stays_small(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    result, handle = await run(client, settings, scripted, crash_team("huge_text"), [
        {"tool_calls": [{"name": "huge_text", "arguments": {"megabytes": 10}}]},
        {"content": "That was long.", "expect": {"last_message_contains": "truncated"}},
    ])
    assert result.status is RunStatus.COMPLETED, result.reason
    [call] = await tool_calls(handle)
    assert call.status == "ok"
    assert call.result is None  # too big for the run log: omitted, not carried through history
    limit = settings.max_tool_result_chars
    assert call.content.startswith("x" * limit)
    assert f"{limit} of {10 * MB} characters shown" in call.content
    assert len(call.content) < limit + 200
    messages = await handle.query("messages", PageRequest(), result_type=MessagesPage)
    [tool_message] = [m for m in messages.messages if m.kind == "tool"]
    assert len(tool_message.content) < limit + 200  # what the model read
    history = await handle.fetch_history()
    size = sum(event.ByteSize() for event in history.events)
    assert size < 256 * 1024, f"history is {size} bytes"
    scripted.assert_script_consumed(handle.id)
    await still_serving(client, settings, scripted)


async def test_model_sending_a_huge_tool_argument_gets_a_typed_outcome(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    base = crash_team("take_note")
    # No token budget: the point is what the tool path does with 2 MB, not the budget.
    team = base.model_copy(update={"budget": base.budget.model_copy(
        update={"max_tokens": None, "max_cost_usd": None})})
    result, handle = await run(client, settings, scripted, team, [
        {"tool_calls": [{"name": "take_note", "arguments": {"text": "y" * (2 * MB)}}]},
        {"content": "I will send less.", "expect": {"last_message_contains": "smaller"}},
    ])
    assert result.status is RunStatus.COMPLETED, result.reason
    [call] = await tool_calls(handle)
    assert call.status == "error" and call.error_type == "invalid_arguments"
    assert "exceed" in call.content and "smaller arguments" in call.content
    history = await handle.fetch_history()
    size = sum(event.ByteSize() for event in history.events)
    assert size < 256 * 1024, f"history is {size} bytes"
    scripted.assert_script_consumed(handle.id)
    await still_serving(client, settings, scripted)


async def test_huge_tool_argument_is_explained_to_the_model_not_run(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    """A model that returns a 2 MB tool call (no provider should, whatever max_tokens says):
    the call becomes an invalid one the model is told about, the tool never runs with it, the
    2 MB never enter the run's history, and the run goes on to a typed end."""
    result, handle = await run(client, settings, scripted, crash_team("take_note"), answer_after(
        "take_note", {"text": "y" * (2 * MB)}, expect="call the tool again with smaller"))
    assert result.status is RunStatus.COMPLETED, result.reason
    [call] = await tool_calls(handle)
    assert call.status == "error" and call.error_type == "invalid_arguments", call
    history = await handle.fetch_history()
    assert sum(event.ByteSize() for event in history.events) < MB
    scripted.assert_script_consumed(handle.id)
    await still_serving(client, settings, scripted)


# -- team files --------------------------------------------------------------------------------

AGENT_YAML = """
agents:
  - name: clerk
    description: Takes notes.
    instructions: Take notes.
    tools: [take_note]
"""

WORKER_OWNED_MODELS = """
name: broken
models:
  default: {model: baton-scripted, base_url: "http://attacker.example/v1"}
""" + AGENT_YAML

WORKER_OWNED_MODULES = """
name: broken
tool_modules: [os]
""" + AGENT_YAML


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "team.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "key"), [
    (WORKER_OWNED_MODELS, "models"), (WORKER_OWNED_MODULES, "tool_modules"),
], ids=["models", "tool_modules"])
def test_team_file_defining_what_the_worker_owns_is_a_located_spec_error(
        tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_team(path)
    assert caught.value.file == str(path)
    assert caught.value.location == key
    assert f"unknown key {key!r}" in caught.value.problem
    assert "baton.toml" in caught.value.problem  # says where it belongs now


@pytest.mark.parametrize(("profiles", "problem"), [
    ({"default": {"fallback": "default"}}, "cycle: default -> default"),
    ({"default": {"fallback": "backup"}, "backup": {"fallback": "default"}},
     "cycle: default -> backup -> default"),
    ({"default": {"fallback": "nowhere"}}, "falls back to 'nowhere', which is not configured"),
], ids=["self", "a-b-a", "unknown"])
def test_worker_profiles_that_fall_back_in_a_cycle_or_nowhere_are_refused(
        profiles: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        BatonSettings(profiles=profiles)


def served_tools(settings: BatonSettings) -> list[str]:
    """What a worker serves: its tool modules' tools and the built-in memory tools."""
    names = {*default_registry.serving(settings.tool_modules).names(),
             *default_registry.serving([BUILTIN_TOOL_MODULE]).names()}
    return sorted(names)


async def test_run_naming_an_unserved_profile_or_tool_is_refused_at_start(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = parse_team({"name": "unserved", "agents": [{
        "name": "clerk", "description": "Takes notes.", "instructions": "Take notes.",
        "model": "gpt-9", "tools": ["take_note", "wire_money"]}]})
    run_id = f"poison-unserved-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RunRefusedError) as caught:
        await BatonClient(client, settings).start(team, "note this", run_id=run_id)
    error = caught.value
    assert error.run_id == run_id and error.location == "agents[0].model"
    assert error.problems == [
        "agents[0].model: model profile 'gpt-9' is not served by the worker (served: default)",
        f"agents[0].tools[1]: tool 'wire_money' is not served by the worker (served: "
        f"{', '.join(served_tools(settings))})"]
    # The refused run is closed, typed, and nothing was asked of a model.
    result = await run_result(client.get_workflow_handle(run_id))
    assert result.status is RunStatus.FAILED and result.error_type == "not_served"
    assert "wire_money" in (result.reason or "") and scripted.calls(run_id) == []
    await still_serving(client, settings, scripted)


def test_team_file_that_is_not_utf8_is_a_spec_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"name: caf\xe9\n" + AGENT_YAML.encode())
    with pytest.raises(SpecError) as caught:
        load_team(path)
    assert caught.value.file == str(path)
    assert "not UTF-8" in caught.value.problem and "0xe9" in caught.value.problem


# -- run inputs --------------------------------------------------------------------------------

async def _absent(client: Client, run_id: str) -> bool:
    try:
        await client.get_workflow_handle(run_id).describe()
    except RPCError:
        return True
    return False


async def test_input_with_lone_surrogates_is_refused_at_start(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    baton = BatonClient(client, settings)
    run_id = f"poison-surrogate-{uuid.uuid4().hex[:8]}"
    # The run input refuses text that cannot be encoded, before anything reaches Temporal (no
    # stuck workflow can exist).
    with pytest.raises(ValidationError, match="not valid Unicode text"):
        await baton.start(crash_team("take_note"), "refund order A1001 \udcff please", run_id=run_id)
    assert await _absent(client, run_id)
    await still_serving(client, settings, scripted)


async def test_five_megabyte_input_is_refused_at_start(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    baton = BatonClient(client, settings)
    run_id = f"poison-long-{uuid.uuid4().hex[:8]}"
    # Refused with a reason before it reaches Temporal (which would reject the payload with an
    # RPC error: gRPC's 4 MB message limit, or the 2 MB blob limit).
    with pytest.raises(ValidationError, match="a run takes at most 1,000,000"):
        await baton.start(crash_team("take_note"), "z" * (5 * MB), run_id=run_id)
    assert await _absent(client, run_id)
    await still_serving(client, settings, scripted)
