"""One turn's tool calls: workflow tools (delegation, transfer) run in the workflow, granted
tools pass the approval gate and run as ``execute_tool`` activities with their idempotency key,
anything else is refused with an explanation the model can act on."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import NamedTuple

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

from baton.calls import Catalog, ToolInvocation, ToolOutcome, ToolSchema
from baton.idempotency import idempotency_key
from baton.memory import LongTermMemorySpec
from baton.messages import ToolCall, ToolResultMessage
from baton.runs import RunStatus, ToolCallEvent, ToolRefusedEvent
from baton.schemas import schema_error
from baton.specs import AgentSpec, TeamSpec
from baton.workflows import _activities
from baton.workflows._approval import ApprovalGate
from baton.workflows._budget import BudgetTracker
from baton.workflows._history import Conversation
from baton.workflows._runlog import RunLog
from baton.workflows._workflow_tools import Finished, WorkflowTool, WorkflowToolResult

__all__ = ["ToolTurn", "failure_of"]


def failure_of(exc: ActivityError) -> tuple[str, str]:
    """The innermost cause's type and message: what actually went wrong, for a person."""
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    error_type = cause.type if isinstance(cause, ApplicationError) and cause.type else (
        type(cause).__name__)
    # ``FailureError.message``, not ``str()``: the latter already starts with the type.
    message = cause.message if isinstance(cause, FailureError) else str(cause)
    return error_type or "ActivityError", message or str(exc)


class _Answer(NamedTuple):
    message: ToolResultMessage
    finish: Finished | None = None
    # The message is the one the tool activity built from its outcome (``ToolOutcome.message``):
    # the worker that ran the call holds it, so the next model call can refer to it.
    held_by_worker: bool = False


class ToolTurn:
    """The tool-calling half of ``AgentLoop`` (a mixin: it works on the loop's state)."""

    team: TeamSpec
    catalog: Catalog
    agent: AgentSpec
    run_id: str
    path: str
    step: int
    conversation: Conversation
    log: RunLog
    gate: ApprovalGate
    budget: BudgetTracker
    workflow_tools: dict[str, WorkflowTool]
    last_answer: str | None

    def memory_policy(self, tool: str) -> LongTermMemorySpec | None:
        """The long-term memory policy a call of ``tool`` carries (``MemoryTurn`` says)."""
        del tool
        return None

    @property
    def tool_schemas(self) -> tuple[ToolSchema, ...]:
        """What the model is shown: the agent's served tools, then the workflow tools."""
        served = (self.catalog.tools[n] for n in self.agent.tools if n in self.catalog.tools)
        return tuple(
            ToolSchema(name=t.name, description=t.description, parameters=t.parameters)
            for t in served) + tuple(tool.schema for tool in self.workflow_tools.values())

    async def _run_tools(self, calls: tuple[ToolCall, ...]) -> None:
        # Independent calls of one turn run concurrently; results are appended in call order so
        # the conversation (and its digest) does not depend on which finished first.
        answers = await asyncio.gather(*(self._run_tool(call) for call in calls))
        # The results that the worker holds, right after what it was already sent, are not sent
        # again (baton.activities.llm.conversations).
        held = self.conversation.sent == len(self.conversation)
        finish = None
        for message, done, held_by_worker in answers:
            self.conversation.append(message)
            finish = finish or done
            held = held and held_by_worker
            if held:
                self.conversation.mark_sent(len(self.conversation))
        if finish is not None:
            if finish.transfer is not None:  # hand over the conversation with this turn's results
                finish.transfer = finish.transfer.model_copy(
                    update={"messages": self.conversation.messages[1:]})
            if finish.output:
                self.last_answer = finish.output
            raise finish

    async def _run_workflow_tool(self, call: ToolCall, tool: WorkflowTool) -> _Answer:
        result: WorkflowToolResult = await tool.run(call, self.step)
        self.log.add(
            ToolCallEvent, step=self.step, call_id=call.id, tool=call.name, effect="workflow",
            arguments=call.arguments, status="error" if result.is_error else "ok",
            result=result.value, content=result.content, idempotency_key=result.key)
        return _Answer(self._tool_message(call, result.content, is_error=result.is_error),
                       result.finish)

    async def _run_tool(self, call: ToolCall) -> _Answer:
        if call.name in self.workflow_tools and call.raw_arguments is None:
            return await self._run_workflow_tool(call, self.workflow_tools[call.name])
        spec = self.catalog.tools.get(call.name)
        if spec is None or call.name not in self.agent.tools:
            reason = (f"tool {call.name!r} is not available to agent {self.agent.name!r}; "
                      f"available tools: {', '.join(s.name for s in self.tool_schemas) or 'none'}")
            self.log.add(ToolRefusedEvent, step=self.step, call_id=call.id, tool=call.name,
                         reason=reason)
            return _Answer(self._tool_message(call, reason, is_error=True))
        step = self.step
        args = call.arguments
        policy = self.agent.approvals.get(call.name, spec.approval)
        # Ill-formed calls go straight to the tool activity, which explains the problem to the
        # model; a person is only asked about a call that could actually run.
        well_formed = call.raw_arguments is None and not schema_error(args, spec.parameters)
        gate_reason = self.gate.reason_for(policy, args) if well_formed else None
        if gate_reason is not None:
            resolution = await self.gate.request(call=call, spec=spec, policy=policy, step=step,
                                                 run_id=self.run_id, reason=gate_reason,
                                                 deadline=self._wait_deadline())
            if not resolution.run:
                why = f": {resolution.reason}" if resolution.reason else ""
                text = (f"The call to {call.name} was rejected by {resolution.by}{why}. "
                        "It did not run; do not retry it unchanged.")
                return _Answer(self._tool_message(call, text, is_error=True))
            args = resolution.args
        key = idempotency_key(workflow.info().workflow_id, self.path, step, call.id)
        invocation = ToolInvocation(
            tool=spec.for_execution(), call_id=call.id, arguments=args,
            raw_arguments=call.raw_arguments,
            idempotency_key=key, run_id=self.run_id, workflow_id=workflow.info().workflow_id,
            agent=self.agent.name, step=step,
            tenant=self.run.tenant,  # type: ignore[attr-defined]  # AgentLoop's RunInput
            subject=self.run.subject,  # type: ignore[attr-defined]
            memory=self.memory_policy(call.name),
        )
        held = True  # by the worker that ran it, unless the activity failed
        try:
            outcome = await _activities.execute_tool(
                invocation, summary=f"execute_tool {call.name} #{key[:6]}")
        except ActivityError as exc:
            held = False
            if isinstance(exc.cause, CancelledError):  # the run is being cancelled
                raise asyncio.CancelledError from exc
            _, failure = failure_of(exc)
            outcome = ToolOutcome(status="error", error_type="tool_unavailable",
                                  content=f"tool {call.name} is unavailable: {failure}")
        self.log.add(
            ToolCallEvent, step=step, call_id=call.id, tool=call.name, effect=spec.effect,
            arguments=args, status=outcome.status, result=outcome.result,
            content=outcome.content, error_type=outcome.error_type, idempotency_key=key,
            cache_hit=outcome.cache_hit, ledger_hit=outcome.ledger_hit,
            duration_ms=outcome.duration_ms, tool_tokens=outcome.tool_tokens,
            tool_cost_usd=outcome.tool_cost_usd, original_ms=outcome.original_ms,
        )
        message = outcome.message(call.id, call.name)
        if spec.stop and outcome.status == "ok":
            return _Answer(message, Finished(RunStatus.COMPLETED, "a stop tool ended the run",
                                             output=outcome.content), held)
        return _Answer(message, held_by_worker=held)

    def _wait_deadline(self) -> datetime | None:
        """A person's wait is bounded by the run's wall clock only if the team says it counts;
        otherwise the approval's own expiry and escalation bound it."""
        if not self.team.budget.count_human_wait:
            return None
        return self.budget.deadline(workflow.now())

    @staticmethod
    def _tool_message(call: ToolCall, content: str, *, is_error: bool) -> ToolResultMessage:
        return ToolResultMessage(tool_call_id=call.id, name=call.name, content=content,
                                 is_error=is_error)
