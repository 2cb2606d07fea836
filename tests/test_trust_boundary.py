"""The trust boundary, attacked: each test is an attack that worked against Baton's first release.

Run input is untrusted (anyone who can start a workflow writes it); so are decisions typed into
the Temporal UI or sent with ``temporal workflow signal``. The worker's configuration and the
holders of approver keys are trusted. Each attack must end refused, typed and (for decisions)
recorded — never a stuck workflow, never a side effect.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import TEMPORAL_BIN
from guarded_tools import executed
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle

from baton.approvals import ApprovalDecision, ApprovalPolicy, PendingApproval
from baton.client import run_result
from baton.client.api import BatonClient
from baton.conditions import ConditionError, check_condition, evaluate_condition
from baton.errors import ApprovalRefusedError, RunRefusedError, SpecError, ToolDefinitionError
from baton.loader import load_team, parse_team
from baton.runs import PageRequest, RunLogPage, RunResult, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import ApprovalService, Approver, BatonSettings
from baton.signing import generate_key, public_key_text, signed
from baton.specs import TeamSpec
from baton.tools import ToolRegistry, tool
from baton.worker import worker_resources

AGENT = "teller"
TRANSFER = {"name": "wire_transfer", "arguments": {"account": "DE001", "amount": 500.0}}
ALICE = generate_key()
MALLORY = generate_key()


@pytest.fixture
def settings(settings: BatonSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
             ) -> BatonSettings:
    """A deployment: alice is the treasury's approver, with a key; mallory has a key too but
    approves nothing; unsigned decisions are refused."""
    monkeypatch.setenv("BATON_TRANSFERS", str(tmp_path / "transfers.jsonl"))
    return settings.model_copy(update={
        "approvers": {"alice": Approver(public_keys=[public_key_text(ALICE)]),
                      "mallory": Approver(public_keys=[public_key_text(MALLORY)])},
        "approver_groups": {"treasury": ["alice"]},
        "allow_unsigned_decisions": False})


def team(**agent: Any) -> TeamSpec:
    return parse_team({"name": "bank", "agents": [{
        "name": AGENT, "description": "Moves money when asked.", "instructions": "Pay.",
        "tools": ["wire_transfer", "lookup_account", "refund_fee"], "max_steps": 3, **agent}]})


async def start(client: Client, settings: BatonSettings, scripted: ScriptedServer,
                spec: TeamSpec, steps: list[dict[str, Any]]) -> WorkflowHandle[Any, RunResult]:
    run_id = f"bank-{uuid.uuid4().hex[:10]}"
    scripted.set_script(run_id, {AGENT: steps})
    await BatonClient(client, settings).start(spec, "pay the invoice", run_id=run_id)
    return client.get_workflow_handle(run_id, result_type=RunResult)


async def pending(handle: WorkflowHandle[Any, Any]) -> PendingApproval:
    for _ in range(200):
        found = await handle.query("pending_approvals", result_type=list[PendingApproval])
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no approval became pending")


async def approvals_log(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    page = await handle.query("run_log", PageRequest(limit=1000), result_type=RunLogPage)
    return [e for e in page.events if e.kind == "approval"]


def cli_start(client: Client, settings: BatonSettings, run_id: str, run_input: dict[str, Any],
              tmp_path: Path) -> None:
    """``temporal workflow start`` with a hand-made input, as anyone with namespace access can."""
    input_file = tmp_path / f"{run_id}.json"
    input_file.write_text(json.dumps(run_input))
    subprocess.run(
        [TEMPORAL_BIN, "workflow", "start", "--address", client.service_client.config.target_host,
         "--task-queue", settings.task_queue, "--type", "AgentWorkflow", "--workflow-id", run_id,
         "--input-file", str(input_file)], check=True, capture_output=True, timeout=30)


async def failed_with(client: Client, run_id: str, text: str) -> None:
    """The run ended as a failed workflow whose failure says ``text`` (not a retrying task)."""
    handle = client.get_workflow_handle(run_id)
    with pytest.raises(WorkflowFailureError) as caught:
        await asyncio.wait_for(run_result(handle), 30)
    assert (await handle.describe()).status is WorkflowExecutionStatus.FAILED
    assert text in str(caught.value.cause), caught.value.cause


# -- run input ---------------------------------------------------------------------------------

async def test_run_input_cannot_send_a_worker_secret_to_its_own_url(
        client: Client, settings: BatonSettings, worker: object, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-that-must-not-leave")
    with ScriptedServer() as attacker:
        run_id = f"exfil-{uuid.uuid4().hex[:8]}"
        hand_made = {"team": {**team().model_dump(mode="json"), "models": {"default": {
            "base_url": attacker.base_url, "api_key_env": "AWS_SECRET_ACCESS_KEY"}}},
            "input": "hello"}
        await asyncio.to_thread(cli_start, client, settings, run_id, hand_made, tmp_path)
        await failed_with(client, run_id, "models")
        assert attacker.calls(run_id) == [] and attacker.state("*")["exists"] is False


async def test_run_input_cannot_make_the_worker_import_a_module(
        client: Client, settings: BatonSettings, worker: object, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    module = tmp_path / "planted.py"
    module.write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        run_id = f"import-{uuid.uuid4().hex[:8]}"
        hand_made = {"team": {**team().model_dump(mode="json"), "tool_modules": ["planted"]},
                     "input": "hello"}
        await asyncio.to_thread(cli_start, client, settings, run_id, hand_made, tmp_path)
        await failed_with(client, run_id, "tool_modules")
        # A tool name the worker does not serve does not import anything either.
        with pytest.raises(RunRefusedError, match="'planted' is not served"):
            await BatonClient(client, settings).start(team(tools=["planted"]), "hello")
    finally:
        sys.path.remove(str(tmp_path))
    assert not marker.exists() and "planted" not in sys.modules


async def test_run_input_cannot_choose_who_approves_or_relax_a_tools_policy(
        client: Client, settings: BatonSettings, worker: object) -> None:
    baton = BatonClient(client, settings)
    # Groups are deployment configuration: a team defining its own is refused when loaded...
    with pytest.raises(SpecError, match="approver_groups"):
        parse_team({**team().model_dump(mode="json", exclude_defaults=True),
                    "approver_groups": {"treasury": ["mallory"]}})
    # ...and a team naming a different approver, or no approval at all, is refused at start.
    for override, problem in [
        (ApprovalPolicy(mode="always", approvers=("mallory",)), "may not decide this tool"),
        (ApprovalPolicy(mode="never"), "may not relax it"),
        (ApprovalPolicy(mode="always", approvers=("treasury",), expires_in_s=60,
                        on_expiry="approve"), "approve on expiry"),
    ]:
        with pytest.raises(RunRefusedError) as caught:
            await baton.start(team(approvals={"wire_transfer": override}), "pay")
        assert caught.value.location == "agents[0].approvals.wire_transfer"
        assert problem in str(caught.value), caught.value


def test_a_write_tool_approving_itself_on_expiry_needs_its_codes_opt_in() -> None:
    registry = ToolRegistry()
    with pytest.raises(ToolDefinitionError, match="expiry_may_approve"):
        @tool(registry=registry, effect="write",
              approval=ApprovalPolicy(mode="always", expires_in_s=60, on_expiry="approve"))
        def refund(order_id: str) -> str:
            """Refund an order."""
            return order_id

    @tool(registry=registry, effect="write", expiry_may_approve=True,
          approval=ApprovalPolicy(mode="always", expires_in_s=60, on_expiry="approve"))
    def top_up(account: str) -> str:
        """Top up an account by a fixed small amount."""
        return account

    assert registry.resolve("top_up").spec.expiry_may_approve


# -- decisions ---------------------------------------------------------------------------------

async def test_forged_decisions_are_refused_and_recorded(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object,
        tmp_path: Path) -> None:
    handle = await start(client, settings, scripted, team(),
                         [{"tool_calls": [TRANSFER]}, {"content": "Paid."}])
    approval = await pending(handle)
    assert approval.allowed_deciders == ["alice"]
    decide = {"approval_id": approval.approval_id, "decision": "approve", "by": "alice"}
    # An unsigned "alice" through `temporal workflow signal` (as the Temporal UI sends it)...
    await asyncio.to_thread(subprocess.run, [
        TEMPORAL_BIN, "workflow", "signal", "--address", client.service_client.config.target_host,
        "--workflow-id", handle.id, "--name", "decide", "--input", json.dumps(decide)],
        check=True, capture_output=True, timeout=30)
    # ...an unsigned one through the update, and one signed by mallory's key claiming alice.
    baton = BatonClient(client, settings)
    with pytest.raises(ApprovalRefusedError, match="unsigned decision refused"):
        await baton.decide(ApprovalDecision(**decide), workflow_id=handle.id)
    forged = signed(ApprovalDecision(**decide), MALLORY, run_id=handle.id)
    with pytest.raises(ApprovalRefusedError, match="does not prove 'alice'"):
        await baton.decide(forged, workflow_id=handle.id)
    # Mallory signing as herself is not allowed to decide this tool at all.
    with pytest.raises(ApprovalRefusedError, match="'mallory' may not decide"):
        await baton.decide(signed(ApprovalDecision(**{**decide, "by": "mallory"}), MALLORY,
                                  run_id=handle.id), workflow_id=handle.id)
    assert executed() == []
    # The real alice, signing with her key, decides.
    receipt = await baton.decide(signed(ApprovalDecision(**decide), ALICE, run_id=handle.id),
                                 workflow_id=handle.id)
    assert receipt.accepted and receipt.by == "alice"
    assert (await run_result(handle)).status is RunStatus.COMPLETED
    assert [t["amount"] for t in executed()] == [500.0]
    log = await approvals_log(handle)
    assert [(e.action, e.by, e.signed) for e in log] == [
        ("requested", None, None), ("refused", "alice", None), ("refused", "alice", None),
        ("refused", "alice", None), ("refused", "mallory", None), ("approved", "alice", True)]
    assert "unsigned" in (log[1].reason or "")


async def test_a_signed_decision_cannot_be_replayed_on_another_approval_or_run(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    first = await start(client, settings, scripted, team(),
                        [{"tool_calls": [TRANSFER]}, {"content": "Paid."}])
    second = await start(client, settings, scripted, team(),
                         [{"tool_calls": [TRANSFER]}, {"content": "Paid."}])
    one, two = await pending(first), await pending(second)
    decision = signed(ApprovalDecision(approval_id=one.approval_id, decision="approve",
                                       by="alice"), ALICE, run_id=first.id)
    baton = BatonClient(client, settings)
    # The same signed bytes on the other run, and re-labelled for the other approval id.
    for target, approval_id in ((second.id, one.approval_id), (second.id, two.approval_id)):
        with pytest.raises(ApprovalRefusedError):
            await baton.decide(decision.model_copy(update={"approval_id": approval_id}),
                               workflow_id=target)
    await baton.decide(decision, workflow_id=first.id)
    with pytest.raises(ApprovalRefusedError, match="already approved"):
        await baton.decide(decision, workflow_id=first.id)  # and not twice on its own
    assert (await run_result(first)).status is RunStatus.COMPLETED
    await second.cancel()
    assert [t["key"] for t in executed()] == [executed()[0]["key"]]


async def test_a_malformed_decide_signal_is_recorded_not_dropped(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    handle = await start(client, settings, scripted, team(),
                         [{"tool_calls": [TRANSFER]}, {"content": "Paid."}])
    approval = await pending(handle)
    for payload in ({"approval_id": approval.approval_id, "decision": "maybe", "by": "alice"},
                    ["not", "an", "object"], {"approval_id": approval.approval_id}):
        await handle.signal("decide", payload)
    for _ in range(100):
        refused = [e for e in await approvals_log(handle) if e.action == "refused"]
        if len(refused) == 3:
            break
        await asyncio.sleep(0.05)
    assert [e.approval_id for e in refused] == [approval.approval_id, "?", approval.approval_id]
    assert all("decision" in (e.reason or "") for e in refused), [e.reason for e in refused]
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    await handle.cancel()


# -- bounded inputs ----------------------------------------------------------------------------

@pytest.mark.parametrize("condition", [
    "'a' * 100000000000 == reason", "[0] * 1000000000 == account",
    "amount > " + "9" * 40, "x == '" + "a" * 2000 + "'", " or ".join(["amount > 1"] * 80),
], ids=["string-repeat", "list-repeat", "huge-number", "huge-string", "too-many-parts"])
def test_dangerous_conditions_are_refused_before_they_run(condition: str) -> None:
    with pytest.raises(ConditionError):
        check_condition(condition)
    with pytest.raises(SpecError):
        team(approvals={"wire_transfer": {"mode": "when", "condition": condition}})


def test_repeating_an_argument_is_refused_when_evaluated() -> None:
    # The text cannot know `reason` is a string; evaluating it refuses the repetition at once.
    with pytest.raises(ConditionError, match="only numbers can be multiplied"):
        evaluate_condition("reason * 1000000000 == x", {"reason": "a", "x": ""})


async def test_a_condition_that_blows_up_on_the_arguments_asks_a_person(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    # Allowed text (multiplying numbers), but on a model-chosen amount the products explode.
    override = {"mode": "when", "condition": "amount * amount * amount * amount > 5",
                "approvers": ["treasury"]}
    huge = {"name": "refund_fee", "arguments": {"account": "DE001", "amount": 1e14}}
    handle = await start(client, settings, scripted, team(approvals={"refund_fee": override}),
                         [{"tool_calls": [huge]}, {"content": "Paid."}])
    approval = await pending(handle)
    assert "approval required" in approval.reason and "bound" in approval.reason
    await handle.cancel()
    assert executed() == []


async def test_a_hand_made_input_that_does_not_validate_ends_the_run(
        client: Client, settings: BatonSettings, worker: object, tmp_path: Path) -> None:
    cases = {
        "big": ({"team": team().model_dump(mode="json"), "input": "x" * 1_500_000},
                "a run takes at most 1,000,000"),
        "condition": ({"team": {**team().model_dump(mode="json"), "agents": [{
            **team().agents[0].model_dump(mode="json"), "approvals": {"wire_transfer": {
                "mode": "when", "condition": "'a' * 100000000000 == reason"}}}]},
            "input": "pay"}, "only numbers can be multiplied"),
    }
    for name, (hand_made, problem) in cases.items():
        run_id = f"hand-made-{name}-{uuid.uuid4().hex[:6]}"
        await asyncio.to_thread(cli_start, client, settings, run_id, hand_made, tmp_path)
        await failed_with(client, run_id, problem)


def test_a_yaml_alias_bomb_and_deep_nesting_are_refused_with_the_file(tmp_path: Path) -> None:
    levels = ["a: &a [" + ",".join(['"x"'] * 10) + "]"]
    for index, name in enumerate("bcdefghij"):
        previous = "abcdefghij"[index]
        levels.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 10) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join([
        "name: bomb", *levels, "agents:", "  - name: x", "    description: d",
        "    instructions: i", "    output_schema: {enum: *j}"]))
    with pytest.raises(SpecError, match="expands to more than") as caught:
        load_team(bomb)
    assert caught.value.file == str(bomb)
    agent = '[{"name": "a", "description": "d", "instructions": "i"}]'
    text = f'{{"name": "t500", "agents": {agent}}}'
    for level in range(499, -1, -1):
        text = (f'{{"name": "t{level}", "pattern": "supervisor", "agents": {agent}, '
                f'"teams": {{"t{level + 1}": {text}}}}}')
    deep = tmp_path / "deep.yaml"
    deep.write_text(text)
    with pytest.raises(SpecError, match="nest") as caught:
        load_team(deep)
    assert caught.value.file == str(deep)
    # Nesting past the team limit, within what YAML parses, names the place.
    nested: dict[str, Any] = {"name": "t12", "agents": [{"name": "a", "description": "d",
                                                          "instructions": "i"}]}
    for level in range(11, -1, -1):
        nested = {"name": f"t{level}", "agents": nested["agents"],
                  "teams": {f"t{level + 1}": nested}}
    with pytest.raises(SpecError, match="sub-teams nest more than 8") as caught:
        parse_team(nested)
    assert caught.value.location == ".".join(f"teams.t{n}" for n in range(1, 9))


# -- secrets -----------------------------------------------------------------------------------

@pytest.fixture
def output(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
           ) -> Callable[[], str]:
    """Everything the test process logged or printed so far."""
    return lambda: caplog.text + "".join(capsys.readouterr())


async def test_an_api_key_a_provider_echoes_reaches_neither_history_nor_logs(
        client: Client, settings: BatonSettings, scripted: ScriptedServer,
        monkeypatch: pytest.MonkeyPatch, output: Callable[[], str]) -> None:
    from baton.specs import ModelProfile

    key = f"sk-live-{uuid.uuid4().hex}"
    monkeypatch.setenv("BATON_TEST_PROVIDER_KEY", key)
    keyed = settings.model_copy(update={"profiles": {"default": ModelProfile(
        api_key_env="BATON_TEST_PROVIDER_KEY")}})
    run_id = f"echo-{uuid.uuid4().hex[:8]}"
    scripted.set_faults(run_id, [{"fault": "401", "message": f"Incorrect API key provided: {key}"}])
    async with worker_resources(client, keyed) as worker, worker:
        await BatonClient(client, keyed).start(team(), "hello", run_id=run_id)
        result = await run_result(client.get_workflow_handle(run_id))
    assert result.status is RunStatus.FAILED and result.error_type == "ProviderAuthError"
    assert "Incorrect API key provided: ***" in (result.reason or "")
    history = (await client.get_workflow_handle(run_id).fetch_history()).to_json()
    assert key not in history and key not in (result.reason or "")
    assert key not in output()


async def test_an_approvals_service_signs_only_for_whom_it_may(
        client: Client, settings: BatonSettings, scripted: ScriptedServer) -> None:
    # A console behind the deployment's login signs for the people it authenticated.
    console, kiosk = generate_key(), generate_key()
    settings = settings.model_copy(update={"approval_services": {
        "console": ApprovalService(public_keys=[public_key_text(console)],
                                   may_sign_for=["treasury"]),
        "kiosk": ApprovalService(public_keys=[public_key_text(kiosk)],
                                 may_sign_for=["mallory"])}})
    async with worker_resources(client, settings) as running, running:
        handle = await start(client, settings, scripted, team(),
                             [{"tool_calls": [TRANSFER]}, {"content": "Paid."}])
        approval = await pending(handle)
        baton = BatonClient(client, settings)
        as_alice = ApprovalDecision(approval_id=approval.approval_id, decision="approve",
                                    by="alice")
        with pytest.raises(ApprovalRefusedError, match="'kiosk' may not sign for 'alice'"):
            await baton.decide(signed(as_alice, kiosk, run_id=handle.id, signer="kiosk"),
                               workflow_id=handle.id)
        with pytest.raises(ApprovalRefusedError, match="does not prove 'alice'"):  # wrong key
            await baton.decide(signed(as_alice, kiosk, run_id=handle.id, signer="console"),
                               workflow_id=handle.id)
        receipt = await baton.decide(signed(as_alice, console, run_id=handle.id,
                                            signer="console"), workflow_id=handle.id)
        assert receipt.accepted and (await run_result(handle)).status is RunStatus.COMPLETED
        log = await approvals_log(handle)
    assert [(e.action, e.by, e.signed) for e in log][-1] == ("approved", "alice", True)
