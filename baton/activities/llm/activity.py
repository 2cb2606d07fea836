"""The ``chat`` activity: one model call, with the conversation rebuilt from the prefix cache.

Everything that must not be in a workflow lives here: the HTTP client, where each model profile
connects (the worker's own configuration, looked up by the profile's name), the API key (read
from the worker's environment on every call, so rotating a key needs no redeploy and the key
never enters workflow history) and the conversation cache. The request body follows the profile
the run recorded at admission (model, max tokens, temperature), so one run stays consistent with
what it was priced at. Failures leave as ``ApplicationError``s classified by
:mod:`baton.activities.llm.errors`, and Temporal retries the retryable ones (the activity's retry
policy, the wait the provider asked for as ``next_retry_delay``); every attempt keeps a record
of itself for the run log (:mod:`baton.activities.llm.attempts`).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from baton.activities.llm import anthropic, openai
from baton.activities.llm.attempts import AttemptLog
from baton.activities.llm.conversations import CallSchemaCache, ConversationCache
from baton.activities.llm.errors import to_application_error
from baton.activities.llm.summarize import caller, prompt_for
from baton.calls import ChatRequest, ChatResponse
from baton.errors import (
    BatonError,
    ProviderAuthError,
    ProviderRequestError,
    ProviderRetryableError,
)
from baton.messages import Message
from baton.settings import BatonSettings
from baton.specs import ModelProfile
from baton.telemetry.logs import register_secret
from baton.telemetry.spans import observe_chat

__all__ = ["LlmActivities", "bounded_reply"]

_Call = Callable[..., Awaitable[ChatResponse]]
_ADAPTERS: Mapping[str, _Call] = {"openai": openai.call, "anthropic": anthropic.call}


def _version() -> str:
    try:
        return importlib.metadata.version("baton")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0"


_USER_AGENT = f"baton/{_version()}"


class LlmActivities:
    """Holds the worker's long-lived pieces; register ``LlmActivities(...).chat`` on the worker.

    ``http`` and ``temporal_client`` may be attached after construction: ``BatonPlugin`` opens
    the HTTP client with the worker and hands over the worker's Temporal client."""

    def __init__(
        self, *, settings: BatonSettings, http: httpx.AsyncClient | None = None,
        temporal_client: Client | None = None,
    ) -> None:
        self.http = http
        self.temporal_client = temporal_client
        self._settings = settings
        self.cache = ConversationCache(max_size=settings.prefix_cache_size)
        self.schemas = CallSchemaCache()

    @activity.defn(name="chat")
    async def chat(self, request: ChatRequest) -> ChatResponse:
        api_key: str | None = None
        attempts = AttemptLog()  # this attempt's record, after the earlier attempts'
        # The ``chat {model}`` span, token/cost/latency metrics (baton.telemetry.spans).
        with observe_chat(request) as observed:
            try:
                connection = self._connection(request.profile_name)
                api_key = _api_key(connection)
                register_secret(api_key)  # never in a log line, whatever a provider echoes
                messages = prompt_for(request, await self.cache.resolve(
                    workflow_id=request.workflow_id, agent=request.agent, prefix=request.prefix,
                    delta=request.delta, client=self.temporal_client,
                ))  # a summariser call is sent its own prompt (working memory)
                request = await self.schemas.resolve(request, self.temporal_client)
                observed.input(messages)
                if request.max_output_tokens is not None:  # the run's budget caps this answer
                    capped = min(request.max_output_tokens, request.profile.max_output_tokens)
                    request = request.model_copy(update={"profile": request.profile.model_copy(
                        update={"max_output_tokens": capped})})
                response = await _heartbeating(self._send(
                    request, messages, connection, api_key), attempts)
                observed.response(response)
                if request.summarize is None:  # a summary is not part of the conversation
                    self.cache.answered((request.workflow_id, request.agent), response.message)
                return attempts.answered(response)
            except Exception as exc:  # every failed attempt is recorded, whatever failed
                error = self._failure(request, exc, api_key)
                observed.error(error.type, getattr(exc, "request_id", None))
                retry_after = exc.retry_after if isinstance(exc, ProviderRetryableError) else None
                # ``from None``: the ApplicationError already carries type, message and details;
                # the Python cause would only add a second, unclassified failure to the chain.
                raise attempts.failed(error, retry_after=retry_after) from None

    def _connection(self, name: str) -> ModelProfile:
        """Where this worker connects for profile ``name`` (its own configuration)."""
        profile = self._settings.profiles.get(name)
        if profile is None:
            # Served when the run was admitted, gone since (a redeploy dropped it): not
            # something a retry or the model can fix.
            raise ProviderRequestError(
                f"model profile {name!r} is no longer served by this worker (served: "
                f"{', '.join(sorted(self._settings.profiles))})", provider="baton")
        return profile

    @staticmethod
    def _failure(request: ChatRequest, exc: Exception, api_key: str | None) -> ApplicationError:
        # Anything else that went wrong here (a bug, an exception a library let through) is
        # retried by Temporal like a transport error, and recorded like any failed attempt.
        error = to_application_error(exc) if isinstance(exc, BatonError) else ApplicationError(
            str(exc) or type(exc).__name__, type=type(exc).__name__)
        if api_key and api_key in error.message:  # a provider may echo the key it refused
            error = _redacted(error, api_key)
        activity.logger.warning(
            "chat failed: %s (%s, attempt %d, non_retryable=%s, request id %s)", error.type,
            request.profile.model, activity.info().attempt, error.non_retryable,
            getattr(exc, "request_id", None) or "-",
        )
        return error

    async def _send(
        self, request: ChatRequest, messages: Sequence[Message], connection: ModelProfile,
        api_key: str | None,
    ) -> ChatResponse:
        headers = {
            # The scripted model server attributes calls (scripts, faults) by these headers; real
            # providers ignore them, and they make proxy logs (LiteLLM) traceable to a run.
            "X-Baton-Run-Id": request.run_id,
            "X-Baton-Workflow-Id": request.workflow_id,
            "X-Baton-Agent": caller(request),
            "X-Baton-Step": str(request.step),
            "X-Baton-Attempt": str(activity.info().attempt),
            "User-Agent": _USER_AGENT,
        }
        base_url = connection.base_url or self._settings.resolved_model_server_url
        if self.http is None:
            raise RuntimeError("LlmActivities has no HTTP client: run it inside its worker")
        response = await _ADAPTERS[request.profile.provider](
            self.http, request, messages, base_url=base_url, api_key=api_key, headers=headers
        )
        return bounded_reply(response, self._settings.max_model_output_chars)


HEARTBEAT_EVERY_S = 2.0
FIRST_HEARTBEAT_S = 0.1


async def _heartbeating(call: Awaitable[ChatResponse], attempts: AttemptLog) -> ChatResponse:
    """Heartbeat while a model call is in flight, so a worker that dies mid-call is noticed
    within the workflow's heartbeat timeout (seconds), not its start-to-close timeout (which
    must allow for slow models). Each heartbeat carries the attempt records (a lost attempt's
    record says how long it was known to run).

    The first one goes out 0.1 s into the call, not at its start: a heartbeat is a write on the
    server (against a model that answers at once, one per call took an agent step from 1.04-1.11x
    the same agent written by hand on Temporal to 1.20-1.34x, docs/performance.md). A call
    answered sooner (a local model, a cached reply) sends none; a longer one is on record."""
    task = asyncio.ensure_future(call)
    wait = FIRST_HEARTBEAT_S
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=wait)
            if done:
                return task.result()
            attempts.beat()
            wait = HEARTBEAT_EVERY_S
    finally:
        task.cancel()  # a no-op when done; stops the HTTP call if this activity is cancelled


def bounded_reply(response: ChatResponse, limit: int) -> ChatResponse:
    """A reply must fit a Temporal payload and a sane history: over-long text is cut with a note,
    and an over-long tool argument becomes an invalid call the tool activity explains to the
    model, never an activity result the server refuses (which would retry forever)."""
    message = response.message
    content = message.content
    if content is not None and len(content) > limit:
        content = f"{content[:limit]}\n[truncated: {limit} of {len(content)} characters kept]"
    calls = []
    for call in message.tool_calls:
        size = len(json.dumps(call.arguments)) + len(call.raw_arguments or "")
        calls.append(call if size <= limit else call.model_copy(update={
            "arguments": {}, "raw_arguments": (
                f"[{size} characters of arguments exceed the {limit}-character limit; "
                "call the tool again with smaller arguments]")}))
    if content == message.content and calls == list(message.tool_calls):
        return response
    return response.model_copy(update={
        "message": message.model_copy(update={"content": content, "tool_calls": tuple(calls)})})


def _api_key(profile: ModelProfile) -> str | None:
    """The key from the worker's environment; profiles without ``api_key_env`` send none (the
    scripted server, a local vLLM or Ollama)."""
    if profile.api_key_env is None:
        return None
    key = os.environ.get(profile.api_key_env)
    if not key:
        raise ProviderAuthError(
            f"environment variable {profile.api_key_env} (api_key_env of model {profile.model!r}) "
            "is not set on the worker",
            provider=profile.provider,
        )
    return key


def _redacted(error: ApplicationError, api_key: str) -> ApplicationError:
    return ApplicationError(
        error.message.replace(api_key, "***"),
        *error.details,
        type=error.type,
        non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay,
    )
