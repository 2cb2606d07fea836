"""Temporal's OpenAI Agents integration (``temporalio-openai-agents`` with ``openai-agents``),
written as its documentation shows: an ``Agent`` run by ``Runner.run`` inside a workflow, the
model called through the plugin's activity, each tool a Temporal activity (``activity_as_tool``).

``python -m bench.peers.worker openai_agents ADDRESS QUEUE`` runs its worker.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from agents import Agent, Runner
from temporalio import activity, workflow
from temporalio.openai_agents.workflow import activity_as_tool

from bench.peers import _loop

NAME = "openai_agents"
TITLE = "Temporal OpenAI Agents integration"
PACKAGES = ["temporalio-openai-agents", "openai-agents"]
WORKFLOW = "OpenAIAgentsLoop"
TOOL_TIMEOUT = timedelta(seconds=_loop.TOOL_TIMEOUT_S)


@activity.defn
async def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@activity.defn
async def record_payment(order_id: str) -> str:
    """Record a payment for an order.

    Args:
        order_id: The order to record the payment for.
    """
    number = _loop.record_effect(order_id)
    await asyncio.sleep(_loop.WRITE_TOOL_SLEEP_S)
    return f"payment {number} recorded"


@workflow.defn(name=WORKFLOW)
class OpenAIAgentsLoop:
    @workflow.run
    async def run(self, prompt: str) -> str:
        agent: Agent[None] = Agent(
            name="worker", instructions=_loop.INSTRUCTIONS, model=_loop.MODEL,
            tools=[activity_as_tool(echo, start_to_close_timeout=TOOL_TIMEOUT),
                   activity_as_tool(record_payment, start_to_close_timeout=TOOL_TIMEOUT)])
        result = await Runner.run(agent, input=prompt, max_turns=_loop.MAX_TURNS)
        return str(result.final_output)


async def serve(address: str, queue: str) -> None:
    from agents.models.openai_provider import OpenAIProvider
    from openai import AsyncOpenAI
    from temporalio.client import Client
    from temporalio.openai_agents import ModelActivityParameters, OpenAIAgentsPlugin
    from temporalio.worker import Worker

    # Chat completions (the scripted server's API), not the Responses API; no SDK retries: the
    # model activity's retry policy is the one retry mechanism, as the integration intends.
    provider = OpenAIProvider(openai_client=AsyncOpenAI(
        base_url=os.environ[_loop.MODEL_URL_ENV], api_key="scripted", max_retries=0),
        use_responses=False)
    plugin = OpenAIAgentsPlugin(
        model_params=ModelActivityParameters(start_to_close_timeout=timedelta(seconds=30)),
        model_provider=provider)
    client = await Client.connect(address, plugins=[plugin])
    worker = Worker(client, task_queue=queue, workflows=[OpenAIAgentsLoop],
                    activities=[echo, record_payment])
    await worker.run()
