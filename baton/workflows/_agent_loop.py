"""One agent's loop: model → tools → model … until an answer, a stop tool or a limit.

Every way out is a typed ``RunResult``; only bugs raise. Side-effecting work happens in
activities reached through ``baton.workflows._activities``. The loop plans with the run's
``Catalog`` (profiles and tools as the worker serves them), bound before its first step.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from temporalio import workflow

from baton.calls import Catalog
from baton.messages import (
    Message,
    SystemMessage,
    ToolResultMessage,
    UserMessage,
)
from baton.runs import (
    Admission,
    AgentCarry,
    ContinuedEvent,
    FinishedEvent,
    RunInput,
    RunResult,
    RunStatus,
    StartedEvent,
    ValidationEvent,
)
from baton.schemas import schema_error
from baton.specs import AgentSpec, TeamSpec
from baton.workflows._approval import ApprovalGate, awaiting_details
from baton.workflows._budget import BudgetTracker
from baton.workflows._history import Conversation, compact
from baton.workflows._memory_turn import MemoryTurn
from baton.workflows._needs_help import needs_help_of
from baton.workflows._relay import ApprovalRelay
from baton.workflows._runlog import RunLog
from baton.workflows._tenant import TenantMeter
from baton.workflows._workflow_tools import Finished, WorkflowTool, transfer_tool
from baton.workflows.prompts import system_prompt

__all__ = ["AgentLoop", "ContinueAsNew", "Finished"]

# "functions.lookup_order:" and nothing else: a call some models start as text and never finish.
_DANGLING_CALL = re.compile(r"\s*functions\.[\w.-]+:?\s*")


class ContinueAsNew(Exception):  # control flow, like Finished
    """The history is long enough: carry the state into a fresh run of the same workflow."""

    def __init__(self, carry: AgentCarry) -> None:
        super().__init__("continue as new")
        self.carry = carry


class AgentLoop(MemoryTurn):
    def __init__(self, run: RunInput, run_id: str, path: str, *,
                 on_status: Callable[[RunStatus], None] = lambda _: None,
                 workflow_tools: Mapping[str, WorkflowTool] | None = None,
                 can_continue_as_new: bool = True, log: RunLog | None = None) -> None:
        self.run = run
        self.team: TeamSpec = run.team
        self.agent: AgentSpec = run.team.agent(run.agent)
        self.run_id = run_id
        self.path = path  # agent path inside the run, part of every idempotency key
        self.catalog: Catalog = run.catalog or Catalog()  # bound at admission for a new run
        self.admission: Admission | None = None
        carry = run.carry
        self.profile_name = carry.profile_name if carry else self.agent.model
        self.conversation = Conversation(carry.messages if carry else None)
        self.schemas_sent = {}  # a continued run sends its schemas in full again, once
        # A pattern hosting this loop passes its own log (see RunLog.as_agent).
        self.log = log or RunLog(self.agent.name, offset=carry.log_offset if carry else 0)
        self.budget = BudgetTracker(
            self.team.budget, carry.started_at if carry else workflow.now(),
            usage=carry.usage if carry else None, cost_usd=carry.cost_usd if carry else 0.0,
            waited_s=carry.waited_s if carry else 0.0)
        self.step = carry.step if carry else 0
        self.tenant = TenantMeter(run.tenant)  # the tenant's budget, when the operator set one
        self.fix_attempts = carry.fix_attempts if carry else 0
        self.previous_runs = list(carry.previous_runs) if carry else []
        self.status = RunStatus.RUNNING
        self._on_status = on_status
        self.gate = ApprovalGate(self.log, self.catalog.approvals,
                                 on_change=self._approvals_changed)
        self.relay = ApprovalRelay(on_change=self._approvals_changed)  # members' approvals
        self.last_answer: str | None = carry.last_answer if carry else None
        self.structured: dict[str, Any] | None = None
        self.can_continue_as_new = can_continue_as_new  # pattern-hosted loops are bounded
        self.workflow_tools = dict(workflow_tools or {})
        for target, description in run.transfer_targets.items():
            tool = transfer_tool(self.agent.name, target, description,
                                 run.transfer_inputs.get(target))
            self.workflow_tools[tool.schema.name] = tool

    # -- public -------------------------------------------------------------------------------
    def add_workflow_tools(self, tools: Mapping[str, WorkflowTool]) -> None:
        """Tools the orchestrator executes (delegation, blackboard writes), shown to the model."""
        self.workflow_tools.update(tools)

    def bind(self, catalog: Catalog, admission: Admission) -> None:
        """Plan with ``catalog`` from now on (the admission of a new run resolves it)."""
        self.catalog, self.admission = catalog, admission
        self.gate.authority = catalog.approvals

    def refuse(self, admission: Admission) -> RunResult:
        """End a run the worker cannot serve, before any step: typed, with every problem."""
        return self._finish(Finished(
            RunStatus.FAILED, f"the worker does not serve what the team names: "
            f"{admission.reason}", error_type="not_served"))

    async def run_to_end(self) -> RunResult:
        """Loop until a typed result; raises ContinueAsNew when the history should be cut."""
        if self.run.carry is None:
            task = self._bounded(self.run.input, "the task")
            self.log.add(StartedEvent, step=0, input=task[:2_000], team=self.team.name,
                         tenant=self.run.tenant)
            self.conversation.append(SystemMessage(content=self._system_prompt()))
            for message in self.run.context:  # history handed over by a transfer
                self.conversation.append(message)
            await self._recall_at_start(task)  # long-term memory, before the task it serves
            self.conversation.append(UserMessage(content=task, source=self._task_source()))
        try:
            while True:
                await self._one_step()
        except Finished as done:
            return self._finish(done)
        except asyncio.CancelledError:
            return self._finish(Finished(RunStatus.CANCELLED, "the run was cancelled"))
        finally:  # also before continuing as new: a reservation never outlives its loop
            await self.tenant.settle(self.log)

    # -- the loop -----------------------------------------------------------------------------
    async def _one_step(self) -> None:
        self._maybe_continue_as_new()
        if self.step >= self.agent.max_steps:
            raise Finished(RunStatus.MAX_STEPS,
                           f"reached max_steps={self.agent.max_steps} without a final answer")
        exhausted = self.budget.exhausted(workflow.now())
        if exhausted:
            raise Finished(RunStatus.BUDGET_EXHAUSTED, exhausted)
        self.step += 1
        await self._maybe_summarize()  # working memory: fold older turns past the threshold
        reply = await self._call_model()
        await self.tenant.settle(self.log)
        if reply.tool_calls:
            self._describe("calling " + ", ".join(c.name for c in reply.tool_calls))
            await self._run_tools(reply.tool_calls)
            return
        self._describe("answered")
        self._accept_answer(reply.content or "")

    def _describe(self, doing: str) -> None:
        """The Temporal UI's "current details" line: where this agent is, in words."""
        usage = self.budget.usage
        workflow.set_current_details(
            f"{self.agent.name} · step {self.step}/{self.agent.max_steps} · {doing} · "
            f"{usage.total_tokens:,} tokens · ${self.budget.cost_usd:.4f}")

    def _accept_answer(self, text: str) -> None:
        schema = self.agent.output_schema
        if not text.strip() or _DANGLING_CALL.fullmatch(text):
            # No tool call and nothing said (or only the start of a call that never came): not
            # an answer, whatever the schema. Asked again like an invalid answer.
            what = "a JSON value that matches the schema" if schema else "your answer"
            self._ask_again(
                f"the reply was empty{f' ({text.strip()!r})' if text.strip() else ''}",
                f"Your reply was empty: no answer and no tool call. Reply again with {what} "
                "(or call one of your tools).", text, error_type="empty_answer")
            return
        if schema is None:
            raise Finished(RunStatus.COMPLETED, output=text)
        problem = self._schema_problem(text, schema)
        if problem is None:
            self.structured = json.loads(text)
            raise Finished(RunStatus.COMPLETED, output=text)
        self._ask_again(problem, (
            f"Your answer does not match the required JSON schema: {problem}. "
            "Reply again with only a JSON value that matches the schema."), text,
            error_type="output_invalid")

    def _ask_again(self, problem: str, prompt: str, text: str, *, error_type: str) -> None:
        """Count a fix attempt; past the agent's bound, end ``output_invalid``."""
        self.fix_attempts += 1
        self.log.add(ValidationEvent, step=self.step, attempt=self.fix_attempts, error=problem,
                     error_type=error_type)
        if self.fix_attempts > self.agent.max_output_fix_attempts:
            raise Finished(
                RunStatus.OUTPUT_INVALID,
                f"answer still invalid after {self.agent.max_output_fix_attempts} fix attempts: "
                f"{problem}", output=text or None, error_type=error_type)
        self.conversation.append(UserMessage(source="baton", content=prompt))

    # -- history limits -----------------------------------------------------------------------
    def _maybe_continue_as_new(self) -> None:
        if not self.can_continue_as_new:
            return
        info = workflow.info()
        limits = self.team.history
        events, size = info.get_current_history_length(), info.get_current_history_size()
        if not (info.is_continue_as_new_suggested() or events >= limits.continue_as_new_events
                or size >= limits.continue_as_new_bytes):
            return
        messages, compacted = compact(self.conversation.messages, limits.keep_recent_messages)
        self.log.add(ContinuedEvent, step=self.step, previous_run=info.run_id,
                     history_events=events, history_bytes=size, compacted_messages=compacted)
        raise ContinueAsNew(AgentCarry(
            messages=messages, step=self.step, fix_attempts=self.fix_attempts,
            usage=self.budget.usage, cost_usd=self.budget.cost_usd,
            started_at=self.budget.started_at, profile_name=self.profile_name,
            waited_s=self.budget.paused_s(workflow.now()),
            log_offset=self.log.offset + len(self.log.events),
            previous_runs=[*self.previous_runs, info.run_id], last_answer=self.last_answer))

    def _bounded(self, text: str, what: str) -> str:
        """A message over the configured size is cut for the model, with a note saying so."""
        limit = self.team.history.max_message_chars
        if len(text) <= limit:
            return text
        return (f"{text[:limit]}\n[{what} was truncated: {limit} of {len(text)} characters "
                "shown]")

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _schema_problem(text: str, schema: dict[str, Any]) -> str | None:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return f"not valid JSON ({exc.msg} at position {exc.pos})"
        return schema_error(value, schema)

    def _task_source(self) -> str:
        return "user" if self.run.parent_run_id is None else "orchestrator"

    def _system_prompt(self) -> str:
        agent = self.agent
        return system_prompt(agent.name, agent.description, agent.instructions,
                             agent.output_schema)

    def _approvals_changed(self) -> None:
        """A person is (or no longer is) needed, here or in a member: say so everywhere — the
        status query, ``BatonStatus``, the UI's current details — and pause the wall clock."""
        if self.status.finished:
            return
        waiting = [*self.gate.pending(), *self.relay.pending.values()]
        self.budget.wait_for_people(bool(waiting), workflow.now())
        self.status = RunStatus.AWAITING_APPROVAL if waiting else RunStatus.RUNNING
        self._on_status(self.status)
        if waiting:
            workflow.set_current_details(awaiting_details(waiting, workflow.now()))

    def _finish(self, done: Finished) -> RunResult:
        self.status = done.status
        self.log.add(FinishedEvent, step=self.step, status=done.status, reason=done.reason)
        output = done.output if done.output is not None else self.last_answer
        if output is None and done.status is not RunStatus.COMPLETED:
            output = self._partial_output()
        return RunResult(
            run_id=self.run_id, team=self.team.name, agent=self.agent.name, status=done.status,
            output=output, structured=self.structured, reason=done.reason,
            error_type=done.error_type, steps=self.step, usage=self.budget.usage,
            cost_usd=round(self.budget.cost_usd, 6), transfer=done.transfer,
            # Inside a team, running out of steps or budget is a report to whoever leads it.
            needs_help=needs_help_of(
                self.conversation.messages, status=done.status, reason=done.reason,
                steps=self.step, usage=self.budget.usage) if self.run.parent_run_id else None,
        )

    def _partial_output(self) -> str | None:
        """What the agent had learned when it stopped: its latest tool results."""
        results = [m for m in self.conversation.messages if isinstance(m, ToolResultMessage)]
        if not results:
            return None
        lines = [f"- {m.name}: {m.content[:500]}" for m in results[-3:]]
        return f"Stopped after {self.step} steps. Latest tool results:\n" + "\n".join(lines)

    def messages(self) -> list[Message]:
        return self.conversation.messages
