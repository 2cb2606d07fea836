"""Replay: recorded histories must replay on today's workflow code without nondeterminism."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import new_run_id, run_approving, support_team
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from baton.settings import BatonSettings
from baton.worker import WORKFLOW_RUNNER
from baton.workflows import ALL_WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


def _replayer() -> Replayer:
    return Replayer(workflows=ALL_WORKFLOWS, data_converter=pydantic_data_converter,
                    workflow_runner=WORKFLOW_RUNNER)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_committed_history_replays(path: Path) -> None:
    text = path.read_text()
    # Replay under the recorded workflow id: patterns derive child workflow ids from it, so a
    # different id would replay as a nondeterminism error.
    started = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
    history = WorkflowHistory.from_json(started.get("workflowId") or path.stem, text)
    result = await _replayer().replay_workflow(history)
    assert result.replay_failure is None


async def test_fresh_example_run_replays(client: Client, settings: BatonSettings,
                                         worker: object) -> None:
    team = support_team()
    run_id = new_run_id(team)
    await run_approving(client, settings, team,
                        "Order A1001 arrived broken. Please look it up and refund it.",
                        run_id=run_id)
    history = await client.get_workflow_handle(run_id).fetch_history()
    assert len(history.events) > 10
    if os.environ.get("BATON_RECORD_HISTORIES"):  # refresh the committed fixture deliberately
        (HISTORIES / "support_single_approval.json").write_text(history.to_json())
    result = await _replayer().replay_workflow(history)
    assert result.replay_failure is None
