"""Model calls as their history shows them: each ``chat`` activity's request and final outcome.

Temporal retries a model call inside one activity, so history holds only how it ended; the
attempts recorded themselves (``baton.activities.llm.attempts``), and their records travel with
that end: an answer's ``attempts``, a final failure's details, a final timeout's last heartbeat
details. From them come the ``model_attempt`` events, then the ``model_call`` with the attempt
it was answered on, when the step's call began (its first attempt, across a failover or a
compaction), how long it took, the request id, a refusal and the tool calls recovered from text,
priced with the profile the request recorded (prompt-cache reads and writes included). What the
agent loop decided after a final failure is read back with its own pure decision
(``baton.workflows._call_failure``): a failover when the agent's next call uses another profile,
a compaction when, after a context overflow, its next request starts from an empty prefix.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.exceptions import RetryState, TimeoutType

from baton.calls import ChatAttempt, ChatResponse
from baton.client._history.decode import MISSING, tolerant
from baton.client._history.state import Call, WalkState, at, jdict, number, text
from baton.messages import Usage
from baton.runs import (
    CompactedEvent,
    FailoverEvent,
    ModelAttemptEvent,
    ModelCallEvent,
    ModelStartedEvent,
)
from baton.specs import ServedProfile
from baton.workflows._call_failure import Failure, decide, one_attempt, raised, timed_out

__all__ = ["ChatEvents", "step_of"]

_SUMMARY = re.compile(r"\[Summary of (\d+) earlier messages")  # see workflows._history


def step_of(payload: dict[str, Any]) -> int:
    step = payload.get("step")
    return step if isinstance(step, int) and not isinstance(step, bool) else 0


def _profile(request: dict[str, Any]) -> ServedProfile:
    """The profile the run planned with, as the request recorded it."""
    return tolerant(ServedProfile, request.get("profile")) or ServedProfile()


class ChatEvents(WalkState):
    def chat_scheduled(self, event: HistoryEvent, request: dict[str, Any]) -> None:
        """What the workflow did between the agent's last failed call and this one."""
        agent, step = str(request.get("agent") or self.host), step_of(request)
        failed = self.failed_chat.pop(agent, None)
        if failed is None:
            return
        profile, error_type, reason = failed
        if profile != str(request.get("profile_name") or "?"):
            self.emit(FailoverEvent, at(event), agent=agent, step=step, from_profile=profile,
                      to_profile=str(request.get("profile_name") or "?"), reason=reason)
        elif error_type == "ProviderContextError" \
                and jdict(request.get("prefix")).get("length", 0) == 0:  # 0 is left out on the wire
            dropped = next((int(found.group(1)) for m in request.get("delta") or []
                            if (found := _SUMMARY.match(str(jdict(m).get("content") or "")))), 0)
            self.emit(CompactedEvent, at(event), agent=agent, step=step,
                      compacted_messages=dropped, reason=reason)

    def model_started(self, event: HistoryEvent, request: dict[str, Any]) -> None:
        """The call was sent to a worker (what live clients show while it runs)."""
        self.emit(ModelStartedEvent, at(event), agent=str(request.get("agent") or self.host),
                  step=step_of(request), profile=str(request.get("profile_name") or "?"),
                  model=_profile(request).model)

    def _attempts(self, event: HistoryEvent, request: dict[str, Any],
                  records: list[ChatAttempt] | tuple[ChatAttempt, ...]) -> None:
        agent, step = str(request.get("agent") or self.host), step_of(request)
        if records and self.began.get(agent, (-1, None))[0] != step:
            self.began[agent] = (step, records[0].started_at)
        for record in records:
            self.emit(ModelAttemptEvent, at(event), agent=agent, step=step,
                      profile=str(request.get("profile_name") or "?"),
                      model=_profile(request).model, **record.event_fields())

    def model_call(self, event: HistoryEvent, request: dict[str, Any],
                   response: dict[str, Any]) -> None:
        agent, step = str(request.get("agent") or self.host), step_of(request)
        self.steps[agent] = step
        answer = tolerant(ChatResponse, response)
        self._attempts(event, request, answer.attempts if answer else ())
        message = jdict(response.get("message"))
        usage = tolerant(Usage, response.get("usage")) or Usage()
        # The prices the run planned with, as the request recorded them: what the workflow
        # charged, with the workflow's own pricing function.
        profile = _profile(request)
        calls = []
        for raw in message.get("tool_calls") or []:
            call = Call(str(jdict(raw).get("id")), agent, step, str(jdict(raw).get("name")),
                        jdict(jdict(raw).get("arguments")))
            self.calls[call.call_id] = call
            calls.append({"id": call.call_id, "name": call.name, "arguments": call.arguments})
        began = self.began.pop(agent, (step, None))
        started_at, duration_ms = answer.call_time(began[1] if began[0] == step else None) \
            if answer else (None, None)
        refusal, content = text(response.get("refusal")), text(message.get("content"))
        attempt = response.get("attempt")
        self.emit(ModelCallEvent, at(event), agent=agent, step=step,
                  profile=str(request.get("profile_name") or "?"),
                  model=str(response.get("model") or profile.model),
                  provider=str(response.get("provider") or profile.provider), usage=usage,
                  cost_usd=profile.cost_usd(usage), latency_ms=number(response.get("latency_ms")),
                  finish_reason=text(response.get("finish_reason")),
                  content=refusal if refusal and not content else content, tool_calls=calls,
                  attempt=attempt if isinstance(attempt, int) and attempt > 0 else 1,
                  started_at=started_at, duration_ms=duration_ms,
                  request_id=text(response.get("request_id")), refusal=refusal,
                  recovered_tool_calls=int(number(response.get("recovered_tool_calls"))))

    async def chat_failed(self, event: HistoryEvent, attrs: Any, request: dict[str, Any],
                          scheduled_at: datetime) -> None:
        """A model call that failed for good: its attempts, and what the workflow does next is
        told by the agent's next call (a failover, a compaction) or by the run's end."""
        failure = attrs.failure
        kind = failure.WhichOneof("failure_info")
        if kind == "timeout_failure_info":
            info = failure.timeout_failure_info
            heartbeat = await self.decoder.first(info.last_heartbeat_details.payloads,
                                                 f"a model call's last heartbeat (event "
                                                 f"{event.event_id})")
            found: Failure = timed_out(TimeoutType(info.timeout_type).name.lower()
                                       if info.timeout_type else "timeout",
                                       heartbeat if heartbeat is not MISSING else None)
        elif kind == "application_failure_info":
            info = failure.application_failure_info
            details = await self.decoder.first(info.details.payloads, f"a model call's failure "
                                                                      f"(event {event.event_id})")
            found = raised(info.type or "ApplicationError", await self.message(failure),
                           details if details is not MISSING else None,
                           non_retryable=info.non_retryable,
                           retry_state=RetryState(attrs.retry_state) if attrs.retry_state
                           else None)
        else:
            error_type, message = await self.failure(failure)
            found = Failure(error_type, message, retryable=True)
        found = one_attempt(found, started=scheduled_at, now=at(event))
        self._attempts(event, request, found.attempts)
        reason = decide(found, profile=_profile(request), compacted=False,
                        quota_failed_over=False).reason  # worded as the workflow did
        self.failed_chat[str(request.get("agent") or self.host)] = (
            str(request.get("profile_name") or "?"), found.error_type, reason)
