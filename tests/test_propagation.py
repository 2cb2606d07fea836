"""What members see of earlier work (an agent's ``sees``) on real Temporal: pipeline stages,
supervisors' workers and handoff agents, each read back from the member's own conversation;
the router gets reports, never transcripts; ``baton show`` says what each member saw."""

from __future__ import annotations

from typing import Any

from pattern_run_helpers import agent, child_events, run
from rich.console import Console
from temporalio.client import Client

from baton.client import BatonClient
from baton.client.cli._render_debug import run_tree
from baton.client.cli._summary import summary
from baton.loader import parse_team
from baton.messages import Message, ToolResultMessage, UserMessage
from baton.runs import MessagesPage, PageRequest, RunStatus
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.workflows._propagation import EARLIER_WORK

TASK = "Write a note about the A1001 refund policy"
RESEARCH = "Refunds are possible within 30 days of delivery for every order."


async def conversation(client: Client, workflow_id: str) -> list[Message]:
    page = await client.get_workflow_handle(workflow_id).query(
        "messages", PageRequest(limit=1000), result_type=MessagesPage)
    return list(page.messages)


def users(messages: list[Message]) -> list[str]:
    return [m.content for m in messages if isinstance(m, UserMessage)]


def pipeline(*agents: dict[str, Any]) -> Any:
    return parse_team({"name": "line", "pattern": "pipeline", "agents": list(agents),
                       "pipeline": {"stages": [a["name"] for a in agents]}})


async def shown(client: Client, settings: BatonSettings, run_id: str) -> tuple[str, str]:
    """What ``baton show`` and ``baton summary`` print for the run."""
    view = await BatonClient(client, settings).show(run_id)
    console = Console(record=True, width=240)
    for part in run_tree(view):
        console.print(part)
    return console.export_text(), "\n".join(summary(view))


async def test_pipeline_stages_see_a_digest_by_default_or_everything_in_full(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = pipeline(agent("researcher"), agent("writer"), agent("editor"),
                    agent("checker", sees="full"))
    run_id, result = await run(client, settings, scripted, team, {
        "researcher": [{"content": RESEARCH}],
        "writer": [{"content": "Draft: 30-day refunds."}],
        "editor": [{"content": "Edited: refunds within 30 days.",
                    "expect": {"last_message_contains": "Input from writer: Draft"}}],
        "checker": [{"content": "Checked."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    researcher, writer, editor, checker = [
        await conversation(client, c.workflow_id) for c in result.children]
    # The first two stages: their input, as before, and nothing else.
    assert users(researcher) == [TASK]
    assert users(writer) == [f"Task: {TASK}\n\nInput from researcher: {RESEARCH}"]
    # summary (the default): one digest line per stage before the previous one, then its task.
    digest, task = users(editor)
    assert digest.startswith(f"{EARLIER_WORK} (a digest of the earlier stages)")
    assert f"- researcher: {RESEARCH}" in digest
    assert task == f"Task: {TASK}\n\nInput from writer: Draft: 30-day refunds."
    # full: every earlier stage's output in full.
    earlier, task = users(checker)
    assert f"Output of researcher:\n{RESEARCH}" in earlier
    assert "Output of writer:\nDraft: 30-day refunds." in earlier
    assert task.endswith("Input from editor: Edited: refunds within 30 days.")
    started = [e for e in await child_events(client, run_id) if e.action == "started"]
    assert [(e.member, e.sees) for e in started] == [
        ("researcher", "summary"), ("writer", "summary"), ("editor", "summary"),
        ("checker", "full")]
    page, _ = await shown(client, settings, run_id)
    assert "member checker (agent) sees: full" in page
    assert "member editor (agent) sees: summary" in page


async def test_pipeline_stages_that_see_only_the_task_or_nothing(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = pipeline(agent("researcher"), agent("writer", sees="task"),
                    agent("editor", sees="none"))
    run_id, result = await run(client, settings, scripted, team, {
        "researcher": [{"content": RESEARCH}],
        "writer": [{"content": "A fresh draft."}],
        "editor": [{"content": "Edited."}],
    }, TASK)
    assert result.status is RunStatus.COMPLETED, result.reason
    _, writer, editor = [await conversation(client, c.workflow_id) for c in result.children]
    assert users(writer) == [TASK]  # the original task only: no earlier output
    assert users(editor) == ["Do your part as editor: stage 3 of 3."]
    assert all(RESEARCH not in text for text in users(writer) + users(editor))
    assert [c.sees for c in result.children] == ["summary", "task", "none"]
    scripted.assert_script_consumed(run_id)


def desk(*workers: dict[str, Any]) -> Any:
    return parse_team({
        "name": "desk", "pattern": "supervisor",
        "agents": [agent("router", "routes support requests"), *workers],
        "supervisor": {"router": "router", "workers": [w["name"] for w in workers]},
    })


def delegate(worker: str, task: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": f"delegate_to_{worker}", "arguments": {"task": task}}]}


LOOKUP = {"tool_calls": [{"name": "lookup_order", "arguments": {"order_id": "A1001"}}]}


async def test_workers_see_a_digest_of_earlier_reports_and_the_router_only_reports(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = desk(agent("billing", "refunds", tools=["lookup_order"]), agent("tech", "devices"),
                agent("writer", "writes the reply", sees="full"),
                agent("auditor", "checks the reply", sees="task"))
    run_id, result = await run(client, settings, scripted, team, {
        "router": [delegate("billing", "Is order A1001 refundable?"),
                   delegate("tech", "Why do the headphones crackle?"),
                   delegate("writer", "Write the reply"),
                   delegate("auditor", "Check the reply"),
                   {"content": "Done.",
                    "expect": {"last_message_contains": "auditor reports (completed): OK"}}],
        "billing": [LOOKUP, {"content": "A1001 is refundable."}],
        "tech": [{"content": "Reset the pairing.",
                  "expect": {"last_message_contains": "Why do the headphones crackle?"}}],
        "writer": [{"content": "Dear customer, ..."}],
        "auditor": [{"content": "OK"}],
    }, "My A1001 headphones crackle; refund?")
    assert result.status is RunStatus.COMPLETED, result.reason
    billing, tech, writer, auditor = [
        await conversation(client, c.workflow_id) for c in result.children]
    assert users(billing) == ["Is order A1001 refundable?"]  # nothing earlier to see
    digest, task = users(tech)
    assert digest.startswith(f"{EARLIER_WORK} (a digest of what earlier workers reported)")
    assert "- billing (completed): A1001 is refundable." in digest
    assert task == "Why do the headphones crackle?"
    full, _ = users(writer)
    assert "billing (completed) reported:\nA1001 is refundable." in full
    assert "tech (completed) reported:\nReset the pairing." in full
    assert users(auditor) == ["Check the reply"]
    assert [c.sees for c in result.children] == ["summary", "summary", "full", "task"]
    # The router got billing's report; billing's own tool call and its result stayed in
    # billing's conversation.
    looked_up = next(m for m in billing if isinstance(m, ToolResultMessage))
    router = await conversation(client, run_id)
    said = [m.content for m in router if isinstance(m, ToolResultMessage)]
    assert "billing reports (completed): A1001 is refundable." in said
    assert not any(m.name == "lookup_order" for m in router if isinstance(m, ToolResultMessage))
    assert all(looked_up.content not in text for text in said)


async def test_a_handoff_agent_sees_what_its_own_sees_says(
        client: Client, settings: BatonSettings, scripted: ScriptedServer, worker: object) -> None:
    team = parse_team({
        "name": "desk", "pattern": "handoff",
        "agents": [agent("triage", "first contact"), agent("billing", "refunds",
                                                             sees="summary"),
                   agent("tech", "devices", sees="none")],
        "handoff": {"agents": ["triage", "billing", "tech"], "history": "full"},
    })
    transfer = {"tool_calls": [{"name": "transfer_to_billing",
                                "arguments": {"reason": "refund request"}}]}
    to_tech = {"tool_calls": [{"name": "transfer_to_tech", "arguments": {"reason": "device"}}]}
    run_id, result = await run(client, settings, scripted, team, {
        "triage": [{**transfer, "content": "Billing will help."}],
        "billing": [to_tech],
        "tech": [{"content": "Reset it."}],
    }, "My A1001 headphones crackle; refund?")
    assert result.status is RunStatus.COMPLETED, result.reason
    _, billing, tech = [await conversation(client, c.workflow_id) for c in result.children]
    # summary instead of the team's full history: one digest message, then its task.
    summary_text, task = users(billing)
    assert summary_text.startswith("[Summary of the conversation before triage transferred it")
    assert task.endswith("[Transferred from triage: refund request]")
    # none: no conversation, and not even the request: the transfer note only.
    assert users(tech) == ["[Transferred from billing: device]"]
    assert [c.sees for c in result.children] == ["task", "summary", "none"]
    _, told = await shown(client, settings, run_id)
    assert "tech (agent) was given a task and ended completed" in told
