"""The agent step written by hand on Temporal, without Baton: what ``agent_step_overhead_ratio``
cannot show (its bare side calls no model).

The same calls as a Baton agent step: one activity posts the conversation to the same model
endpoint (OpenAI Chat Completions, the scripted server with the same script), one runs the tool
the model asked for. The conversation lives in the workflow and is sent whole, as Temporal's
samples write an agent; no approvals, budgets, idempotency, traces or run log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import httpx

TIMEOUT = timedelta(seconds=30)
ECHO = {"type": "function", "function": {
    "name": "echo", "description": "Return the text unchanged.",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}},
                   "required": ["text"]}}}


@dataclass
class ModelCall:
    base_url: str
    run_id: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=lambda: [ECHO])


@dataclass
class AgentTask:
    base_url: str
    run_id: str
    task: str
    max_steps: int


class BareAgentActivities:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    @activity.defn(name="bare_agent_model")
    async def call_model(self, call: ModelCall) -> dict[str, Any]:
        response = await self.http.post(
            f"{call.base_url}/chat/completions",
            json={"model": "baton-scripted", "messages": call.messages, "tools": call.tools},
            headers={"X-Baton-Run-Id": call.run_id, "X-Baton-Agent": "stepper"})
        response.raise_for_status()
        message: dict[str, Any] = response.json()["choices"][0]["message"]
        return message

    @activity.defn(name="bare_agent_tool")
    async def run_tool(self, arguments: str) -> str:
        return str(json.loads(arguments).get("text", ""))


@workflow.defn(name="BareAgent")
class BareAgent:
    @workflow.run
    async def run(self, task: AgentTask) -> str:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "call echo"}, {"role": "user", "content": task.task}]
        for _ in range(task.max_steps):
            reply = await workflow.execute_activity(
                "bare_agent_model", ModelCall(task.base_url, task.run_id, messages),
                start_to_close_timeout=TIMEOUT, result_type=dict)
            messages.append(reply)
            if not reply.get("tool_calls"):
                return str(reply.get("content") or "")
            for call in reply["tool_calls"]:
                result = await workflow.execute_activity(
                    "bare_agent_tool", call["function"]["arguments"],
                    start_to_close_timeout=TIMEOUT, result_type=str)
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        return "max steps"
