"""Replay: every release's recorded histories must replay on today's workflow code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import new_run_id, run_approving, support_team
from replaying import HISTORIES, assert_replays, record
from temporalio.client import Client, WorkflowHistory

from baton.settings import BatonSettings


def _replayable() -> list[Path]:
    """Every release's histories, except releases retired for replay: a release that broke the
    run contract says so (and why) in a ``RETIRED`` file; its runs finish on their own pinned
    worker build, and its histories stay for reading (``baton show --history``)."""
    return sorted(path for path in HISTORIES.glob("*/*.json")
                  if not (path.parent / "RETIRED").exists())


def test_every_release_is_replayed_or_retired_with_a_reason() -> None:
    for release in HISTORIES.iterdir():
        retired = release / "RETIRED"
        assert not retired.exists() or len(retired.read_text().split()) > 20, release


@pytest.mark.parametrize("path", _replayable(), ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_committed_history_replays(path: Path) -> None:
    text = path.read_text()
    # Replay under the recorded workflow id: patterns derive child workflow ids from it, so a
    # different id would replay as a nondeterminism error.
    started = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
    await assert_replays(WorkflowHistory.from_json(started.get("workflowId") or path.stem, text))


async def test_fresh_example_run_replays(client: Client, settings: BatonSettings,
                                         worker: object) -> None:
    team = support_team()
    run_id = new_run_id(team)
    await run_approving(client, settings, team,
                        "Order A1001 arrived broken. Please look it up and refund it.",
                        run_id=run_id)
    history = await client.get_workflow_handle(run_id).fetch_history()
    assert len(history.events) > 10
    record(history, "support_single_approval")
    await assert_replays(history)
