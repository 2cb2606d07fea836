"""Sandbox honesty: Baton passes only its pure contract modules through the workflow sandbox.

Workflow code — a user's and Baton's own orchestration modules — stays sandboxed, so reading the
wall clock (or any other non-deterministic or I/O call the sandbox restricts) fails the workflow
task instead of silently breaking replay later. Both probes run on one worker next to Baton's
workflows, the way a user adds Baton to a worker of their own.
"""

from __future__ import annotations
import __future__

import asyncio
import subprocess
import sys
import uuid

from sandbox_probes import ClockReader, ModuleIdentity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

import baton.runs
import baton.workflows._agent_loop
from baton.plugin import SANDBOX_PASSTHROUGH, BatonPlugin
from baton.settings import BatonSettings


def probe_worker(client: Client, settings: BatonSettings) -> Worker:
    return Worker(client, task_queue=settings.task_queue, workflows=[ClockReader, ModuleIdentity],
                  plugins=[BatonPlugin(settings)])


async def test_a_workflow_reading_the_wall_clock_fails_its_task(
        client: Client, settings: BatonSettings) -> None:
    async with probe_worker(client, settings):
        handle = await client.start_workflow(ClockReader.run, id=f"clock-{uuid.uuid4().hex[:8]}",
                                             task_queue=settings.task_queue)
        failure = None
        for _ in range(100):  # the task fails and is retried; the first failure is enough
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failure = event.workflow_task_failed_event_attributes.failure.message
            if failure:
                break
            await asyncio.sleep(0.05)
        await handle.terminate("probe done")
    assert failure is not None, "the clock read was not refused"
    assert "Cannot access datetime.datetime.now" in failure, failure


async def test_only_contract_modules_pass_through_the_sandbox(
        client: Client, settings: BatonSettings) -> None:
    async with probe_worker(client, settings):
        inside = await client.execute_workflow(
            ModuleIdentity.run, id=f"modules-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue, result_type=dict[str, int])
    # The contract module is the worker's own object; the orchestration module was re-imported.
    assert inside["baton.runs"] == id(baton.runs)
    assert inside["baton.workflows._agent_loop"] != id(baton.workflows._agent_loop)
    assert not any(name.startswith("baton.workflows") for name in SANDBOX_PASSTHROUGH)


def test_the_package_root_imports_nothing_heavy() -> None:
    # The sandbox runs ``baton/__init__`` again for every workflow run (the package is not
    # passed through, its workflow modules must not be): configuration, YAML and HTTP machinery
    # loaded there would be paid by every run, and fan-outs start hundreds of them.
    probe = ("import sys, baton; heavy = ['baton.settings', 'baton.loader', 'baton.tools', "
             "'pydantic_settings', 'yaml', 'httpx']; "
             "print([m for m in heavy if m in sys.modules]); print(baton.TeamSpec.__name__)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "TeamSpec"], out


def test_workflow_classes_keep_their_annotations_as_objects() -> None:
    """Every run imports its workflow's modules anew, and Temporal reads each handler's type
    hints at that import: a hint written as a string (``from __future__ import annotations``)
    would be compiled again for every run."""
    from baton.workflows import ALL_WORKFLOWS

    modules = {cls.__module__ for workflow_class in ALL_WORKFLOWS for cls in workflow_class.__mro__
               if cls.__module__.startswith("baton.")}
    assert "baton.workflows.agent" in modules and "baton.workflows._events" in modules
    postponed = sorted(name for name in modules
                       if vars(sys.modules[name]).get("annotations") is __future__.annotations)
    assert postponed == []
