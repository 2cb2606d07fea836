"""Traces on a real Temporal dev server: span tree and GenAI attribute names, token and cost
totals against the run log, no duplicate spans on replay, content capture opt-in.

OpenTelemetry's global tracer provider is set once per process; Baton installs one replay-safe
provider and each worker brings its own span processors (``Tracing``), so every test here gets a
fresh in-memory exporter.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from helpers import new_run_id, support_team
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import run_result
from baton.runs import PageRequest, RunInput, RunLogPage, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import ModelProfile
from baton.telemetry import Tracing, client_interceptor
from baton.telemetry.metrics import temporal_runtime
from baton.visibility import STATUS
from baton.worker import worker_resources

AGENT = "support_agent"
TASK = "Please refund order A1001, it arrived broken (secret-task-marker)"
LOOKUP = {"name": "lookup_order", "arguments": {"order_id": "A1001"}}
REFUND = {"name": "issue_refund",
          "arguments": {"order_id": "A1001", "amount": 10.0, "reason": "arrived broken"}}
SCRIPT = [{"tool_calls": [LOOKUP]}, {"tool_calls": [REFUND]}, {"content": "Refunded 10.00."}]


@pytest.fixture
def settings(settings: BatonSettings) -> BatonSettings:
    """This file's workers serve a priced default profile, so spans and metrics carry cost."""
    priced = ModelProfile(price_input_per_mtok=3.0, price_output_per_mtok=15.0)
    return settings.model_copy(update={"profiles": {"default": priced}})


def traced_client(client: Client) -> Client:
    return Client(client.service_client, namespace=client.namespace,
                  data_converter=pydantic_data_converter, interceptors=[client_interceptor()])


async def run_with_approval(client: Client, settings: BatonSettings, scripted: ScriptedServer,
                            tracing: Tracing, tenant: str = "default",
                            **worker: Any) -> tuple[RunResult, list[Any], str]:
    team = support_team()  # issue_refund needs a support lead's approval
    run_id = new_run_id(team)
    scripted.set_script(run_id, {AGENT: SCRIPT})
    traced = traced_client(client)
    async with worker_resources(client, settings, tracing=tracing, **worker) as running, running:
        handle = await traced.start_workflow("AgentWorkflow", RunInput(team=team, input=TASK,
                                                                       tenant=tenant),
                                             id=run_id, task_queue=settings.task_queue,
                                             result_type=RunResult)
        # Wait on BatonStatus, which the server reads from its own state, then query once. A
        # query runs the workflow's code: with no workflow cache it replays the history and, if
        # the query lands while a workflow task is pending, runs that task's new code as well, so
        # Temporal's tracing interceptor emits its spans (StartActivity) once for the query and
        # again for the real task, under the same deterministic id. Polling by query while the
        # run moves would make the duplicate-span check below depend on timing.
        pending: list[PendingApproval] = []
        for _ in range(400):
            described = await handle.describe()
            if described.typed_search_attributes.get(STATUS) == RunStatus.AWAITING_APPROVAL:
                pending = await handle.query("pending_approvals",
                                             result_type=list[PendingApproval])
                if pending:
                    break
            await asyncio.sleep(0.05)
        [approval] = pending
        await handle.execute_update("decide", ApprovalDecision(
            approval_id=approval.approval_id, decision="approve", by="alice", reason="ok"))
        result = await run_result(handle)
        page = await handle.query("run_log", PageRequest(limit=1000), result_type=RunLogPage)
    assert result.status is RunStatus.COMPLETED, result
    return result, page.events, approval.approval_id


def exporter_and_tracing(content: bool = False) -> tuple[InMemorySpanExporter, Tracing]:
    exporter = InMemorySpanExporter()
    return exporter, Tracing(processors=[SimpleSpanProcessor(exporter)], content=content)


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[str]:
    by_id = {s.context.span_id: s for s in spans}
    names = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        found = by_id[parent.span_id]
        names.append(found.name)
        parent = found.parent
    return names


async def test_span_tree_and_genai_attributes(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    exporter, tracing = exporter_and_tracing()
    result, events, approval_id = await run_with_approval(client, settings, scripted, tracing)
    spans = exporter.get_finished_spans()
    # One trace for the run. The test's own queries and the decide update are separate client
    # calls, so they are traces of their own (a person approving from the CLI starts one).
    [start] = named(spans, "StartWorkflow:AgentWorkflow")
    run_trace = [s for s in spans if s.context.trace_id == start.context.trace_id]
    others = {s.name.split(":")[0] for s in spans if s not in run_trace}
    assert others <= {"QueryWorkflow", "HandleQuery", "StartWorkflowUpdate", "ValidateUpdate",
                      "HandleUpdate"}, others
    spans = run_trace
    assert start.parent is None  # the client's span is the root
    [run] = named(spans, "invoke_workflow support")
    [agent] = named(spans, f"invoke_agent {AGENT}")
    chats = named(spans, "chat baton-scripted")
    [lookup] = named(spans, "execute_tool lookup_order")
    [refund] = named(spans, "execute_tool issue_refund")
    [approval] = named(spans, "approval issue_refund")
    assert len(chats) == 3
    for span in [*chats, lookup, refund, approval]:
        assert f"invoke_agent {AGENT}" in ancestors(span, spans), span.name
    assert "invoke_workflow support" in ancestors(agent, spans)
    assert "StartWorkflow:AgentWorkflow" in ancestors(run, spans)

    assert run.attributes is not None and agent.attributes is not None
    assert run.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert run.attributes["gen_ai.workflow.name"] == "support"
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == AGENT
    assert agent.attributes["gen_ai.agent.id"] == result.run_id
    assert agent.attributes["gen_ai.conversation.id"] == result.run_id
    assert agent.attributes["baton.tenant"] == "default"
    assert agent.attributes["baton.run.status"] == "completed"

    chat = chats[0].attributes
    assert chat is not None
    assert chat["gen_ai.operation.name"] == "chat"
    assert chat["gen_ai.provider.name"] == "openai"
    assert chat["gen_ai.request.model"] == "baton-scripted"
    assert chat["gen_ai.response.model"]
    assert chat["gen_ai.conversation.id"] == result.run_id
    assert chat["baton.attempt"] == 1
    assert isinstance(chat["gen_ai.usage.input_tokens"], int)
    assert isinstance(chat["gen_ai.usage.output_tokens"], int)
    assert tuple(chat["gen_ai.response.finish_reasons"])  # type: ignore[arg-type]

    calls = {e.tool: e for e in events if e.kind == "tool_call"}
    for span, tool in ((lookup, "lookup_order"), (refund, "issue_refund")):
        attrs = span.attributes
        assert attrs is not None
        assert attrs["gen_ai.operation.name"] == "execute_tool"
        assert attrs["gen_ai.tool.name"] == tool
        assert attrs["gen_ai.tool.call.id"] == calls[tool].call_id
        assert attrs["baton.idempotency_key"] == calls[tool].idempotency_key
        assert attrs["baton.cache_hit"] is False
        assert attrs["baton.ledger_hit"] is False
        assert attrs["baton.attempt"] == 1
        assert attrs["baton.tool.status"] == "ok"
    assert approval.attributes is not None
    assert approval.attributes["baton.approval_id"] == approval_id
    assert approval.attributes["baton.approval.decision"] == "approve"
    assert approval.attributes["baton.approval.by"] == "alice"
    assert [e.name for e in approval.events] == ["baton.approval.requested",
                                                  "baton.approval.decided"]
    # The approval span covers the wait, and the refund ran after it.
    assert approval.start_time is not None and approval.end_time is not None
    assert refund.start_time is not None and approval.end_time <= refund.start_time


async def test_token_and_cost_attributes_equal_the_run_log(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    exporter, tracing = exporter_and_tracing()
    result, events, _ = await run_with_approval(client, settings, scripted, tracing)
    spans = exporter.get_finished_spans()
    model_calls = [e for e in events if e.kind == "model_call"]
    logged_in = sum(e.usage.input_tokens for e in model_calls)
    logged_out = sum(e.usage.output_tokens for e in model_calls)
    logged_cost = sum(e.cost_usd for e in model_calls)
    assert logged_in > 0 and logged_cost > 0
    chats = named(spans, "chat baton-scripted")

    def total(key: str) -> float:
        return sum(float(s.attributes[key]) for s in chats if s.attributes)

    assert total("gen_ai.usage.input_tokens") == logged_in
    assert total("gen_ai.usage.output_tokens") == logged_out
    assert abs(total("baton.cost_usd") - logged_cost) < 1e-9
    [agent] = named(spans, f"invoke_agent {AGENT}")
    assert agent.attributes is not None
    assert agent.attributes["gen_ai.usage.input_tokens"] == result.usage.input_tokens == logged_in
    assert agent.attributes["gen_ai.usage.output_tokens"] == logged_out
    assert abs(float(agent.attributes["baton.cost_usd"]) - result.cost_usd) < 1e-9  # type: ignore[arg-type]


def fingerprint(spans: Sequence[ReadableSpan]) -> Counter[str]:
    # Query spans depend on how often the test polled, not on the run.
    return Counter(s.name for s in spans if "Query" not in s.name)


async def test_replay_emits_no_duplicate_spans(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    exporter, tracing = exporter_and_tracing()
    # No workflow cache: every workflow task replays the whole history from the start.
    await run_with_approval(client, settings, scripted, tracing, max_cached_workflows=0)
    replayed = exporter.get_finished_spans()
    # Query-handling spans are left out: Temporal's plugin derives their ids from the workflow's
    # deterministic id source at the history point the query sees, so two polls of an idle run
    # may share an id. They are not replays of the run's own spans, which must all be unique.
    own = [s for s in replayed if "Query" not in s.name]
    ids = Counter(s.context.span_id for s in own)
    duplicated = [(s.name, s.context.span_id) for s in own if ids[s.context.span_id] > 1]
    assert not duplicated
    counts = fingerprint(replayed)
    assert counts[f"invoke_agent {AGENT}"] == 1
    assert counts["invoke_workflow support"] == 1
    assert counts["chat baton-scripted"] == 3
    assert counts["approval issue_refund"] == 1

    cached_exporter, cached_tracing = exporter_and_tracing()
    await run_with_approval(client, settings, scripted, cached_tracing)
    assert fingerprint(cached_exporter.get_finished_spans()) == counts
    # Spans started during replay keep the original start time and parent.
    [agent] = named(replayed, f"invoke_agent {AGENT}")
    assert all(f"invoke_agent {AGENT}" in ancestors(s, replayed)
               for s in named(replayed, "chat baton-scripted"))
    assert agent.start_time is not None and agent.end_time is not None
    assert agent.start_time <= min(s.start_time or 0 for s in named(replayed, "chat baton-scripted"))


def all_attribute_text(spans: Sequence[ReadableSpan]) -> str:
    return "\n".join(f"{k}={v}" for s in spans for k, v in (s.attributes or {}).items())


async def test_content_is_off_by_default(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    exporter, tracing = exporter_and_tracing()
    await run_with_approval(client, settings, scripted, tracing)
    text = all_attribute_text(exporter.get_finished_spans())
    assert "secret-task-marker" not in text
    assert "arrived broken" not in text  # the refund reason: a tool argument
    assert "gen_ai.input.messages" not in text and "gen_ai.output.messages" not in text


async def test_content_is_recorded_when_enabled(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    exporter, tracing = exporter_and_tracing(content=True)
    await run_with_approval(client, settings, scripted, tracing)
    spans = exporter.get_finished_spans()
    chat = named(spans, "chat baton-scripted")[0].attributes
    assert chat is not None
    assert "secret-task-marker" in str(chat["gen_ai.input.messages"])
    assert "gen_ai.output.messages" in chat
    [refund] = named(spans, "execute_tool issue_refund")
    assert refund.attributes is not None
    assert "arrived broken" in str(refund.attributes["gen_ai.tool.call.arguments"])
    assert "gen_ai.tool.call.result" in refund.attributes


async def test_untraced_worker_records_no_spans(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    watcher, watching = exporter_and_tracing()
    with watching.exporting():  # attached to the process provider, but the worker is untraced
        await run_with_approval(client, settings, scripted, Tracing())
    names = {s.name for s in watcher.get_finished_spans()}
    assert not {n for n in names if n.startswith(("invoke_", "chat ", "execute_tool", "approval"))}


def points(reader: InMemoryMetricReader, name: str, tenant: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == name for p in m.data.data_points
            if p.attributes and p.attributes.get("baton.tenant") == tenant]


async def test_token_cost_and_latency_metrics(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        metric_reader: InMemoryMetricReader) -> None:
    _, tracing = exporter_and_tracing()
    tenant = f"acme-{settings.task_queue}"  # metrics are cumulative: a tenant of this test only
    _, events, _ = await run_with_approval(client, settings, scripted, tracing, tenant=tenant)
    model_calls = [e for e in events if e.kind == "model_call"]
    tokens = points(metric_reader, "gen_ai.client.token.usage", tenant)
    by_type = {p.attributes["gen_ai.token.type"]: p for p in tokens}
    assert by_type["input"].sum == sum(e.usage.input_tokens for e in model_calls)
    assert by_type["output"].sum == sum(e.usage.output_tokens for e in model_calls)
    assert by_type["input"].count == 3
    labels = by_type["input"].attributes
    assert labels["baton.team"] == "support" and labels["gen_ai.agent.name"] == AGENT
    assert labels["gen_ai.request.model"] == "baton-scripted"
    [cost] = points(metric_reader, "baton.cost_usd", tenant)
    assert abs(cost.value - sum(e.cost_usd for e in model_calls)) < 1e-9
    [duration] = points(metric_reader, "gen_ai.client.operation.duration", tenant)
    assert isinstance(duration, HistogramDataPoint) and duration.count == 3
    tools = {p.attributes["gen_ai.tool.name"]: p
             for p in points(metric_reader, "baton.tool.duration", tenant)}
    assert set(tools) == {"lookup_order", "issue_refund"}
    assert all(p.count == 1 and p.sum > 0 for p in tools.values())


async def test_temporal_worker_metrics_on_prometheus(
        client: Client, settings: BatonSettings, unused_tcp_port: int) -> None:
    address = f"127.0.0.1:{unused_tcp_port}"
    runtime, buffer = temporal_runtime(settings.model_copy(update={"metrics_prometheus": address}))
    assert runtime is not None and buffer is None
    measured = await Client.connect(client.service_client.config.target_host,
                                    namespace=client.namespace, runtime=runtime,
                                    data_converter=pydantic_data_converter)
    async with worker_resources(measured, settings) as running, running:
        await asyncio.sleep(0.5)  # pollers start
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://{address}/metrics")).text
    assert "temporal_" in text


async def test_every_model_call_attempt_is_a_span_with_the_providers_request_id(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    exporter, tracing = exporter_and_tracing()
    team = support_team()
    run_id = new_run_id(team)
    scripted.set_script(run_id, {AGENT: [{"content": "Hello."}]})
    scripted.set_faults(run_id, [{"fault": "503", "retry_after": 0.1,
                                  "headers": {"x-request-id": "req_down"}}])
    async with worker_resources(client, settings, tracing=tracing) as running, running:
        result = await client.execute_workflow(
            "AgentWorkflow", RunInput(team=team, input="hi"), id=run_id,
            task_queue=settings.task_queue, result_type=RunResult)
    assert result.status is RunStatus.COMPLETED, result
    failed, answered = sorted(named(exporter.get_finished_spans(), "chat baton-scripted"),
                              key=lambda s: s.start_time or 0)
    assert failed.attributes is not None and answered.attributes is not None
    assert (failed.attributes["baton.attempt"], failed.attributes["error.type"],
            failed.attributes["baton.request_id"]) == (1, "ProviderRetryableError", "req_down")
    assert answered.attributes["baton.attempt"] == 2
    assert str(answered.attributes["baton.request_id"]).startswith("req_")
    assert answered.attributes["baton.usage.cache_read_tokens"] == 0
