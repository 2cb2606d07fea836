"""pydantic-ai's Temporal durability (``pydantic-ai-slim[temporal,openai]``), written as its
documentation shows: a module-level ``Agent`` with the ``TemporalDurability`` capability, run by
a ``PydanticAIWorkflow``; model requests and tool calls are Temporal activities.

``python -m bench.peers.worker pydantic_ai ADDRESS QUEUE`` runs its worker.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import (
    PydanticAIPlugin,
    PydanticAIWorkflow,
    TemporalDurability,
)
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.usage import UsageLimits
from temporalio import workflow
from temporalio.workflow import ActivityConfig

from bench.peers import _loop

NAME = "pydantic_ai"
TITLE = "pydantic-ai Temporal durability"
PACKAGES = ["pydantic-ai-slim"]
WORKFLOW = "PydanticAILoop"

# The agent is built on import, in the worker (which has the variable) and again in the
# workflow sandbox; the bench process never imports this module.
model = OpenAIChatModel(_loop.MODEL, provider=OpenAIProvider(
    base_url=os.environ.get(_loop.MODEL_URL_ENV, "http://127.0.0.1:1/v1"), api_key="scripted"))
agent = Agent(model, name="worker", instructions=_loop.INSTRUCTIONS, capabilities=[
    TemporalDurability(activity_config=ActivityConfig(
        start_to_close_timeout=timedelta(seconds=_loop.TOOL_TIMEOUT_S)))])


@agent.tool_plain
async def echo(text: str) -> str:
    """Return the text unchanged.

    Args:
        text: Any text.
    """
    return text


@agent.tool_plain
async def record_payment(order_id: str) -> str:
    """Record a payment for an order.

    Args:
        order_id: The order to record the payment for.
    """
    number = _loop.record_effect(order_id)
    await asyncio.sleep(_loop.WRITE_TOOL_SLEEP_S)
    return f"payment {number} recorded"


@workflow.defn(name=WORKFLOW)
class PydanticAILoop(PydanticAIWorkflow):
    __pydantic_ai_agents__ = (agent,)

    @workflow.run
    async def run(self, prompt: str) -> str:
        result = await agent.run(prompt, usage_limits=UsageLimits(request_limit=None))
        return str(result.output)


async def serve(address: str, queue: str) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(address, plugins=[PydanticAIPlugin()])
    worker = Worker(client, task_queue=queue, workflows=[PydanticAILoop])
    await worker.run()
