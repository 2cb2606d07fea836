"""The web console without a browser: who it believes, what it sends, what it escapes.

The identity rules and the form parsing are plain functions; the signed-decision and run-page
tests go through the ASGI app over a real Temporal dev server and worker (the browser tests in
``test_console_browser.py`` drive the same pages in chromium).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_helpers import delegated_refund, refund_desk, waiting_approval
from helpers import EXAMPLES
from pattern_run_helpers import outbox, start
from starlette.applications import Starlette
from starlette.requests import Request
from temporalio.client import Client

from baton.approvals import PendingApproval
from baton.client import BatonClient, run_result
from baton.console import ConsoleConfigError, console_app
from baton.console.app import _templates
from baton.console.deciding import changes_from_form, edit_fields
from baton.console.identity import COOKIE, Identity, console_identity
from baton.console.present import time_left
from baton.console.tools import ToolCatalogs, edit_problem
from baton.runs import ApprovalEvent, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import ApprovalService, BatonSettings
from baton.signing import generate_key, private_key_pem, public_key_text
from baton.specs import ToolSpec
from baton.worker import worker_resources

REFUND_SCHEMA = {"type": "object", "required": ["order_id", "amount", "reason"],
                 "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"},
                                "reason": {"type": "string"}, "notify": {"type": "boolean"}}}
REFUND_TOOL = ToolSpec(name="issue_refund", description="refund", parameters=REFUND_SCHEMA,
                       effect="write")


def pending(**args: Any) -> PendingApproval:
    return PendingApproval(
        approval_id="apr-1", run_id="desk-1", workflow_id="desk-1.refunder.1", agent="refunder",
        step=1, call_id="c1", tool="issue_refund",
        args=args or {"order_id": "A1001", "amount": 10.0, "reason": "broken"},
        reason="always", requested_at=datetime.now(UTC), expires_at=None,
        allowed_deciders=[])


def request_with(headers: dict[str, str] | None = None, cookie: str | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if cookie is not None:
        raw.append((b"cookie", f"{COOKIE}={cookie}".encode()))
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


# -- who is deciding ---------------------------------------------------------------------------

def test_the_console_starts_only_with_a_way_to_know_who_decides(tmp_path: Path) -> None:
    deployment = BatonSettings(allow_unsigned_decisions=False)
    with pytest.raises(ConsoleConfigError, match="BATON_CONSOLE_USER_HEADER"):
        console_identity(deployment)  # signatures required, and no proxy to name people
    with pytest.raises(ConsoleConfigError, match="BATON_CONSOLE_KEY_FILE"):
        console_identity(deployment.model_copy(update={"console_user_header": "X-User"}))
    key_file = tmp_path / "console.pem"
    with pytest.raises(ConsoleConfigError, match="never signs a name someone merely typed"):
        console_identity(BatonSettings(allow_unsigned_decisions=True,
                                       console_key_file=key_file))
    assert console_identity(BatonSettings(allow_unsigned_decisions=True)).mode == "sign-in"
    proxied = console_identity(deployment.model_copy(update={
        "console_user_header": "X-User", "console_key_file": key_file}))
    assert (proxied.mode, proxied.header) == ("header", "X-User")


def test_the_proxy_header_names_the_person_and_nothing_else_does() -> None:
    identity = Identity(mode="header", header="X-Forwarded-User")
    assert identity.person(request_with({"X-Forwarded-User": "alice"})) == "alice"
    assert identity.person(request_with()) is None
    # A sign-in cookie means nothing behind a proxy.
    other = Identity(mode="sign-in")
    assert identity.person(request_with(cookie=other.cookie_value("alice"))) is None


def test_a_sign_in_cookie_cannot_be_forged_or_moved_to_another_console() -> None:
    identity = Identity(mode="sign-in")
    cookie = identity.cookie_value("alice")
    assert identity.person(request_with(cookie=cookie)) == "alice"
    forged = "morgan." + cookie.rpartition(".")[2]
    assert identity.person(request_with(cookie=forged)) is None
    assert identity.person(request_with(cookie="morgan")) is None
    assert Identity(mode="sign-in").person(request_with(cookie=cookie)) is None  # other secret
    assert identity.token_ok("alice", identity.form_token("alice"))
    assert not identity.token_ok("morgan", identity.form_token("alice"))


# -- edits -------------------------------------------------------------------------------------

def test_an_edit_sends_only_what_changed_parsed_by_the_schema() -> None:
    approval = pending()
    fields = {f.name: f for f in edit_fields(approval, REFUND_TOOL)}
    assert [*fields] == ["order_id", "amount", "reason", "notify"]
    assert (fields["amount"].value, fields["order_id"].value) == ("10.0", "A1001")
    form = {"arg.order_id": "A1001", "arg.amount": "4", "arg.reason": "broken",
            "arg.notify": "", "arg.invented": "x", "action": "edit"}
    assert changes_from_form(form, approval, REFUND_TOOL) == {"amount": 4}
    form["arg.notify"] = "true"
    assert changes_from_form(form, approval, REFUND_TOOL) == {"amount": 4, "notify": True}
    # Text that is not a number stays text, and the schema says what is wrong with it.
    changes = changes_from_form({"arg.amount": "lots"}, approval, REFUND_TOOL)
    problem = edit_problem(approval.args, changes, REFUND_TOOL)
    assert problem == ("the arguments do not fit issue_refund: at amount: 'lots' is not of "
                       "type 'number'")
    assert edit_problem(approval.args, {}, REFUND_TOOL) is not None  # nothing changed
    assert edit_problem(approval.args, {"amount": 4}, REFUND_TOOL) is None


def test_time_left_reads_like_a_person_says_it() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert time_left(None) == "no expiry"
    assert time_left(now + timedelta(hours=23, minutes=5), now=now) == "23 h 5 min left"
    assert time_left(now + timedelta(seconds=75), now=now) == "1 min 15 s left"
    assert time_left(now + timedelta(days=2, hours=1), now=now) == "2 d 1 h left"
    assert time_left(now - timedelta(seconds=1), now=now) == "expired"


def test_values_from_a_run_are_escaped() -> None:
    # Model output chooses tool arguments, agent names in messages and reasons: all text.
    evil = "<script>alert(1)</script>"
    approval = pending(order_id=evil, amount=1.0, reason='"><img src=x onerror=alert(2)>')
    html = _templates().get_template("_inbox.html").render(approvals=[approval])
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html or "\\u003cscript\\u003e" in html


# -- through the app, against real Temporal ----------------------------------------------------

@contextlib.asynccontextmanager
async def console_http(app: Starlette, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console",
            headers=headers) as http:
        yield http


async def test_a_console_behind_a_proxy_signs_the_decision_of_the_person_it_names(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        tmp_path: Path) -> None:
    key = generate_key()
    key_file = tmp_path / "console.pem"
    key_file.write_bytes(private_key_pem(key))
    deployment = settings.model_copy(update={
        "allow_unsigned_decisions": False,
        "approval_services": {"console": ApprovalService(public_keys=[public_key_text(key)],
                                                         may_sign_for=["support-leads"])}})
    proxied = deployment.model_copy(update={"console_user_header": "X-Forwarded-User",
                                            "console_key_file": key_file})
    app = console_app(proxied, client=BatonClient(client, deployment))
    async with worker_resources(client, deployment) as running, running, console_http(
            app, **{"X-Forwarded-User": "alice"}) as http:
        handle = await start(client, deployment, scripted,
                             refund_desk(approvers=["support-leads"]), delegated_refund(),
                             "Refund A1001")
        approval = await waiting_approval(handle)
        where = f"/approvals/{handle.id}/{approval.approval_id}"
        page = await http.get(where)
        assert page.status_code == 200 and "signed" in page.text
        assert "content-security-policy" in page.headers
        token = page.text.split('name="token" value="', 1)[1].split('"', 1)[0]
        forged = await http.post(where, data={"action": "approve", "token": "not-a-token"})
        assert forged.status_code == 403  # a page this console did not render for alice
        decided = await http.post(where, data={"action": "approve", "token": token,
                                               "reason": "policy allows"})
        assert decided.status_code == 303
        assert decided.headers["location"].startswith(f"/runs/{handle.id}?decided=approve")
        assert (await run_result(handle)).status is RunStatus.COMPLETED
        log = await BatonClient(client, deployment).run_log(approval.workflow_id)
    [approved] = [e for e in log if isinstance(e, ApprovalEvent) and e.action == "approved"]
    assert (approved.by, approved.signed, approved.reason) == ("alice", True, "policy allows")
    assert outbox(tmp_path) == [("A1001", 10.0)]


async def test_runs_are_searched_and_shown_with_links_to_the_temporal_ui(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    baton = BatonClient(client, settings)
    team = refund_desk()
    run_id = f"desk-{uuid.uuid4().hex[:10]}"
    scripted.set_script(run_id, {"router": [{"content": "Nothing to refund."}]})
    await baton.start(team, "Is A1001 refundable?", tenant="acme", run_id=run_id)
    assert (await baton.result(run_id)).status is RunStatus.COMPLETED
    app = console_app(settings, client=baton)
    async with console_http(app) as http:
        assert (await http.get("/runs")).status_code == 303  # sign in first
        signed_in = await http.post("/sign-in", data={"name": "alice", "next": "//evil.example"})
        assert signed_in.headers["location"] == "/approvals"  # never off this console
        found = await http.get("/runs", params={"team": "desk", "tenant": "acme",
                                                "status": "completed", "since": "1h"})
        assert found.status_code == 200 and run_id in found.text
        assert "BatonTenant = &#39;acme&#39;" in found.text  # the query, for the Temporal UI
        assert f"{settings.temporal_ui_url}/namespaces/default/workflows/{run_id}" in found.text
        wrong = await http.get("/runs", params={"status": "nope"})
        assert "is not a run status" in wrong.text
        page = await http.get(f"/runs/{run_id}")
        assert page.status_code == 200
        assert 'data-testid="run-status">completed<' in page.text
        assert "Nothing to refund." in page.text and "What was asked: Is A1001" in page.text
        assert 'data-stream=' not in page.text  # a finished run is not streamed
        stream = await http.get(f"/runs/{run_id}/stream")
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.text.startswith("event: update\n") and "event: end\n" in stream.text
        assert (await http.get("/runs/no-such-run")).status_code == 404
        bad_name = await http.post("/sign-in", data={"name": "<b>x</b>"})
        assert bad_name.status_code == 400


async def test_the_schema_of_an_edit_is_the_one_the_run_recorded(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        worker: object) -> None:
    # A top-level run resolved its catalog itself (a local activity's marker in its history);
    # a member received it in its input. Both are what the console validates edits against.
    baton = BatonClient(client, settings)
    single = f"support-{uuid.uuid4().hex[:8]}"
    scripted.set_script(single, {"support_agent": [{"tool_calls": [{
        "name": "issue_refund", "arguments": {"order_id": "A1001", "amount": 5.0,
                                              "reason": "broken"}}]}]})
    await baton.start(EXAMPLES / "support.yaml", "refund A1001", run_id=single)
    member = await start(client, settings, scripted, refund_desk(), delegated_refund(), "A1001")
    catalogs = ToolCatalogs(baton.runs)
    for run_id in (single, member.id):
        approval = await waiting_approval(client.get_workflow_handle(run_id))
        tool = await catalogs.tool(approval.workflow_id, "issue_refund")
        assert tool is not None and tool.effect == "write"
        assert tool.parameters["properties"]["amount"]["type"] == "number"
        assert await catalogs.tool(approval.workflow_id, "no_such_tool") is None
        await baton.cancel(run_id)
