"""An agent's memory, as its policy says (docs/memory.md): the memory half of ``AgentLoop``.

* **Working memory.** Before a model call whose prompt would pass ``summarize_above_tokens``,
  older turns are folded into a summary by the summariser profile, through the same ``chat``
  activity: its request references the conversation the worker already holds and names the
  range to fold, so no message enters history twice. The conversation becomes the lead (system
  prompt, recalled memories), the summary, the task and the last ``keep_recent`` messages, a
  new prefix the way continue-as-new compaction starts one. The fold is a ``summarized``
  run-log event. A summariser that fails leaves a mechanical summary instead (the run goes on).
* **Long-term memory at the start.** The ``recall_memories`` activity finds what the store
  holds about the task for the run's tenant and subject; the agent is shown it (with each
  memory's source run and age) or told that nothing relevant, or nothing recent enough, was
  found. ``on_nothing_recalled: ask_person`` then asks a person through the approval gate; the
  answer is kept as a memory and shown to the agent.
* **The memory tools** carry the policy and the run's subject in their invocation.
"""

from __future__ import annotations

import asyncio
import math

from temporalio import workflow
from temporalio.exceptions import ActivityError, CancelledError

from baton.calls import ChatRequest, ChatResponse
from baton.memory import (
    ASK_PERSON,
    MEMORY_SOURCE,
    MEMORY_TOOLS,
    LongTermMemorySpec,
    MemoryHit,
    MemoryRecord,
    MemorySpec,
    RecallRequest,
    RecallResult,
    StoreRequest,
    WorkingMemorySpec,
    age_text,
    memory_line,
)
from baton.messages import Message, ToolCall, UserMessage, size_of
from baton.runs import (
    ApprovalEvent,
    ModelCallEvent,
    RecalledEvent,
    RunInput,
    SummarizedEvent,
)
from baton.specs import ApprovalPolicy, ToolSpec
from baton.workflows import _activities
from baton.workflows._budget import estimate_tokens, schema_texts
from baton.workflows._history import Conversation, FoldPlan, fold_plan, mechanical_summary
from baton.workflows._model_turn import ModelTurn
from baton.workflows._tool_turn import failure_of
from baton.workflows.prompts import SUMMARY_HEAD, recalled_memories

__all__ = ["MemoryTurn"]

# The question gate's "tool": a person answers by editing ``answer`` (baton approve --edit).
_QUESTION = ToolSpec(
    name=ASK_PERSON, description="A question to a person: what should the agent know?",
    parameters={"type": "object", "additionalProperties": False, "required": ["question"],
                "properties": {"question": {"type": "string"},
                               "answer": {"type": "string", "minLength": 1}}})


def _bytes(messages: list[Message]) -> int:
    return sum(size_of(m) for m in messages)


class MemoryTurn(ModelTurn):
    """The memory half of ``AgentLoop`` (a mixin: it works on the loop's state)."""

    run: RunInput

    @property
    def memory(self) -> MemorySpec:
        return self.team.memory_of(self.agent.name)

    def memory_policy(self, tool: str) -> LongTermMemorySpec | None:
        """What an invocation of ``tool`` carries: the policy, for the memory tools only."""
        if tool not in MEMORY_TOOLS:
            return None
        return self.memory.long_term or LongTermMemorySpec()

    # -- working memory -----------------------------------------------------------------------
    def _prompt_tokens(self) -> tuple[int, float]:
        """The next prompt's size, and the provider's tokens per estimated token: the last
        call's prompt as the provider counted it plus what was added since, estimated on the
        same scale (an estimate alone before the conversation's first call)."""
        sent, messages = self.conversation.prompted, self.conversation.messages
        last = next((e for e in reversed(self.log.events) if isinstance(e, ModelCallEvent)
                     and e.agent == self.agent.name), None)
        if last is None or sent == 0:
            return self._prompt_estimate(self.tool_schemas), 1.0
        then = estimate_tokens(schema_texts(self.tool_schemas, self.agent.output_schema),
                               messages=sent, measured_bytes=_bytes(messages[:sent]))
        scale = last.usage.input_tokens / max(then, 1)
        added = messages[sent:]
        since = estimate_tokens((), messages=len(added), measured_bytes=_bytes(added))
        return last.usage.input_tokens + math.ceil(since * scale), scale

    async def _maybe_summarize(self) -> None:
        working = self.memory.working
        if working is None:
            return
        before, scale = self._prompt_tokens()
        if before <= working.summarize_above_tokens:
            return
        plan = fold_plan(self.conversation.messages, working.keep_recent)
        if plan is None:
            return
        response, profile_name, error = await self._summarize(working, plan)
        text = (response.message.content or "").strip() if response else ""
        if not text:
            error = error or "the summariser answered with no text"
            text = mechanical_summary(self.conversation.messages[plan.task + 1:plan.end])
        messages = plan.apply(self.conversation.messages,
                              f"{SUMMARY_HEAD}\n{text}")
        self.conversation = Conversation(messages)  # a new prefix: sent whole, once
        profile = self.catalog.profiles[profile_name]
        usage = response.usage if response else None
        cost = profile.cost_usd(usage) if usage else 0.0
        if usage is not None:
            self.budget.charge(usage, cost)
        after = math.ceil(self._prompt_estimate(self.tool_schemas) * scale)
        self.log.add(SummarizedEvent, step=self.step, profile=profile_name,
                     model=response.model if response else profile.model,
                     folded_messages=plan.folded, kept_messages=len(messages) - plan.start - 2,
                     tokens_before=before, tokens_after=after, summary=text, cost_usd=cost,
                     error=error, latency_ms=response.latency_ms if response else 0.0,
                     **({"usage": usage} if usage else {}))

    async def _summarize(self, working: WorkingMemorySpec, plan: FoldPlan,
                         ) -> tuple[ChatResponse | None, str, str | None]:
        """The summariser's answer (None and why not, when it gave none)."""
        name = working.summarizer or self.profile_name
        profile = self.catalog.profiles[name]
        folded = self.conversation.messages[plan.start:plan.end]
        # The transcript of what is folded, plus the summariser's instructions (~1 KB).
        prompt = estimate_tokens((), messages=2, measured_bytes=_bytes(folded) + 1_000)
        room, refused = self.budget.room_for_call(
            prompt, max_output=min(working.summary_max_tokens, profile.max_output_tokens),
            price_input_per_mtok=profile.price_input_per_mtok,
            price_output_per_mtok=profile.price_output_per_mtok)
        if refused is not None:
            return None, name, f"the budget cannot pay for the summariser: {refused}"
        prefix, delta = self.conversation.outgoing()
        request = ChatRequest(
            workflow_id=workflow.info().workflow_id, run_id=self.run_id, agent=self.agent.name,
            profile_name=name, profile=profile, prefix=prefix, delta=delta, step=self.step,
            max_output_tokens=room, summarize=(plan.start, plan.end))
        try:
            response = await _activities.chat(request, summary=(
                f"chat {profile.model}: summarise {plan.folded} messages of {self.agent.name} "
                f"before step {self.step}"))
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                raise asyncio.CancelledError from exc
            kind, message = failure_of(exc)
            return None, name, f"{kind}: {message}"
        return response, name, None

    # -- long-term memory at the start ---------------------------------------------------------
    async def _recall_at_start(self, task: str) -> None:
        """Put what long-term memory holds about ``task`` in front of the agent (before the
        task message), or say explicitly that there is nothing to rely on."""
        policy = self.memory.long_term
        if policy is None or policy.inject_top_k == 0:
            return
        subject, tenant = policy.scope_subject(self.run.subject), self.run.tenant
        who = f"subject {subject!r}" if subject else f"tenant {tenant!r}"
        request = RecallRequest(
            tenant=tenant, subject=subject, query=task[:4_000], limit=policy.inject_top_k,
            max_age_s=policy.max_age_s, min_similarity=policy.min_similarity,
            always_kinds=policy.always_inject)
        try:
            found = await _activities.recall_memories(request)
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                raise asyncio.CancelledError from exc
            workflow.logger.warning("memory unavailable: %s", failure_of(exc)[1])
            found = RecallResult()
        hits = found.hits
        outcome = "recalled" if hits else "too_old" if found.stale else "nothing_relevant"
        asked_id, answered_by = None, None
        if outcome != "recalled" and policy.on_nothing_recalled == "ask_person":
            asked_id, answer = await self._ask_person(task, who, outcome, policy,
                                                      scope=(tenant, subject))
            if answer is not None:
                hits, outcome, answered_by = [answer], "answered", answer.record.source_agent
        shown = hits or found.stale
        self.log.add(RecalledEvent, step=0, subject=subject, outcome=outcome, mode=found.mode,
                     approval_id=asked_id, memories=[
                         {"id": h.record.id, "kind": h.record.kind, "text": h.record.text,
                          "source_run": h.record.source_run, "age_s": round(h.age_s, 1),
                          "stale": h.stale} for h in shown])
        max_age = age_text(policy.max_age_s).removesuffix(" ago") if policy.max_age_s else None
        self.conversation.append(UserMessage(source=MEMORY_SOURCE, content=recalled_memories(
            who, outcome, [memory_line(h) for h in shown], max_age=max_age,
            answered_by=answered_by)))

    async def _ask_person(self, task: str, who: str, outcome: str, policy: LongTermMemorySpec,
                          *, scope: tuple[str, str]) -> tuple[str | None, MemoryHit | None]:
        """Ask through the approval gate; a person answers by editing ``answer``. The answer
        is kept as a memory of ``policy.ask.kind`` (the run goes on without it if it cannot
        be kept: the agent still reads it)."""
        why = ("nothing relevant was remembered" if outcome == "nothing_relevant"
               else "what was remembered is older than the policy allows")
        question = (f"What should {self.agent.name} know about {who} for this task? ({why}) "
                    f"Task: {task[:500]}")
        call = ToolCall(id=f"ask-{workflow.uuid4().hex[:8]}", name=ASK_PERSON,
                        arguments={"question": question})
        ask = policy.ask
        resolution = await self.gate.request(
            call=call, spec=_QUESTION, step=0, run_id=self.run_id, deadline=self._wait_deadline(),
            policy=ApprovalPolicy(mode="always", approvers=ask.approvers,
                                  expires_in_s=ask.expires_in_s),
            reason=f"{why} about {who}: answer with baton approve RUN ID --edit "
                   "'{\"answer\": \"...\"}'")
        asked = next((e.approval_id for e in reversed(self.log.events)
                      if isinstance(e, ApprovalEvent) and e.tool == ASK_PERSON), None)
        answer = str(resolution.args.get("answer") or "").strip() if resolution.run else ""
        if not answer:
            return asked, None
        store = StoreRequest(
            id=f"mem-{workflow.uuid4().hex[:20]}", tenant=scope[0], subject=scope[1],
            kind=policy.answer_kind, text=answer, source_run=self.run_id,
            source_agent=resolution.by, ttl_s=policy.ttl_s(policy.answer_kind),
            max_per_scope=policy.max_per_scope)
        try:
            record = await _activities.store_memory(store)
        except ActivityError as exc:
            if isinstance(exc.cause, CancelledError):
                raise asyncio.CancelledError from exc
            workflow.logger.warning("the answer was not kept: %s", failure_of(exc)[1])
            now = workflow.now()
            record = MemoryRecord(created_at=now, last_used_at=now, **store.model_dump(include={
                "id", "tenant", "subject", "kind", "text", "source_run", "source_agent"}))
        return asked, MemoryHit(record=record, score=1.0, age_s=0.0)
