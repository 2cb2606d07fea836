"""A run log rebuilt from a workflow's event history: no query, no worker, no replay.

What the workflow logs has a trace in history: its input (``started``), each ``chat`` activity
(``model_started`` when scheduled, ``model_attempt`` and ``model_call`` from the records its
attempts kept; failovers and compactions from what the agent's next call asked: ``chats``), each
``execute_tool`` activity (``tool_call``), member runs (``child`` started and finished, with the
member's typed result), approvals (memo upserts, ``decide`` updates and signals:
``approvals``), continuations and the end (``finished`` and the ``RunResult``, typed even when
the workflow closed failed).
Delegations, transfers and refused tool calls are read from the tool results the next model
call carried.

What history cannot show is absent: ``output_invalid`` (a check in workflow code), a refused or
delegated call whose result no later model call carried, and members a budget refused before
starting them (unless the final result lists them). ``step`` of a pattern's own member events is
the member's start order, and a continuation's history size is summed from its events. Every
payload is read as plain JSON, field by field (``decode``), so histories recorded by
older releases read too.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from baton.client._history.chats import ChatEvents, step_of
from baton.client._history.decode import MISSING
from baton.client._history.end import RunEvents
from baton.client._history.members import MemberEvents
from baton.client._history.memory import MemoryEvents
from baton.client._history.state import at, host_of, jdict, number, text
from baton.runs import (
    StartedEvent,
    ToolCallEvent,
    ToolRefusedEvent,
)
from baton.workflows._workflow_tools import TRANSFER_PREFIX
from baton.workflows.supervisor import DELEGATE_PREFIX

__all__ = ["Walk"]


class Walk(ChatEvents, MemberEvents, MemoryEvents, RunEvents):
    """Reads the histories of one workflow id's runs, oldest first (``await walk.read(h)``);
    then ``events()``, ``result``, ``members`` and ``notes`` hold what they told."""

    async def read(self, history: WorkflowHistory) -> None:
        self.size, self.run_id = 0, history.run_id
        for event in history.events:
            self.size += event.ByteSize()
            name = event.WhichOneof("attributes")
            handler = getattr(self, f"_on_{name}", None) if name is not None else None
            if name is not None and handler is not None:  # events the run log has no use for
                await handler(event, getattr(event, name))

    async def _on_workflow_execution_started_event_attributes(self, event: HistoryEvent,
                                                              attrs: Any) -> None:
        if self.workflow_type is not None:  # a continuation: logged at the continue-as-new
            self.execution_status, self.closed_at = "RUNNING", None
            return
        self.workflow_type, self.started_at = attrs.workflow_type.name, at(event)
        run = await self.decoder.first(attrs.input.payloads, "the run input (event 1)")
        self.run_input = jdict(run)
        self.host = host_of(self.workflow_type, self.run_input)
        if attrs.continued_execution_run_id:
            self.notes.append(f"this history continues run {attrs.continued_execution_run_id}; "
                              "the events of earlier runs are not in it")
        if run is not MISSING and not (self.run_input.get("carry")
                                       or self.run_input.get("pattern_carry")):
            self.emit(StartedEvent, at(event), agent=self.host, step=0,
                      input=str(self.run_input.get("input") or "")[:2_000], team=self.team,
                      tenant=str(self.run_input.get("tenant") or "default"))

    # -- activities ---------------------------------------------------------------------------
    async def _on_activity_task_scheduled_event_attributes(self, event: HistoryEvent,
                                                           attrs: Any) -> None:
        kind = attrs.activity_type.name
        if kind not in ("chat", "execute_tool", "recall_memories"):
            return
        what = {"chat": "chat request", "execute_tool": "tool invocation"}.get(kind, kind)
        value = await self.decoder.first(attrs.input.payloads, f"{what} (event {event.event_id})")
        self.activities[event.event_id] = (kind, value, at(event))
        request = jdict(value)
        if kind == "execute_tool":
            self.calls.pop(str(request.get("call_id")), None)
            return
        if kind != "chat":
            return
        if not request.get("summarize"):  # a summariser call neither is nor ends a failover
            self.chat_scheduled(event, request)
        for message in request.get("delta") or []:
            self._tool_result(event, jdict(message))
        if not request.get("summarize"):
            self.model_started(event, request)

    def _tool_result(self, event: HistoryEvent, message: dict[str, Any]) -> None:
        """A tool result the model is shown, for a call no activity ran: a delegation or a
        transfer (the orchestrator ran it), or a call the workflow refused."""
        call = self.calls.pop(str(message.get("tool_call_id")), None) \
            if message.get("kind") == "tool" else None
        if call is None:
            return
        content = str(message.get("content") or "")
        if call.name.startswith((DELEGATE_PREFIX, TRANSFER_PREFIX)):
            self.workflow_tool(event, call, content, is_error=message.get("is_error") is True)
        elif not content.startswith("The call to "):  # else a person (or expiry) rejected it
            self.emit(ToolRefusedEvent, at(event), agent=call.agent, step=call.step,
                      call_id=call.call_id, tool=call.name, reason=content)

    async def _on_activity_task_completed_event_attributes(self, event: HistoryEvent,
                                                           attrs: Any) -> None:
        kind, request, _ = self.activities.get(attrs.scheduled_event_id, ("", None, at(event)))
        if not kind:
            return
        what = "chat response" if kind == "chat" else "tool outcome"
        value = await self.decoder.first(attrs.result.payloads, f"{what} (event {event.event_id})")
        if request is MISSING or value is MISSING:
            return
        if kind == "recall_memories":
            self.recalled(event, jdict(request), value)
        elif kind == "chat" and jdict(request).get("summarize"):
            self.summarized(event, jdict(request), jdict(value))
        elif kind == "chat":
            self.model_call(event, jdict(request), jdict(value))
        else:
            self._tool_call(event, jdict(request), jdict(value))

    def _tool_call(self, event: HistoryEvent, invocation: dict[str, Any],
                   outcome: dict[str, Any]) -> None:
        tool = jdict(invocation.get("tool"))
        self.emit(ToolCallEvent, at(event), agent=str(invocation.get("agent") or self.host),
                  step=step_of(invocation), call_id=str(invocation.get("call_id")),
                  tool=str(tool.get("name") or "?"),
                  effect="write" if tool.get("effect") == "write" else "read",
                  arguments=jdict(invocation.get("arguments")),
                  status="ok" if outcome.get("status") == "ok" else "error",
                  result=outcome.get("content") if outcome.get("content_is_value") is True
                  else outcome.get("value"), content=str(outcome.get("content") or ""),
                  error_type=text(outcome.get("error_type")),
                  idempotency_key=str(invocation.get("idempotency_key") or ""),
                  cache_hit=outcome.get("cache_hit") is True,
                  ledger_hit=outcome.get("ledger_hit") is True,
                  duration_ms=number(outcome.get("duration_ms")),
                  tool_tokens=int(number(outcome.get("tool_tokens"))),
                  tool_cost_usd=number(outcome.get("tool_cost_usd")),
                  original_ms=number(outcome["original_ms"])
                  if isinstance(outcome.get("original_ms"), int | float) else None)

    async def _on_activity_task_failed_event_attributes(self, event: HistoryEvent,
                                                        attrs: Any) -> None:
        """An activity that used up its retries (or could not be retried)."""
        kind, request, scheduled_at = self.activities.get(attrs.scheduled_event_id,
                                                          ("", None, at(event)))
        if not kind or request is MISSING:
            return
        request = jdict(request)
        if kind == "recall_memories":  # the agent was told its memory is unavailable
            return
        if kind == "chat" and request.get("summarize"):  # a mechanical summary took its place
            error_type, message = await self.failure(attrs.failure)
            self.summarized(event, request, None, f"{error_type}: {message}")
            return
        if kind == "chat":
            await self.chat_failed(event, attrs, request, scheduled_at)
            return
        _, message = await self.failure(attrs.failure)
        name = str(jdict(request.get("tool")).get("name") or "?")
        self._tool_call(event, request, {"status": "error", "error_type": "tool_unavailable",
                                         "content": f"tool {name} is unavailable: {message}"})

    _on_activity_task_timed_out_event_attributes = _on_activity_task_failed_event_attributes
