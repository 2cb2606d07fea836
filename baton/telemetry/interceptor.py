"""Worker interceptor: run context for logs and metrics everywhere, Baton's workflow spans.

No workflow code knows about telemetry. The workflow side reads the run's ``RunInput`` (first
argument of every Baton workflow) and, when the worker traces, opens ``invoke_workflow {team}``
(a top-level run) and ``invoke_agent {agent}`` (every AgentWorkflow) around the workflow, and an
``approval {tool}`` span when a ``decide`` signal or update settles a pending approval. The spans
come from the replay-safe provider (:mod:`baton.telemetry.tracing`): their ids are drawn from the
workflow's deterministic random and they are not ended while history replays, so a replayed or
re-cached workflow produces each span once, with the original timestamps.

Team and tenant travel to activities in a ``baton-context`` header (headers exist for exactly
this; no activity payload changes), where the activity side binds them for log lines and metric
labels and makes the worker's :class:`~baton.telemetry.tracing.Tracing` visible to the activity.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar

import structlog
from opentelemetry import trace
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.converter import PayloadConverter
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    StartActivityInput,
    StartChildWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from baton.approvals import ApprovalDecision, parse_decision
from baton.runs import ApprovalEvent, PageRequest, RunInput, RunResult
from baton.specs import AgentSpec
from baton.telemetry import semconv as sc
from baton.telemetry.tracing import ACTIVE, Tracing, tracer

__all__ = ["RUN_CONTEXT", "LogContextInterceptor", "TelemetryInterceptor"]

HEADER = "baton-context"
# Team, tenant and Baton run id of the activity being executed (labels for metrics).
RUN_CONTEXT: ContextVar[dict[str, str]] = ContextVar("baton_run_context", default={})  # noqa: B039
_converter = PayloadConverter.default


class TelemetryInterceptor(Interceptor):
    """``tracing=None``: log context only (and no spans of Baton's own)."""

    def __init__(self, tracing: Tracing | None = None) -> None:
        self.tracing = tracing if tracing is not None and tracing.enabled else None

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next, self.tracing)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        tracing = self.tracing

        class _Configured(_WorkflowInbound):
            config = tracing

        return _Configured


class LogContextInterceptor(TelemetryInterceptor):
    """The log-context half alone (kept for callers that predate tracing)."""

    def __init__(self) -> None:
        super().__init__(None)


# -- activities ---------------------------------------------------------------------------------
class _ActivityInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, tracing: Tracing | None) -> None:
        super().__init__(next)
        self._tracing = tracing

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        payload = input.args[0] if input.args else None
        header = input.headers.get(HEADER)
        sent: dict[str, str] = _converter.from_payloads([header])[0] if header else {}
        # The header leaves out what the activity knows anyway (see _WorkflowOutbound._header).
        context = {"run": info.workflow_id or "", "tenant": "default", **sent} if sent else {}
        tracing_token = ACTIVE.set(self._tracing)
        context_token = RUN_CONTEXT.set(context)
        try:
            with structlog.contextvars.bound_contextvars(
                workflow_id=info.workflow_id, run_id=info.workflow_run_id,
                activity=info.activity_type, attempt=info.attempt,
                agent=getattr(payload, "agent", None), step=getattr(payload, "step", None),
                team=context.get("team"), tenant=context.get("tenant"),
            ):
                return await super().execute_activity(input)
        finally:
            RUN_CONTEXT.reset(context_token)
            ACTIVE.reset(tracing_token)


# -- workflows ----------------------------------------------------------------------------------
class _WorkflowInbound(WorkflowInboundInterceptor):
    config: ClassVar[Tracing | None] = None

    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self.context: dict[str, str] = {}  # the baton-context header
        self.log_context: dict[str, Any] = {}  # bound again in signal and update handlers
        self.step: int | None = None  # of the latest activity started
        self.run_span: trace.Span | None = None  # parent of approval spans

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound, self))

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        run = input.args[0] if input.args else None
        if not isinstance(run, RunInput):
            return await super().execute_workflow(input)
        info = workflow.info()
        agent = _agent_of(run) if info.workflow_type == "AgentWorkflow" else None
        self.context = {"team": run.team.name, "tenant": run.tenant,
                        "run": run.parent_run_id or info.workflow_id}
        self.log_context = {
            "workflow_id": info.workflow_id, "run_id": info.run_id, "team": run.team.name,
            "tenant": run.tenant, "agent": agent.name if agent else None, "attempt": info.attempt}
        with ExitStack() as stack:
            stack.enter_context(structlog.contextvars.bound_contextvars(**self.log_context))
            spans: list[trace.Span] = []
            if self.config is not None:
                spans = self._open_spans(stack, run, agent.name if agent else None)
            result = await super().execute_workflow(input)
            if isinstance(result, RunResult):
                for span in spans:
                    span.set_attributes({
                        sc.USAGE_INPUT: result.usage.input_tokens,
                        sc.USAGE_OUTPUT: result.usage.output_tokens,
                        sc.COST_USD: result.cost_usd, sc.RUN_STATUS: result.status.value,
                        sc.STEP: result.steps})
                    if result.output is not None and self.config and self.config.content:
                        span.set_attribute(sc.OUTPUT_MESSAGES,
                                           _messages("assistant", result.output))
            return result

    def _open_spans(self, stack: ExitStack, run: RunInput, agent: str | None) -> list[trace.Span]:
        info = workflow.info()
        tracer_ = tracer("baton.workflows")
        common = {sc.CONVERSATION_ID: self.context["run"], sc.TEAM: run.team.name,
                  sc.TENANT: run.tenant}
        spans = []
        if run.carry is None and (run.parent_run_id is None or agent is None):
            # A team run (or a sub-team's pattern workflow). Pattern ``single``: the AgentWorkflow
            # *is* the run, so it gets both spans; a child agent only ``invoke_agent``.
            spans.append(stack.enter_context(tracer_.start_as_current_span(
                f"invoke_workflow {run.team.name}", attributes={
                    **common, sc.OPERATION: "invoke_workflow", sc.WORKFLOW_NAME: run.team.name,
                    "baton.pattern": run.team.pattern})))
        if agent is not None:
            spans.append(stack.enter_context(tracer_.start_as_current_span(
                f"invoke_agent {agent}", attributes={
                    **common, sc.OPERATION: "invoke_agent", sc.AGENT_NAME: agent,
                    sc.AGENT_ID: info.workflow_id, "baton.continued": run.carry is not None})))
        if spans and self.config is not None and self.config.content and run.carry is None:
            spans[0].set_attribute(sc.INPUT_MESSAGES, _messages("user", run.input))
        self.run_span = spans[-1] if spans else None
        return spans

    async def handle_signal(self, input: HandleSignalInput) -> None:
        with self._handler_logs(), self._approval_span(input.signal, input.args):
            await super().handle_signal(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        with self._handler_logs(), self._approval_span(input.update, input.args):
            return await super().handle_update_handler(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        with self._handler_logs():
            super().handle_update_validator(input)

    @contextmanager
    def _handler_logs(self) -> Iterator[None]:
        """Handlers run in tasks of their own, outside the run's context: bind it again."""
        with structlog.contextvars.bound_contextvars(**self.log_context, step=self.step):
            if self.run_span is None:
                yield
                return
            # Context only (trace id on their lines): a refused decision is no error of the run.
            with trace.use_span(self.run_span, end_on_exit=False, record_exception=False,
                                set_status_on_exception=False):
                yield

    @contextmanager
    def _approval_span(self, name: str, args: Any) -> Iterator[None]:
        """``approval {tool}``, from the request to the decision, when a ``decide`` settles one.

        Read through the workflow's public query methods: the approval must be pending before
        the handler, and the run log must show its decision after it (a refused signal does not).
        """
        raw = args[0] if args else None
        # ``decide`` takes the raw payload (it validates decisions itself); read it the same way,
        # and never let telemetry be what fails on a malformed one.
        try:
            value = workflow.payload_converter().from_payload(raw.payload) if isinstance(
                raw, RawValue) else raw
        except Exception:
            value = None
        decision = parse_decision(value)
        instance = workflow.instance()
        pending_of = getattr(instance, "pending_approvals", None)
        log_of = getattr(instance, "run_log", None)
        if (self.config is None or self.run_span is None or name != "decide"
                or not isinstance(decision, ApprovalDecision) or pending_of is None
                or log_of is None):
            yield
            return
        pending = next((p for p in pending_of() if p.approval_id == decision.approval_id), None)
        before = log_of(PageRequest(limit=1)).total
        yield
        if pending is None:
            return
        decided = next((e for e in log_of(PageRequest(offset=before, limit=1000)).events
                        if isinstance(e, ApprovalEvent) and e.approval_id == pending.approval_id
                        and e.action in ("approved", "rejected", "edited")), None)
        if decided is None:
            return
        requested_ns = int(pending.requested_at.timestamp() * 1e9)
        span = tracer("baton.workflows").start_span(
            f"approval {pending.tool}", context=trace.set_span_in_context(self.run_span),
            start_time=requested_ns, attributes={
                sc.APPROVAL_ID: pending.approval_id, sc.APPROVAL_DECISION: decision.decision,
                sc.APPROVAL_BY: decision.by, sc.TOOL_NAME: pending.tool,
                sc.TOOL_CALL_ID: pending.call_id, sc.STEP: pending.step,
                "baton.approval.via": "update" if _in_update() else "signal"})
        span.add_event("baton.approval.requested", {sc.APPROVAL_ID: pending.approval_id,
                                                    "baton.approval.reason": pending.reason},
                       timestamp=requested_ns)
        span.add_event("baton.approval.decided", {sc.APPROVAL_ID: pending.approval_id,
                                                  "baton.approval.action": decided.action})
        span.end()


def _agent_of(run: RunInput) -> AgentSpec | None:
    # An unknown agent fails the workflow itself; telemetry must never be the one to fail it.
    try:
        return run.team.agent(run.agent)
    except Exception:
        return None


def _in_update() -> bool:
    return workflow.current_update_info() is not None


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, inbound: _WorkflowInbound) -> None:
        super().__init__(next)
        self._inbound = inbound

    def _header(self, headers: Any, *, activity: bool = False) -> dict[str, Payload]:
        context = self._inbound.context
        if not context:
            return dict(headers)
        if activity:  # stored with every activity: what the activity knows anyway (its
            # workflow's id, the default tenant) is left out; the activity side puts it back
            context = {k: v for k, v in context.items()
                       if not (k == "run" and v == workflow.info().workflow_id)
                       and not (k == "tenant" and v == "default")}
        return {**headers, HEADER: _converter.to_payloads([context])[0]}

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        step = getattr(input.args[0], "step", None) if input.args else None
        if step is not None:
            # The calling task's own context: later workflow lines of this step carry it.
            structlog.contextvars.bind_contextvars(step=step)
            self._inbound.step = step
        input.headers = self._header(input.headers, activity=True)
        return super().start_activity(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> workflow.ChildWorkflowHandle[Any, Any]:
        input.headers = self._header(input.headers)
        return await super().start_child_workflow(input)
