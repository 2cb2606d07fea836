"""What providers say, end to end: whole ``AgentWorkflow`` runs (real dev server, in-process
worker) against the scripted model answering with the shapes of ``test_provider_matrix.SHAPES``
or behind a llama.cpp-like proxy, and what ``baton show`` and ``summary`` make of them: refusals,
context windows, prompt-cache tokens, tool calls written as text, empty answers, server quirks,
and every attempt of a model call.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import crash_tools  # noqa: F401  (registers the test tools this module's teams use)
import pytest
from llama_cpp_like import LlamaCppLike
from procs import run_log
from rich.console import Console
from temporalio.client import Client
from test_provider_matrix import SHAPES, completion_body, live

from baton.client import run_result
from baton.client.api import BatonClient
from baton.client.cli._render_debug import run_tree
from baton.client.cli._summary import summary
from baton.loader import parse_team
from baton.runs import (
    CompactedEvent,
    ModelAttemptEvent,
    ModelCallEvent,
    RunInput,
    RunResult,
    RunStatus,
    ToolCallEvent,
    ValidationEvent,
)
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import ModelProfile, TeamSpec

AGENT = "assistant"
NOTE = {"tool_calls": [{"name": "take_note", "arguments": {"text": "remember"}}]}
SCHEMA = {"type": "object", "required": ["note"], "properties": {"note": {"type": "string"}}}
CLAUDE = {"provider": "anthropic", "model": "claude-scripted", "timeout_s": 5.0,
          "price_input_per_mtok": 3.0, "price_output_per_mtok": 15.0,
          "price_cache_read_per_mtok": 0.3, "price_cache_write_per_mtok": 3.75}


@pytest.fixture(scope="module")
def llama(scripted: ScriptedServer) -> Iterator[LlamaCppLike]:
    with LlamaCppLike(scripted) as server:
        yield server


@pytest.fixture
def settings(settings: BatonSettings, llama: LlamaCppLike) -> BatonSettings:
    strict = {"base_url": llama.base_url, "timeout_s": 5.0, "max_attempts": 2}
    return settings.model_copy(update={"profiles": {
        "default": ModelProfile(timeout_s=5.0, price_input_per_mtok=2.0,
                                price_cache_read_per_mtok=0.5),
        "quick": ModelProfile(timeout_s=1.0),  # a hang is noticed in a second
        "claude": ModelProfile.model_validate(CLAUDE),
        "llama": ModelProfile.model_validate(strict),
        "llama_json_object": ModelProfile.model_validate(
            {**strict, "structured_output": "json_object"}),
        "llama_prompt": ModelProfile.model_validate({**strict, "structured_output": "prompt"}),
    }})


def team(*, model: str = "default", schema: dict[str, Any] | None = None,
         instructions: str = "Take notes.", fixes: int = 2) -> TeamSpec:
    return parse_team({"name": "providers", "agents": [{
        "name": AGENT, "description": "Takes notes.", "instructions": instructions,
        "tools": ["take_note"], "model": model, "output_schema": schema, "max_steps": 6,
        "max_output_fix_attempts": fixes}]})


async def run(  # noqa: PLR0917  # the fixtures, then what to run: read like a sentence
        client: Client, settings: BatonSettings, scripted: ScriptedServer, spec: TeamSpec,
        script: list[dict[str, Any]], faults: list[dict[str, Any]] | None = None,
) -> tuple[RunResult, list[Any]]:
    run_id = f"providers-{uuid.uuid4().hex[:10]}"
    scripted.set_script(run_id, {AGENT: script})
    if faults is not None:
        scripted.set_faults(run_id, faults)
    handle = await client.start_workflow("AgentWorkflow", RunInput(team=spec, input="remember"),
                                         id=run_id, task_queue=settings.task_queue,
                                         result_type=RunResult)
    result = await run_result(handle)
    scripted.assert_script_consumed(run_id)
    return result, await run_log(handle)


async def shown(client: Client, settings: BatonSettings, result: RunResult) -> tuple[str, str]:
    """What ``baton show`` and ``baton summary`` print for the run."""
    view = await BatonClient(client, settings).show(result.run_id)
    console = Console(record=True, width=240)
    for part in run_tree(view):
        console.print(part)
    return console.export_text(), "\n".join(summary(view))


def of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


def raw(name: str) -> dict[str, Any]:
    found = SHAPES[name]
    return {"fault": str(found.status), "body": found.body, "headers": live(found.headers)}


@pytest.mark.parametrize(("model", "shape", "schema"), [
    ("default", "openai_refusal", SCHEMA), ("claude", "anthropic_refusal", None)])
async def test_a_refusal_ends_the_agent_refused_and_is_shown(  # noqa: PLR0917  # fixtures
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        model: str, shape: str, schema: dict[str, Any] | None) -> None:
    result, events = await run(client, settings, scripted, team(model=model, schema=schema),
                               [], faults=[raw(shape)])
    refusal = SHAPES[shape].expect["refusal"]
    assert (result.status, result.error_type) == (RunStatus.REFUSED, "refused")
    assert result.reason == f"the model refused: {refusal}" and result.output == refusal
    [call] = of(events, ModelCallEvent)
    assert call.refusal == refusal and call.request_id == SHAPES[shape].expect["request_id"]
    assert not of(events, ValidationEvent)  # not mistaken for an invalid answer
    show, said = await shown(client, settings, result)
    assert f"refused: {refusal}" in show and f"request id: {call.request_id}" in show
    assert "the model refused the task" in said and refusal in said


async def test_context_exceeded_compacts_once_then_ends_typed(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    too_long = raw("openai_context_length_exceeded")
    result, events = await run(client, settings, scripted, team(),
                               [NOTE, NOTE, {"content": "Noted."}],
                               faults=[{"fault": "ok"}, {"fault": "ok"}, too_long])
    assert result.status is RunStatus.COMPLETED, result.reason
    [compacted] = of(events, CompactedEvent)
    assert compacted.compacted_messages == 2
    assert compacted.reason.startswith("ProviderContextError: openai answered HTTP 400: This "
                                       "model's maximum context length")
    _, said = await shown(client, settings, result)
    assert "compacted 2 earlier messages" in said

    result, events = await run(client, settings, scripted, team(), [NOTE],
                               faults=[{"fault": "ok"}, too_long, too_long])
    assert (result.status, result.error_type) == (RunStatus.CONTEXT_EXCEEDED, "context_exceeded")
    assert len(of(events, CompactedEvent)) == 1 and len(of(events, ModelAttemptEvent)) == 2


async def test_prompt_cache_tokens_are_counted_priced_and_shown(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # A system prompt over the providers' 1,024-token minimum, so Anthropic caches it.
    long = "Take notes. " + " ".join(f"Rule {n}: keep note {n} short and factual." for n in
                                     range(150))
    result, events = await run(client, settings, scripted, team(model="claude", instructions=long),
                               [NOTE, {"content": "Noted."}])
    assert result.status is RunStatus.COMPLETED, result.reason
    first, second = (e.usage for e in of(events, ModelCallEvent))
    assert first.cache_write_tokens > 1024 and first.cache_read_tokens == 0
    assert second.cache_read_tokens == first.cache_write_tokens  # the first call's prompt
    assert second.cache_write_tokens > 0  # what the step added
    assert result.usage.cache_read_tokens == second.cache_read_tokens
    assert result.usage.input_tokens == first.input_tokens + second.input_tokens
    fresh = second.input_tokens - second.cache_read_tokens - second.cache_write_tokens
    assert of(events, ModelCallEvent)[1].cost_usd == pytest.approx((
        fresh * 3.0 + second.cache_read_tokens * 0.3 + second.cache_write_tokens * 3.75
        + second.output_tokens * 15.0) / 1e6)
    show, said = await shown(client, settings, result)
    assert f"{second.cache_read_tokens} cached" in show
    assert f"{result.usage.cache_read_tokens} of them from the provider's prompt cache" in said

    # OpenAI's cached_tokens, as its API reports them, at the profile's cache price.
    result, events = await run(client, settings, scripted, team(), [],
                               faults=[raw("openai_cached_tokens")])
    [call] = of(events, ModelCallEvent)
    assert (call.usage.input_tokens, call.usage.cache_read_tokens) == (2006, 1920)
    assert call.cost_usd == pytest.approx((86 * 2.0 + 1920 * 0.5) / 1e6)


async def test_a_tool_call_written_as_text_is_executed(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    leaked = {"fault": "200", "body": completion_body(
        {"content": '```json\n{"name": "take_note", "arguments": {"text": "remember"}}\n```'})}
    result, events = await run(client, settings, scripted, team(), [{"content": "Noted."}],
                               faults=[leaked])
    assert result.status is RunStatus.COMPLETED and result.output == "Noted."
    first = of(events, ModelCallEvent)[0]
    assert first.recovered_tool_calls == 1 and first.content is None
    [tool] = of(events, ToolCallEvent)
    assert (tool.tool, tool.arguments, tool.status) == ("take_note", {"text": "remember"}, "ok")
    show, _ = await shown(client, settings, result)
    assert "1 tool call(s) recovered from the reply's text" in show


async def test_an_empty_answer_is_asked_again_then_invalid(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    result, events = await run(client, settings, scripted, team(),
                               [{"content": ""}, {"content": "Noted."}])
    assert (result.status, result.output) == (RunStatus.COMPLETED, "Noted.")
    assert [e.error_type for e in of(events, ValidationEvent)] == ["empty_answer"]

    result, events = await run(client, settings, scripted, team(fixes=1),
                               [{"content": "  "}, {"content": "functions.take_note:"}])
    assert (result.status, result.error_type) == (RunStatus.OUTPUT_INVALID, "empty_answer")
    assert len(of(events, ValidationEvent)) == 2
    _, said = await shown(client, settings, result)
    assert "kept giving empty answers" in said and "finished successfully" not in said


async def test_llama_cpp_like_server_serves_multi_step_and_structured_runs(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        llama: LlamaCppLike) -> None:
    result, _ = await run(client, settings, scripted, team(model="llama"),
                          [NOTE, {"content": "Noted."}])
    assert result.status is RunStatus.COMPLETED, result.reason  # no "content": null sent
    for model in ("llama_json_object", "llama_prompt"):
        result, _ = await run(client, settings, scripted, team(model=model, schema=SCHEMA),
                              [NOTE, {"json": {"note": "remember"}}])
        assert result.status is RunStatus.COMPLETED, result.reason
        assert result.structured == {"note": "remember"}
    assert llama.refused == []
    # json_schema (the default) is what such a server refuses: typed failure, both attempts seen.
    result, events = await run(client, settings, scripted, team(model="llama", schema=SCHEMA),
                               [])
    assert (result.status, result.error_type) == (RunStatus.FAILED, "ProviderRetryableError")
    assert len(of(events, ModelAttemptEvent)) == 2 and "json_object" in llama.refused[-1]


async def test_every_attempt_is_shown_with_its_step_times_and_request_ids(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    faults = [{"fault": "500", "retry_after": 0.2, "headers": {"x-request-id": "req_boom"}},
              {"fault": "hang", "seconds": 30}]
    result, events = await run(client, settings, scripted, team(model="quick"),
                               [NOTE, {"content": "Noted."}], faults=faults)
    assert result.status is RunStatus.COMPLETED, result.reason
    boom, hung = of(events, ModelAttemptEvent)
    assert (boom.status, boom.request_id, boom.http_status) == ("failed", "req_boom", 500)
    assert (hung.status, hung.attempt, hung.retry_in_s) == ("timed_out", 2, 2.0)
    call = of(events, ModelCallEvent)[0]
    assert call.attempt == 3 and call.started_at == boom.started_at
    assert call.duration_ms is not None and call.duration_ms > call.latency_ms
    assert call.request_id and call.request_id.startswith("req_")
    show, _ = await shown(client, settings, result)
    assert "attempt 1 failed" in show and "[request req_boom]" in show
    assert "attempt 2 timed out" in show and "(3 attempts," in show
    assert "2 failed attempts" in show
    # The step's time runs from its first attempt: at least the 0.2 s wait, the 1 s timeout and
    # the 2 s backoff.
    took = re.search(r"step 1 \(started \d\d:\d\d:\d\d, (\d+\.\d) s\)", show)
    assert took is not None and float(took.group(1)) >= 3.0, show
