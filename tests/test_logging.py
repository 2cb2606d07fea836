"""Logs: structlog JSON lines carry the run context inside workflows and activities, workflow
lines are not repeated on replay, secrets are redacted, format and level are honoured."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from helpers import new_run_id, support_team
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import run_result
from baton.runs import RunInput, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.telemetry import Tracing, configure_logging
from baton.telemetry.logs import register_secret
from baton.worker import worker_resources

AGENT = "support_agent"
CONTEXT_KEYS = {"workflow_id", "run_id", "team", "tenant", "agent", "step", "attempt", "trace_id"}


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Logging configured into a buffer; the previous configuration restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    config = structlog.get_config()
    buffer = io.StringIO()
    configure_logging("json", "info", stream=buffer)
    yield buffer
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


async def test_workflow_and_activity_lines_carry_the_run_context(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        stream: io.StringIO) -> None:
    team = support_team()
    run_id = new_run_id(team)
    scripted.set_script(run_id, {AGENT: [
        {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A9999"}}]},
        {"tool_calls": [{"name": "issue_refund", "arguments": {
            "order_id": "A1001", "amount": 5.0, "reason": "late"}}]},
        {"content": "Done."}]})
    exporter = InMemorySpanExporter()
    tracing = Tracing(processors=[SimpleSpanProcessor(exporter)])
    # No workflow cache: history replays on every task, and workflow lines must not repeat.
    async with worker_resources(client, settings, tracing=tracing,
                                max_cached_workflows=0) as running, running:
        handle = await client.start_workflow(
            "AgentWorkflow", RunInput(team=team, input="refund A1001"), id=run_id,
            task_queue=settings.task_queue, result_type=RunResult)
        for _ in range(400):
            pending = await handle.query("pending_approvals", result_type=list[PendingApproval])
            if pending:
                break
            await asyncio.sleep(0.05)
        # A refused signal: the workflow logs a warning (workflow.logger) and keeps waiting.
        await handle.signal("decide", ApprovalDecision(
            approval_id="apr-nope", decision="approve", by="alice"))
        await handle.execute_update("decide", ApprovalDecision(
            approval_id=pending[0].approval_id, decision="approve", by="alice"))
        result = await run_result(handle)
    assert result.status is RunStatus.COMPLETED
    [agent_span] = [s for s in exporter.get_finished_spans() if s.name.startswith("invoke_agent")]
    trace_id = format(agent_span.context.trace_id, "032x")
    records = [r for r in lines(stream) if r.get("workflow_id") == run_id]

    [tool_line] = [r for r in records if "tool lookup_order raised" in r["event"]]
    assert tool_line.keys() >= CONTEXT_KEYS, tool_line
    assert tool_line["agent"] == AGENT and tool_line["team"] == "support"
    assert tool_line["tenant"] == "default"
    assert tool_line["step"] == 1 and tool_line["attempt"] == 1
    assert tool_line["activity"] == "execute_tool"
    assert tool_line["trace_id"] == trace_id

    refused = [r for r in records if "refused decision on apr-nope" in r["event"]]
    assert len(refused) == 1, refused  # not repeated by the replays that followed
    [line] = refused
    assert line.keys() >= CONTEXT_KEYS, line
    assert line["agent"] == AGENT and line["step"] == 2 and line["trace_id"] == trace_id
    assert line["level"] == "warning" and line["workflow_type"] == "AgentWorkflow"
    assert "({" not in line["event"]  # the adapter's context is in keys, not the message


def test_secrets_are_redacted(stream: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_API_KEY", "sk-acme-0123456789")
    monkeypatch.setenv("PROFILE_KEY_VAR", "pk-profile-abcdefgh")
    configure_logging("json", "info", stream=stream, secret_envs=["PROFILE_KEY_VAR"])
    register_secret("rt-runtime-secret-42")
    log = structlog.get_logger("test")
    log.info("calling provider", api_key="sk-literal", input_tokens=12, output_tokens=3,
             headers={"Authorization": "Bearer abc", "Accept": "json"},
             note="env sk-acme-0123456789 and pk-profile-abcdefgh and rt-runtime-secret-42")
    logging.getLogger("httpx").warning("sent key %s", "sk-acme-0123456789")
    text = stream.getvalue()
    for secret in ("sk-literal", "Bearer abc", "sk-acme-0123456789", "pk-profile-abcdefgh",
                   "rt-runtime-secret-42"):
        assert secret not in text
    first, second = lines(stream)
    assert first["api_key"] == "***" and first["headers"]["Authorization"] == "***"
    assert first["headers"]["Accept"] == "json"
    assert first["input_tokens"] == 12 and first["output_tokens"] == 3  # not mistaken for tokens
    assert second["event"] == "sent key ***" and second["logger"] == "httpx"


def test_format_and_level_are_honoured(stream: io.StringIO) -> None:
    configure_logging("console", "warning", stream=stream)
    log = structlog.get_logger("test")
    log.info("quiet")
    log.warning("loud", answer=42)
    logging.getLogger("other").info("quiet too")
    text = stream.getvalue()
    assert "quiet" not in text
    assert "loud" in text and "answer" in text
    assert not text.lstrip().startswith("{")  # console, not JSON
