"""The web console in a real browser (Debian's chromium, driven by Playwright).

A person opens the inbox, a team's member asks for approval, the approval shows within a
second, the person decides on the page and the run completes; an edit that does not fit the
tool's schema is refused on the page before anything is sent; a person who may not decide sees
nothing to decide. Real Temporal, a real worker, the scripted model. Screenshots are kept under
``tests/artifacts/console/`` (ignored by git; the path is printed at the end of the run).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from console_helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_FLAGS,
    NO_BROWSER,
    clear_artifacts,
    delegated_refund,
    refund_desk,
    screenshot_path,
    serving,
    waiting_approval,
)
from pattern_run_helpers import outbox, start
from temporalio.client import Client

from baton.client import BatonClient, run_result
from baton.console import console_app
from baton.runs import ApprovalEvent, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_BROWSER)
playwright = pytest.importorskip("playwright.async_api", reason=NO_BROWSER)
expect = playwright.expect


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    clear_artifacts()  # the directory holds this run's screenshots only
    async with playwright.async_playwright() as driver:
        chromium = await driver.chromium.launch(executable_path=str(CHROMIUM),
                                                args=CHROMIUM_FLAGS, headless=True)
        yield chromium
        await chromium.close()
    print(f"\nconsole screenshots: {ARTIFACTS}")


@dataclass(frozen=True)
class Console:
    browser: Any
    url: str


@pytest.fixture
async def console(client: Client, settings: BatonSettings, browser: Any
                  ) -> AsyncIterator[Console]:
    """The console of a development stack (sign in with a name, unsigned decisions), served
    over the test's Temporal client, and the browser to use it with."""
    async with serving(console_app(settings, client=BatonClient(client, settings))) as url:
        yield Console(browser, url)


async def signed_in(console: Console, name: str) -> Any:
    page = await console.browser.new_page()
    url = console.url
    await page.goto(f"{url}/approvals")
    await page.get_by_label("Your name").fill(name)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("person")).to_have_text(name)
    return page


@pytest.mark.usefixtures("worker")
async def test_an_approval_shows_within_a_second_and_approving_it_completes_the_run(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, console: Console,
        tmp_path: Path) -> None:
    page = await signed_in(console, "alice")
    await expect(page.get_by_test_id("empty-inbox")).to_be_visible()
    handle = await start(client, settings, scripted, refund_desk(), delegated_refund(),
                         "Refund A1001")
    approval = await waiting_approval(handle)  # recorded by the member, listed by the team
    item = page.locator(f'[data-approval="{approval.approval_id}"]')
    # The page was open before the request: the live stream brings it, no reload.
    await expect(item).to_be_visible(timeout=1_000)
    await expect(item).to_contain_text("refunder wants to run issue_refund")
    await page.screenshot(path=screenshot_path("inbox"), full_page=True)

    await item.locator("a.decide").click()
    await expect(page.get_by_test_id("arguments")).to_contain_text('"amount": 10.0')
    await expect(page.get_by_text("Refund 10.0 on A1001").first).to_be_visible()  # the talk
    await expect(page.get_by_text(f"Run {handle.id} of team desk")).to_be_visible()  # summary
    await page.screenshot(path=screenshot_path("approval"), full_page=True)

    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.get_by_test_id("decided")).to_contain_text("approve")
    await expect(page.get_by_test_id("run-status")).to_have_text("completed", timeout=30_000)
    await expect(page.get_by_test_id("answer")).to_have_text("Refunded.")
    await page.screenshot(path=screenshot_path("run"), full_page=True)

    assert (await run_result(handle)).status is RunStatus.COMPLETED
    assert outbox(tmp_path) == [("A1001", 10.0)]
    decided = [e for e in await BatonClient(client, settings).run_log(approval.workflow_id)
               if isinstance(e, ApprovalEvent) and e.action == "approved"]
    assert [(e.by, e.signed) for e in decided] == [("alice", False)]  # a development stack


@pytest.mark.usefixtures("worker")
async def test_an_edit_that_does_not_fit_the_schema_is_refused_on_the_page(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, console: Console,
        tmp_path: Path) -> None:
    page = await signed_in(console, "alice")
    handle = await start(client, settings, scripted, refund_desk(), delegated_refund(),
                         "Refund A1001")
    approval = await waiting_approval(handle)
    await page.goto(f"{console.url}/approvals/{handle.id}/{approval.approval_id}")
    await page.get_by_test_id("arg-amount").fill("lots")
    await page.get_by_role("button", name="Approve with these arguments").click()
    error = page.get_by_test_id("error")
    await expect(error).to_contain_text("'lots' is not of type 'number'")
    await expect(error).to_contain_text("at amount")
    await expect(page.get_by_test_id("arg-amount")).to_have_value("lots")  # kept to fix
    await page.screenshot(path=screenshot_path("edit-schema-error"), full_page=True)
    # Refused by the console: the run never saw the decision and still waits.
    assert [p.approval_id for p in await BatonClient(client, settings).pending_approvals(
        handle.id)] == [approval.approval_id]
    log = await BatonClient(client, settings).run_log(approval.workflow_id)
    assert [e.action for e in log if isinstance(e, ApprovalEvent)] == ["requested"]

    await page.get_by_test_id("arg-amount").fill("4")
    await page.get_by_role("button", name="Approve with these arguments").click()
    await expect(page.get_by_test_id("run-status")).to_have_text("completed", timeout=30_000)
    assert (await run_result(handle)).status is RunStatus.COMPLETED
    assert outbox(tmp_path) == [("A1001", 4.0)]  # the edit, merged over the other arguments


async def test_a_person_who_may_not_decide_sees_nothing_to_decide(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        browser: Any) -> None:
    # Behind an authenticating proxy: the person is whoever its header names.
    proxied = settings.model_copy(update={"console_user_header": "X-Forwarded-User"})
    app = console_app(proxied, client=BatonClient(client, settings))
    async with serving(app) as url:
        pages = {}
        for name in ("alice", "mallory"):
            context = await browser.new_context(extra_http_headers={"X-Forwarded-User": name})
            pages[name] = await context.new_page()
            await pages[name].goto(f"{url}/approvals")
        handle = await start(client, settings, scripted,
                             refund_desk(approvers=["support-leads"]), delegated_refund(),
                             "Refund A1001")
        approval = await waiting_approval(handle)
        assert "alice" in approval.allowed_deciders and "mallory" not in approval.allowed_deciders
        await expect(pages["alice"].locator(f'[data-approval="{approval.approval_id}"]')
                     ).to_be_visible(timeout=5_000)
        # The console knows of the approval now; mallory's inbox, rendered afresh, is empty.
        mallory = pages["mallory"]
        await mallory.reload()
        await expect(mallory.get_by_test_id("person")).to_have_text("mallory")
        await expect(mallory.get_by_test_id("empty-inbox")).to_be_visible()
        await expect(mallory.locator("[data-approval]")).to_have_count(0)
        await mallory.screenshot(path=screenshot_path("not-allowed-inbox"), full_page=True)
        # Nor can she open it or post to it directly.
        where = f"{url}/approvals/{handle.id}/{approval.approval_id}"
        opened = await mallory.goto(where)
        assert opened is not None and opened.status == 403
        await expect(mallory.get_by_text("Not yours to decide")).to_be_visible()
        posted = await mallory.request.post(where, form={"action": "approve", "token": "x"})
        assert posted.status == 403
        # Without the proxy's header there is nobody to show anything to.
        anonymous = await (await browser.new_context()).new_page()
        assert (await anonymous.goto(f"{url}/approvals")).status == 401
        await handle.cancel()
    assert (await run_result(handle)).status is RunStatus.CANCELLED
