"""One step's model call. Temporal retries it (the ``chat`` activity's retry policy, never past
the run's wall-clock deadline); the loop logs every attempt from the records the attempts kept,
and decides what a final failure means for the run (:mod:`baton.workflows._call_failure`): fail
over, compact the conversation, or stop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError

from baton.calls import CallSchemas, ChatAttempt, ChatRequest, ChatResponse, ToolSchema
from baton.messages import AssistantMessage
from baton.runs import (
    CompactedEvent,
    FailoverEvent,
    ModelAttemptEvent,
    ModelCallEvent,
    ModelStartedEvent,
    RunStatus,
)
from baton.specs import ServedProfile
from baton.workflows import _activities
from baton.workflows._budget import estimate_tokens, schema_texts
from baton.workflows._call_failure import call_failure, decide
from baton.workflows._history import Conversation, compact
from baton.workflows._tenant import TenantMeter
from baton.workflows._tool_turn import ToolTurn
from baton.workflows._workflow_tools import Finished

__all__ = ["ModelTurn"]


class ModelTurn(ToolTurn):
    """The model-calling half of ``AgentLoop`` (a mixin: it works on the loop's state)."""

    profile_name: str
    tenant: TenantMeter
    schemas_sent: dict[str, CallSchemas]  # by digest: what this workflow run sent in full

    @property
    def profile(self) -> ServedProfile:
        return self.catalog.profiles[self.profile_name]

    async def _call_model(self) -> AssistantMessage:
        """The step's reply; raises ``Finished`` when the call failed for good."""
        began: datetime | None = None  # the step's first attempt, once one failed
        compacted, quota_failed_over = False, False
        while True:
            prefix, delta = self.conversation.outgoing()
            profile, tools = self.profile, self.tool_schemas
            prompt = self._prompt_estimate(tools)
            room, refused = self.budget.room_for_call(
                prompt, max_output=profile.max_output_tokens,
                price_input_per_mtok=profile.price_input_per_mtok,
                price_output_per_mtok=profile.price_output_per_mtok)
            if refused is not None:
                raise Finished(RunStatus.BUDGET_EXHAUSTED, refused)
            # The tenant's budget (when the operator set one) may shorten the answer or refuse.
            room = await self.tenant.room(self, prompt, room)
            now = workflow.now()
            deadline = self.budget.deadline(now)
            if deadline is not None and deadline <= now:  # after a failover or a compaction
                raise Finished(RunStatus.BUDGET_EXHAUSTED,
                               self.budget.exhausted(now) or "wall-clock budget used up")
            schemas = CallSchemas(tools=tools, output_schema=self.agent.output_schema)
            digest = schemas.digest()
            # Sent in full once per workflow run, by reference after that (the worker keeps
            # them, or asks the ``call_schemas`` query): each schema enters history once.
            sent = digest in self.schemas_sent
            self.schemas_sent[digest] = schemas
            request = ChatRequest(
                workflow_id=workflow.info().workflow_id, run_id=self.run_id,
                agent=self.agent.name, profile_name=self.profile_name, profile=profile,
                prefix=prefix, delta=delta, tools=() if sent else tools,
                output_schema=None if sent else schemas.output_schema, schemas_digest=digest,
                step=self.step, max_output_tokens=room)
            self.log.add(ModelStartedEvent, step=self.step, profile=self.profile_name,
                         model=profile.model)  # for live event streams
            try:
                response = await _activities.chat(
                    request, summary=f"chat {profile.model}: {self.agent.name} step {self.step}",
                    deadline=None if deadline is None else deadline - now)
            except ActivityError as exc:
                if isinstance(exc.cause, CancelledError):  # the run is being cancelled
                    raise asyncio.CancelledError from exc
                failure = call_failure(exc, started=now, now=workflow.now())
                began = began or failure.attempts[0].started_at
                self._log_attempts(failure.attempts)
                decision = decide(failure, profile=self.profile, compacted=compacted,
                                  quota_failed_over=quota_failed_over)
                if decision.action == "compact":
                    compacted = self._compact(decision.reason)
                    if not compacted:
                        raise Finished(RunStatus.CONTEXT_EXCEEDED, (
                            f"the conversation does not fit the model's context window and "
                            f"is too short to compact: {failure.message}"),
                            error_type="context_exceeded") from exc
                elif decision.action == "failover":
                    fallback = self.profile.fallback
                    assert fallback is not None  # decide fails over only to a fallback
                    self.log.add(FailoverEvent, step=self.step, from_profile=self.profile_name,
                                 to_profile=fallback, reason=decision.reason)
                    quota_failed_over |= failure.error_type == "ProviderQuotaError"
                    self.profile_name = fallback
                else:
                    raise Finished(decision.status, f"model call failed: {decision.reason}",
                                   error_type=decision.error_type) from exc
                continue
            self.conversation.mark_prompted(prefix.length + len(delta))
            self.budget.learn_prompt(prompt, response.usage.input_tokens)
            self._log_attempts(response.attempts)
            return self._answered(response, began)

    def _prompt_estimate(self, tools: tuple[ToolSchema, ...]) -> int:
        return estimate_tokens(schema_texts(tools, self.agent.output_schema),
                               messages=len(self.conversation),
                               measured_bytes=self.conversation.size)

    def _answered(self, response: ChatResponse, began: datetime | None) -> AssistantMessage:
        reply = response.message.model_copy(update={"agent": self.agent.name})
        if response.refusal and not reply.content:  # the conversation shows what was said
            reply = reply.model_copy(update={"content": response.refusal})
        self.conversation.append(reply)
        if reply == response.message:  # the worker that answered holds it: not sent back again
            self.conversation.mark_sent(len(self.conversation))
        cost = self.profile.cost_usd(response.usage)
        self.budget.charge(response.usage, cost)
        started_at, duration_ms = response.call_time(began)
        self.log.add(
            ModelCallEvent, step=self.step, profile=self.profile_name, model=response.model,
            provider=response.provider, usage=response.usage, cost_usd=cost,
            latency_ms=response.latency_ms, finish_reason=response.finish_reason,
            content=reply.content,
            tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments}
                        for c in reply.tool_calls],
            attempt=response.attempt, started_at=started_at, duration_ms=duration_ms,
            request_id=response.request_id, refusal=response.refusal,
            recovered_tool_calls=response.recovered_tool_calls,
        )
        if reply.content:
            self.last_answer = reply.content
        if response.refusal:
            raise Finished(RunStatus.REFUSED, f"the model refused: {response.refusal}",
                           output=response.refusal, error_type="refused")
        return reply

    def _log_attempts(self, attempts: Sequence[ChatAttempt]) -> None:
        for record in attempts:
            self.log.add(ModelAttemptEvent, step=self.step, profile=self.profile_name,
                         model=self.profile.model, **record.event_fields())

    def _compact(self, reason: str) -> bool:
        """Compact the conversation as continue-as-new does, keeping at most half of it; False
        when there is nothing to compact."""
        messages = self.conversation.messages
        keep = min(self.team.history.keep_recent_messages, max(1, (len(messages) - 2) // 2))
        compacted, dropped = compact(messages, keep)
        if not dropped:
            return False
        self.conversation = Conversation(compacted)  # sent=0: the worker receives it whole
        self.log.add(CompactedEvent, step=self.step, compacted_messages=dropped, reason=reason)
        return True
