"""Serving the web console inside a test and driving it with a real browser.

The console runs in the test's own event loop (uvicorn on a free loopback port) over the test's
real Temporal client and worker. The browser is Debian's ``chromium`` package driven by
Playwright; Playwright never downloads a browser of its own here.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pattern_run_helpers import agent
from starlette.applications import Starlette
from temporalio.client import WorkflowHandle

from baton.approvals import PendingApproval
from baton.client import free_port
from baton.loader import parse_team
from baton.specs import TeamSpec

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).parent / "artifacts" / "console"
NO_BROWSER = ("browser tests need Debian's chromium at /usr/bin/chromium and the playwright "
              "package: `apt-get install -y chromium` (`.ci/run` and `make test` install it "
              "where they can), `pip install -e '.[dev]'`")


def browser_or_skip() -> Any:
    """Playwright's ``async_playwright``, or skip the test saying what is missing."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip(NO_BROWSER)
    if not CHROMIUM.exists():
        pytest.skip(NO_BROWSER)
    return async_playwright


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """``app`` on a free loopback port for the duration; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if task.done():
        task.result()  # raise whatever stopped it
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def clear_artifacts() -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)


def refund_desk(*, approvers: list[str] | None = None) -> TeamSpec:
    """A supervisor whose refunder (a member run) needs a person for every refund."""
    policy: dict[str, Any] = {"mode": "always"}
    if approvers:
        policy["approvers"] = approvers
    refunder = agent("refunder", "issues refunds", tools=["issue_refund"],
                     approvals={"issue_refund": policy})
    return parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [agent("router", "routes requests"), refunder],
        "supervisor": {"router": "router", "workers": ["refunder"]},
    })


def delegated_refund(amount: float = 10.0) -> dict[str, list[dict[str, Any]]]:
    """The router delegates, the refunder asks to refund ``amount`` on A1001, both report."""
    refund = {"name": "issue_refund", "arguments": {
        "order_id": "A1001", "amount": amount, "reason": "arrived broken"}}
    return {"router": [{"tool_calls": [{"name": "delegate_to_refunder",
                                        "arguments": {"task": f"Refund {amount} on A1001"}}]},
                       {"content": "Refunded."}],
            "refunder": [{"tool_calls": [refund]}, {"content": "Refund queued."}]}


async def waiting_approval(handle: WorkflowHandle[Any, Any]) -> PendingApproval:
    """The approval the team's run lists (its member's), once it is recorded."""
    for _ in range(400):
        pending = await handle.query("pending_approvals", result_type=list[PendingApproval])
        if pending:
            return pending[0]
        await asyncio.sleep(0.025)
    raise AssertionError("the team's run never listed its member's approval")
