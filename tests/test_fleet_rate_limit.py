"""A model profile's ``max_requests_per_second`` holds across the whole fleet.

Three workers share a task queue; the profile's calls go through a queue of their own that the
Temporal server hands out at 5 a second to all of them together. Eight runs of five model calls
each, all at once: the scripted server's request log shows the pace held (after the server's
token bucket lets an idle queue's burst through).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from contextlib import AsyncExitStack

from temporalio.client import Client

from baton.client.api import BatonClient
from baton.loader import parse_team
from baton.runs import RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.specs import ModelProfile
from baton.worker import connect, worker_resources

RATE = 5
RUNS, CALLS = 8, 5


async def test_a_rate_limit_holds_across_three_workers(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    settings = settings.model_copy(update={
        "profiles": {"default": ModelProfile(max_requests_per_second=RATE)},
        "temporal_address": client.service_client.config.target_host})
    team = parse_team({"name": "chatty", "agents": [{
        "name": "talker", "description": "Looks up orders.", "instructions": "Look them up.",
        "tools": ["lookup_order"], "max_steps": CALLS}]})
    lookup = {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A1001"}}]}
    run_ids = [f"chatty-{uuid.uuid4().hex[:8]}" for _ in range(RUNS)]
    for run_id in run_ids:
        scripted.set_script(run_id, {"talker": [lookup] * (CALLS - 1) + [{"content": "Done."}]})
    async with AsyncExitStack() as fleet:
        for _ in range(3):  # three workers, each with its own connection, as three hosts have
            worker = await fleet.enter_async_context(
                worker_resources(await connect(settings), settings))
            await fleet.enter_async_context(worker)
        baton = BatonClient(client, settings)
        await asyncio.gather(*(baton.start(team, "Look up A1001", run_id=r) for r in run_ids))
        results = await asyncio.gather(*(baton.result(r) for r in run_ids))
    assert all(r.status is RunStatus.COMPLETED for r in results), [r.reason for r in results]
    stamps = sorted(call["at"] for run_id in run_ids for call in scripted.calls(run_id))
    assert len(stamps) == RUNS * CALLS
    # Temporal's server dispatches through a token bucket (per task queue partition): bursts of
    # up to twice the rate get through, the pace holds. So in any window of W seconds at most
    # RATE * W calls plus that burst, and all the calls take at least (calls - burst) / RATE.
    histogram = str(sorted(Counter(int(s - stamps[0]) for s in stamps).items()))
    for window in (1.0, 3.0, 5.0):
        busiest = max(sum(1 for s in stamps if start <= s < start + window) for start in stamps)
        assert busiest <= RATE * window + 2 * RATE, (window, busiest, histogram)
    assert stamps[-1] - stamps[0] >= (len(stamps) - 2 * RATE) / RATE, histogram
