"""Bare Temporal workflows: what the benchmarks compare Baton with.

Kept in a module of their own with nothing but temporalio imported, and run with Temporal's
defaults (the sandboxed workflow runner), as a Temporal user would write them.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

TIMEOUT = timedelta(seconds=30)
BRANCH_LATENCY_S = 0.2


@activity.defn(name="bare_noop")
async def bare_noop(value: int) -> int:
    return value + 1


@activity.defn(name="bare_model_call")
async def bare_model_call(latency_s: float) -> str:
    await asyncio.sleep(latency_s)
    return "done"


@workflow.defn(name="BareTwoActivities")
class BareTwoActivities:
    """One agent step's bare equivalent: two activities in sequence, ``iterations`` times."""

    @workflow.run
    async def run(self, iterations: int) -> int:
        for i in range(iterations):
            for _ in range(2):
                await workflow.execute_activity(bare_noop, i, start_to_close_timeout=TIMEOUT)
        return iterations


@workflow.defn(name="BareSequence")
class BareSequence:
    """``count`` activities one after another: the floor of anything sequential."""

    @workflow.run
    async def run(self, count: int) -> int:
        for i in range(count):
            await workflow.execute_activity(bare_noop, i, start_to_close_timeout=TIMEOUT)
        return count


@workflow.defn(name="BareBranch")
class BareBranch:
    @workflow.run
    async def run(self, latency_s: float) -> str:
        return await workflow.execute_activity(bare_model_call, latency_s,
                                               start_to_close_timeout=TIMEOUT)


@workflow.defn(name="BareFanout")
class BareFanout:
    """Fan out to child workflows of one 200 ms activity each, then one more activity."""

    @workflow.run
    async def run(self, branches: int) -> str:
        wid = workflow.info().workflow_id
        await asyncio.gather(*(workflow.execute_child_workflow(
            BareBranch.run, BRANCH_LATENCY_S, id=f"{wid}.{i}") for i in range(branches)))
        return await workflow.execute_activity(bare_model_call, 0.0,
                                               start_to_close_timeout=TIMEOUT)


@workflow.defn(name="BareSupervisorRounds")
class BareSupervisorRounds:
    """A routing round's bare equivalent: one activity, then one child with one activity."""

    @workflow.run
    async def run(self, rounds: int) -> int:
        wid = workflow.info().workflow_id
        for i in range(rounds):
            await workflow.execute_activity(bare_model_call, 0.0, start_to_close_timeout=TIMEOUT)
            await workflow.execute_child_workflow(BareBranch.run, 0.0, id=f"{wid}.{i}")
        return rounds


WORKFLOWS = [BareTwoActivities, BareSequence, BareBranch, BareFanout, BareSupervisorRounds]
ACTIVITIES = [bare_noop, bare_model_call]
