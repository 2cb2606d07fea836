"""A worker runs the workflow code it started with.

The sandbox imports a workflow's module again for every run. Baton's plugin pins the code of the
packages that define the worker's workflows (and Baton's own workflow package): read once per
process, so a tree changed under a running worker cannot make new runs, or replays of old ones,
execute code the build was not deployed with. Modules outside those packages are left to Python,
which reads them from disk again (the contrast the test checks).
"""

from __future__ import annotations

import importlib
import os
import sys
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from baton._code_pinning import pinned_packages
from baton.plugin import BatonPlugin
from baton.settings import BatonSettings

FLOW = '''
from temporalio import workflow

import {helper} as helper

VERSION = {version!r}


@workflow.defn(name="PinnedFlow{tag}")
class PinnedFlow:
    @workflow.run
    async def run(self) -> list[str]:
        return [VERSION, helper.VERSION]
'''


def _write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    stamp = path.stat().st_mtime + bump  # a later mtime: no cached bytecode passes for fresh
    os.utime(path, (stamp, stamp))


async def test_new_runs_keep_the_code_the_worker_started_with(
        client: Client, settings: BatonSettings, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    package, helper = f"pinned_flows_{tag}", f"unpinned_helper_{tag}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    flow_file, helper_file = tmp_path / package / "flow.py", tmp_path / f"{helper}.py"
    _write(flow_file, FLOW.format(helper=helper, version="first", tag=tag), 0)
    _write(helper_file, "VERSION = 'first'\n", 0)
    sys.path.insert(0, str(tmp_path))
    try:
        flow = importlib.import_module(f"{package}.flow")
        worker = Worker(client, task_queue=settings.task_queue, workflows=[flow.PinnedFlow],
                        plugins=[BatonPlugin(settings)])
        assert {"baton.workflows", package} <= pinned_packages()
        async with worker:
            before = await client.execute_workflow(
                flow.PinnedFlow.run, id=f"pinned-{tag}-1", task_queue=settings.task_queue)
            # The deployed tree changes under the running worker (different lengths as well
            # as later mtimes, so nothing cached on disk could mask the change).
            _write(flow_file, FLOW.format(helper=helper, version="second!", tag=tag), 10)
            _write(helper_file, "VERSION = 'second!'\n", 10)
            after = await client.execute_workflow(
                flow.PinnedFlow.run, id=f"pinned-{tag}-2", task_queue=settings.task_queue)
        assert before == ["first", "first"]
        # The sandbox imported both modules again for the second run: the unpinned helper was
        # read from disk again, the workflow's own module ran the code it started with.
        assert after == ["first", "second!"]
    finally:
        sys.path.remove(str(tmp_path))
        for name in (f"{package}.flow", package, helper):
            sys.modules.pop(name, None)
