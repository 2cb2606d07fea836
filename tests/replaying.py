"""Recorded histories: replaying them on today's code, and recording new ones per release.

``tests/histories/<release>/<name>.json`` holds what release ``<release>`` of Baton recorded;
``test_replay.py`` replays every release's histories on the current code, so a change to workflow
code that would break a run in flight (waiting days for an approval) fails CI. Recording is
deliberate: ``BATON_RECORD_HISTORIES=1 make test`` writes the current release's files that do
not exist yet and refuses to replace one that does (``BATON_RECORD_HISTORIES=overwrite`` does,
for a history of the release still in development).
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from baton.plugin import baton_data_converter, workflow_runner
from baton.workflows import ALL_WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
RELEASE = importlib.metadata.version("baton")


def replayer() -> Replayer:
    """A replayer configured as a Baton worker is (converter, sandbox rules, workflows)."""
    return Replayer(workflows=ALL_WORKFLOWS, data_converter=baton_data_converter(),
                    workflow_runner=workflow_runner())


def record(history: WorkflowHistory, name: str) -> None:
    """With ``BATON_RECORD_HISTORIES`` set, keep ``history`` as this release's ``name``."""
    mode = os.environ.get("BATON_RECORD_HISTORIES")
    if not mode:
        return
    path = HISTORIES / RELEASE / f"{name}.json"
    text = history.to_json()
    if path.exists() and path.read_text() != text and mode != "overwrite":
        raise AssertionError(
            f"{path} exists: a recorded history is never replaced silently. Record under a new "
            "release, or set BATON_RECORD_HISTORIES=overwrite for one still in development")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def assert_replays(history: WorkflowHistory) -> None:
    result = await replayer().replay_workflow(history)
    assert result.replay_failure is None, result.replay_failure
