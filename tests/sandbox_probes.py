"""Workflows that probe the sandbox Baton configures (``test_sandbox.py``). A user's own
workflows, registered next to Baton's on one worker through ``BatonPlugin``."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from baton import runs as contract  # a contract module: passed through
from baton.workflows import _agent_loop as orchestration  # re-imported inside the sandbox


@workflow.defn(name="ClockReader")
class ClockReader:
    """Reads the wall clock the way a careless orchestration module might."""

    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()


@workflow.defn(name="ModuleIdentity")
class ModuleIdentity:
    """Which modules are the worker's own objects (passed through) and which were re-imported
    for this run (sandboxed): their ``id`` inside the workflow, to compare with the outside."""

    @workflow.run
    async def run(self) -> dict[str, int]:
        return {"baton.runs": id(contract), "baton.workflows._agent_loop": id(orchestration)}
