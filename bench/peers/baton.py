"""Baton itself, in the same loop: ``AgentWorkflow`` with one echo tool (as ``bench.history``),
and for the kill test a ``write`` tool that sends ``ctx.idempotency_key`` along with its side
effect, as Baton's tool contract asks (``baton.activities.tools.activity``), plus the same tool
ignoring the key, to show what the ledger alone does.

``python -m bench.peers.worker baton ADDRESS QUEUE`` runs a Baton worker (``run_worker``, as in
production) serving ``bench.tools`` and this module's tools; ``BATON_HOME`` (set by the runner)
holds its ledger, shared by a killed worker and its replacement.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from baton.loader import parse_team
from baton.runs import RunInput
from baton.specs import TeamSpec
from baton.tools import ToolContext, tool
from bench.peers import _loop

NAME = "baton"
TITLE = "Baton"
PACKAGES = ["baton"]
WORKFLOW = "AgentWorkflow"
AGENT = "worker"


@tool(effect="write", timeout_s=_loop.TOOL_TIMEOUT_S)
async def record_payment(order_id: str, ctx: ToolContext) -> str:
    """Record a payment for an order.

    Args:
        order_id: The order to record the payment for.
    """
    number = await asyncio.to_thread(_loop.record_effect, order_id, ctx.idempotency_key)
    await asyncio.sleep(_loop.WRITE_TOOL_SLEEP_S)
    return f"payment {number} recorded"


@tool(effect="write", timeout_s=_loop.TOOL_TIMEOUT_S)
async def record_payment_keyless(order_id: str) -> str:
    """Record a payment for an order (without the idempotency key: what Baton's ledger alone
    protects, measured for contrast).

    Args:
        order_id: The order to record the payment for.
    """
    number = await asyncio.to_thread(_loop.record_effect, order_id)
    await asyncio.sleep(_loop.WRITE_TOOL_SLEEP_S)
    return f"payment {number} recorded"


def team(steps: int, write_tool: str = "record_payment") -> TeamSpec:
    """The peers' agent: the echo tool and one write tool (two tools, as every peer has)."""
    return parse_team({
        "name": "peers",
        "budget": {"max_tokens": 100_000_000, "max_cost_usd": 1000, "max_wall_clock_s": 36_000},
        "agents": [{"name": AGENT, "description": "long-running agent",
                    "instructions": _loop.INSTRUCTIONS,
                    "tools": ["echo", write_tool],
                    "max_steps": steps + 1}],
    })


def run_input(steps: int, write_tool: str = "record_payment") -> Any:
    return RunInput(team=team(steps, write_tool), input=_loop.PROMPT)


async def serve(address: str, queue: str) -> None:
    from baton.settings import BatonSettings
    from baton.worker import run_worker

    await run_worker(BatonSettings(
        temporal_address=address, task_queue=queue, log_level="warning",
        model_server_url=os.environ[_loop.MODEL_URL_ENV],
        tool_modules=["bench.tools", "bench.peers.baton"]))
