"""The llm activity over real loopback HTTP (the scripted model server) and a real Temporal worker.

Retries are Temporal's: these tests check that each provider failure reaches Temporal with the
right classification (retried or not, and after how long), by reading the workflow's history.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import httpx
    import pytest
    from pydantic import BaseModel, Field
    from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
    from temporalio.exceptions import ActivityError, ApplicationError
    from temporalio.worker import Worker

    from baton.activities.llm import LlmActivities
    from baton.calls import ChatRequest, ChatResponse, ToolSchema
    from baton.messages import (
        EMPTY_DIGEST,
        AssistantMessage,
        ConversationRef,
        Message,
        SystemMessage,
        ToolCall,
        ToolResultMessage,
        UserMessage,
        chain_digest,
    )
    from baton.runs import MessagesPage, PageRequest
    from baton.settings import BatonSettings
    from baton.specs import ModelProfile, ServedProfile


class ChatJob(BaseModel):
    run_id: str
    agent: str = "a1"
    profile_name: str = "default"
    profile: ServedProfile = ServedProfile()
    history: list[Message] = Field(default_factory=list)  # held before the first call
    turns: list[list[Message]]  # messages the workflow appends before each call
    tools: list[ToolSchema] = Field(default_factory=list)
    start_to_close_s: float = 10.0
    max_attempts: int = 3
    initial_interval_s: float = 0.1
    wrong_digest: bool = False


@workflow.defn(name="LlmChatTest")
class ChatTestWorkflow:
    """A minimal agent loop: keeps the conversation, sends prefix ref + delta, appends replies,
    and answers the ``messages`` query the worker uses to rebuild a prefix."""

    def __init__(self) -> None:
        self._messages: list[Message] = []

    @workflow.run
    async def run(self, job: ChatJob) -> list[ChatResponse]:
        self._messages = list(job.history)
        digests = [EMPTY_DIGEST]
        sent = len(self._messages)
        responses: list[ChatResponse] = []
        step = 0
        # One call per turn, plus one more after every reply that asked for tools.
        while step < len(job.turns) or (responses and responses[-1].message.tool_calls):
            if step < len(job.turns):
                self._messages.extend(job.turns[step])
            while len(digests) <= len(self._messages):
                digests.append(chain_digest(digests[-1], self._messages[len(digests) - 1]))
            digest = "0" * 64 if job.wrong_digest else digests[sent]
            request = ChatRequest(
                workflow_id=workflow.info().workflow_id, run_id=job.run_id, agent=job.agent,
                profile_name=job.profile_name, profile=job.profile,
                prefix=ConversationRef(length=sent, digest=digest),
                delta=tuple(self._messages[sent:]), tools=tuple(job.tools), step=step,
            )
            response = await workflow.execute_activity_method(
                LlmActivities.chat, request,
                start_to_close_timeout=timedelta(seconds=job.start_to_close_s),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=job.initial_interval_s),
                    maximum_attempts=job.max_attempts,
                ),
            )
            # The reply is not part of what was sent: it travels in the next call's delta.
            sent = len(self._messages)
            self._messages.append(response.message)
            self._messages.extend(_tool_results(response))
            responses.append(response)
            step += 1
        return responses

    @workflow.query(name="messages")
    def messages(self, page: PageRequest) -> MessagesPage:
        chunk = self._messages[page.offset : page.offset + page.limit]
        return MessagesPage(offset=page.offset, total=len(self._messages), messages=chunk)


def _tool_results(response: ChatResponse) -> list[Message]:
    return [
        ToolResultMessage(
            tool_call_id=call.id, name=call.name, is_error=call.raw_arguments is not None,
            content=f"invalid arguments: {call.raw_arguments}" if call.raw_arguments is not None
            else f"{call.arguments.get('city')}: -3C",
        )
        for call in response.message.tool_calls
    ]


WEATHER = ToolSchema(
    name="weather", description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
HELLO: list[Message] = [SystemMessage(content="Be brief."), UserMessage(content="Weather in Oslo?")]


@asynccontextmanager
async def running(
    client: Client, settings: BatonSettings, activities: LlmActivities | None = None
) -> AsyncIterator[LlmActivities]:
    async with httpx.AsyncClient(trust_env=False) as http:
        acts = activities or LlmActivities(settings=settings, http=http, temporal_client=client)
        async with Worker(
            client, task_queue=settings.task_queue, workflows=[ChatTestWorkflow],
            activities=[acts.chat],
        ):
            yield acts


async def start(client: Client, settings: BatonSettings, job: ChatJob) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        ChatTestWorkflow.run, job, id=f"llm-{uuid.uuid4().hex[:12]}",
        task_queue=settings.task_queue,
    )


async def attempts(handle: WorkflowHandle[Any, Any]) -> list[tuple[int, str]]:
    """(attempt, type of the previous attempt's failure) per completed activity, from history."""
    out = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_started_event_attributes"):
            attrs = event.activity_task_started_event_attributes
            failure = attrs.last_failure
            kind = failure.application_failure_info.type or (
                "timeout" if failure.HasField("timeout_failure_info") else ""
            )
            out.append((attrs.attempt, kind))
    return out


def new_run() -> str:
    return f"run-{uuid.uuid4().hex[:12]}"


async def expect_failure(handle: WorkflowHandle[Any, Any]) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    activity_error = info.value.cause
    assert isinstance(activity_error, ActivityError)
    assert isinstance(activity_error.cause, ApplicationError)
    return activity_error.cause


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_round_trip_with_tool_calls(
    client: Client, scripted: Any, settings: BatonSettings, provider: str
) -> None:
    run_id = new_run()
    # ``expect`` makes the server answer 400 when the conversation it receives is not the one
    # the converters should have produced (tool results, error results, the tools offered).
    scripted.set_script(run_id, {"a1": [
        {"tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}],
         "expect": {"last_message_contains": "Oslo?", "tools_include": ["weather"]}},
        {"raw_arguments": "{city: Rome", "name": "weather",
         "expect": {"last_message_contains": "Oslo: -3C"}},
        {"content": "It is cold.", "expect": {"last_message_contains": "invalid arguments"}},
    ]})
    profile = ServedProfile.model_validate({"provider": provider})
    async with running(client, settings):
        handle = await start(client, settings, ChatJob(
            run_id=run_id, profile=profile, turns=[HELLO], tools=[WEATHER],
        ))
        responses = await handle.result()
    scripted.assert_script_consumed(run_id)
    assert responses[0].message.tool_calls[0].arguments == {"city": "Oslo"}
    bad = responses[1].message.tool_calls[0]
    assert (bad.name, bad.arguments, bad.raw_arguments) == ("weather", {}, "{city: Rome")
    final = responses[2]
    assert final.message.content == "It is cold."
    assert final.message.agent == "a1"
    assert final.provider == provider
    assert final.model == "baton-scripted"
    assert final.usage.input_tokens > 0
    assert final.usage.output_tokens > 0
    assert final.finish_reason in ("stop", "end_turn")
    assert final.latency_ms > 0
    calls = scripted.calls(run_id)
    assert [(c["api"], c["step"], c["status"]) for c in calls] == [
        (provider, str(i), 200) for i in range(3)
    ]


async def test_connection_comes_from_the_workers_profile_of_that_name(
    client: Client, scripted: Any, settings: BatonSettings
) -> None:
    # The worker's fallback URL leads nowhere: only the worker's own `default` profile knows where
    # the model is. The request names the profile; it never carries a URL or a key variable.
    run_id = new_run()
    scripted.set_script(run_id, {"a1": [{"content": "hi"}]})
    configured = settings.model_copy(update={
        "model_server_url": "http://127.0.0.1:9/v1",
        "profiles": {"default": ModelProfile(base_url=scripted.base_url)}})
    async with running(client, configured):
        [response] = await (await start(client, configured, ChatJob(
            run_id=run_id, turns=[HELLO]))).result()
    assert response.message.content == "hi"

    missing = f"BATON_TEST_MISSING_{uuid.uuid4().hex[:6].upper()}"
    keyed = settings.model_copy(update={"profiles": {"default": ModelProfile(api_key_env=missing)}})
    async with running(client, keyed):
        handle = await start(client, keyed, ChatJob(run_id=new_run(), turns=[HELLO]))
        error = await expect_failure(handle)
    assert error.type == "ProviderAuthError" and missing in error.message
    assert await attempts(handle) == [(1, "")]

    # A profile the run recorded but the worker no longer serves: a configuration error, loud.
    async with running(client, settings):
        handle = await start(client, settings, ChatJob(run_id=new_run(), turns=[HELLO],
                                                       profile_name="retired"))
        error = await expect_failure(handle)
    assert error.type == "ProviderRequestError" and "'retired' is no longer served" in error.message
    assert await attempts(handle) == [(1, "")]


# --- failures: what Temporal retries, and when ---------------------------------------------------


async def test_429_is_retried_after_retry_after(
    client: Client, scripted: Any, settings: BatonSettings
) -> None:
    run_id = new_run()
    delay = 1.5  # far above initial_interval (0.1 s): only next_retry_delay explains the wait
    scripted.set_faults(run_id, [{"fault": "429", "retry_after": delay}])
    scripted.set_script(run_id, {"a1": [{"content": "after the rate limit"}]})
    async with running(client, settings):
        started = time.monotonic()
        handle = await start(client, settings, ChatJob(run_id=run_id, turns=[HELLO]))
        [response] = await handle.result()
        elapsed = time.monotonic() - started
    assert response.message.content == "after the rate limit"
    assert elapsed >= delay - 0.2
    assert await attempts(handle) == [(2, "ProviderRetryableError")]
    scripted.assert_script_consumed(run_id)


async def test_500_is_retried(client: Client, scripted: Any, settings: BatonSettings) -> None:
    run_id = new_run()
    scripted.set_faults(run_id, [{"fault": "500"}, {"fault": "503"}])
    scripted.set_script(run_id, {"a1": [{"content": "third time lucky"}]})
    async with running(client, settings):
        handle = await start(client, settings, ChatJob(run_id=run_id, turns=[HELLO]))
        [response] = await handle.result()
    assert response.message.content == "third time lucky"
    assert await attempts(handle) == [(3, "ProviderRetryableError")]


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [("401", "ProviderAuthError"), ("400", "ProviderRequestError"),
     ("malformed", "ProviderResponseError")],
)
async def test_non_retryable_failures(
    client: Client, scripted: Any, settings: BatonSettings, fault: str, error_type: str
) -> None:
    run_id = new_run()
    scripted.set_faults(run_id, [{"fault": fault}])
    scripted.set_script(run_id, {"a1": [{"content": "never reached"}]})
    async with running(client, settings):
        handle = await start(client, settings, ChatJob(run_id=run_id, turns=[HELLO]))
        error = await expect_failure(handle)
    assert error.type == error_type
    assert error.non_retryable
    assert await attempts(handle) == [(1, "")]
    assert scripted.leftovers(run_id) == {"a1": 1}  # exactly one HTTP call was made
    assert len(scripted.calls(run_id)) == 1


async def test_hanging_call_times_out_and_is_retried(
    client: Client, scripted: Any, settings: BatonSettings
) -> None:
    run_id = new_run()
    scripted.set_faults(run_id, [{"fault": "hang", "seconds": 5}])
    scripted.set_script(run_id, {"a1": [{"content": "awake"}]})
    async with running(client, settings):
        started = time.monotonic()
        handle = await start(client, settings, ChatJob(
            run_id=run_id, turns=[HELLO], start_to_close_s=1.5,
        ))
        [response] = await handle.result()
        elapsed = time.monotonic() - started
    assert response.message.content == "awake"
    assert elapsed >= 1.5
    assert await attempts(handle) == [(2, "timeout")]


# --- the conversation prefix cache (docs/architecture.md#linear-history) ----------------------------------------


async def test_second_call_hits_the_cache(
    client: Client, scripted: Any, settings: BatonSettings
) -> None:
    run_id = new_run()
    scripted.set_script(run_id, {"a1": [
        {"content": "Cold."},
        {"content": "Still cold.", "expect": {"last_message_contains": "And tomorrow?"}},
    ]})
    async with running(client, settings) as acts:
        handle = await start(client, settings, ChatJob(
            run_id=run_id, turns=[HELLO, [UserMessage(content="And tomorrow?")]],
        ))
        responses = await handle.result()
    assert [r.message.content for r in responses] == ["Cold.", "Still cold."]
    assert (acts.cache.stats.hits, acts.cache.stats.misses) == (1, 0)
    cached = acts.cache.get((handle.id, "a1"))
    # The worker keeps its own reply too: a workflow that appends it unchanged need not send it.
    assert cached == [*HELLO, responses[0].message, UserMessage(content="And tomorrow?"),
                      responses[1].message]
    scripted.assert_script_consumed(run_id)


async def test_fresh_worker_rebuilds_prefix_from_query(
    client: Client, scripted: Any, settings: BatonSettings
) -> None:
    run_id = new_run()
    # More than one query page (200), so the rebuild has to paginate.
    history: list[Message] = [SystemMessage(content="Be brief.")]
    history += [UserMessage(content=f"note {i}") for i in range(450)]
    scripted.set_script(run_id, {"a1": [
        {"content": "Noted.", "expect": {"last_message_contains": "summarise"}},
    ]})
    async with running(client, settings) as acts:
        assert len(acts.cache) == 0
        handle = await start(client, settings, ChatJob(
            run_id=run_id, history=history, turns=[[UserMessage(content="Now summarise.")]],
        ))
        [response] = await handle.result()
    assert response.message.content == "Noted."
    assert (acts.cache.stats.hits, acts.cache.stats.misses) == (0, 1)
    assert acts.cache.get((handle.id, "a1")) == [*history, UserMessage(content="Now summarise."),
                                                 response.message]


async def test_wrong_digest_is_a_non_retryable_mismatch(
    client: Client, scripted: Any, settings: BatonSettings
) -> None:
    run_id = new_run()
    async with running(client, settings):
        handle = await start(client, settings, ChatJob(
            run_id=run_id, history=HELLO, turns=[[UserMessage(content="more")]],
            wrong_digest=True,
        ))
        error = await expect_failure(handle)
    assert error.type == "ConversationMismatchError"
    assert error.non_retryable
    assert "length 2" in error.message
    assert await attempts(handle) == [(1, "")]
    assert scripted.calls(run_id) == []  # the model never saw a wrong conversation


def test_cache_is_bounded() -> None:
    from baton.activities.llm.conversations import ConversationCache, digests_of

    cache = ConversationCache(max_size=2)
    for name in ("a", "b", "c"):
        cache.store(("wf", name), HELLO, digests_of(HELLO))
    assert len(cache) == 2
    assert cache.get(("wf", "a")) is None
    assert cache.stats.evictions == 1
    ref = ConversationRef(length=1, digest=digests_of(HELLO)[1])
    assert cache.lookup(("wf", "b"), ref) == HELLO[:1]
    assert cache.lookup(("wf", "b"), ConversationRef(length=1, digest="x")) is None
    assert cache.lookup(("wf", "b"), ConversationRef(length=3, digest="x")) is None



def test_a_reply_is_completed_with_the_results_this_worker_ran_in_call_order() -> None:
    from baton.activities.llm.conversations import ConversationCache, digests_of

    calls = (ToolCall(id="c1", name="weather", arguments={"city": "Paris"}),
             ToolCall(id="c2", name="weather", arguments={"city": "Oslo"}))
    reply = AssistantMessage(tool_calls=calls)
    first, second = (ToolResultMessage(tool_call_id=c.id, name=c.name, content=f"sunny {c.id}")
                     for c in calls)
    whole = [*HELLO, reply, first, second]
    ref = ConversationRef(length=len(whole), digest=digests_of(whole)[-1])
    key = ("wf", "a1")

    cache = ConversationCache(max_size=4)
    cache.store(key, HELLO, digests_of(HELLO))
    cache.answered(key, reply)
    cache.tool_answered(key, second)  # finished first: the order is the calls', not the finish
    cache.tool_answered(key, ToolResultMessage(tool_call_id="c9", name="weather", content="?"))
    assert cache.lookup(key, ref) is None  # one result is still missing
    cache.tool_answered(key, first)
    assert cache.lookup(key, ref) == whole
    # Only the first result: the workflow sends the second in the delta.
    cache.store(key, HELLO, digests_of(HELLO))
    cache.answered(key, reply)
    cache.tool_answered(key, first)
    cache.tool_answered(key, second)
    assert cache.lookup(key, ConversationRef(length=len(whole) - 1,
                                             digest=digests_of(whole)[-2])) == whole[:-1]

    # A result the workflow changed (or another attempt gave) makes another digest: no hit,
    # and nothing of it is kept.
    cache.store(key, HELLO, digests_of(HELLO))
    cache.answered(key, reply)
    cache.tool_answered(key, first)
    cache.tool_answered(key, second.model_copy(update={"content": "rain"}))
    assert cache.lookup(key, ref) is None
    assert cache.get(key) == [*HELLO, reply]
    # A result for a conversation this worker does not hold is not kept either.
    cache.tool_answered(("wf", "other"), first)
    assert cache.get(("wf", "other")) is None
