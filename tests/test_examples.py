"""Every example team loads, passes ``baton lint`` without errors, documents how to run it, and
runs end to end on real Temporal against the scripted model in heuristic mode (no script):
offline, deterministic, with approvals given through the public ``decide`` update."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from baton.approvals import ApprovalDecision, PendingApproval
from baton.client import run_result
from baton.examples import MCP_SERVERS
from baton.lint import lint_team
from baton.loader import load_team
from baton.mcp_servers import SEPARATOR
from baton.runs import RunInput, RunResult, RunStatus
from baton.settings import BatonSettings

EXAMPLES = Path(__file__).parent.parent / "baton" / "examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))
PATTERNS = {"single", "supervisor", "hierarchical", "pipeline", "fanout", "debate", "handoff",
            "blackboard"}
_COMMAND = re.compile(r"baton run baton/examples/([\w.-]+\.yaml) --input (\$'(?:[^'\\]|\\.)*'|\"[^\"]*\")")


def default_input(path: Path) -> str:
    """The ``--input`` of the run command in the file's header comment (bash quoting)."""
    header = "".join(line for line in path.read_text().splitlines(keepends=True)
                     if line.startswith("#"))
    match = _COMMAND.search(header)
    assert match, f"{path.name}: the header must show `baton run baton/examples/{path.name} --input ...`"
    assert match.group(1) == path.name
    quoted = match.group(2)
    if quoted.startswith("$'"):
        return quoted[2:-1].encode().decode("unicode_escape")
    return quoted[1:-1]


def serving_examples(settings: BatonSettings, request: pytest.FixtureRequest) -> BatonSettings:
    """``settings`` plus the example MCP servers ``baton up`` serves, for a test of an example
    team that uses them (only then: a server process for every test would slow the rest)."""
    path = getattr(request.node, "callspec", None) and request.node.callspec.params.get("path")
    if not path or not any(r.kind == "tool" and SEPARATOR in r.name
                           for r in load_team(path).references()):
        return settings
    return settings.model_copy(update={"mcp_servers": {**MCP_SERVERS, **settings.mcp_servers}})


@pytest.fixture
def settings(settings: BatonSettings, request: pytest.FixtureRequest) -> BatonSettings:
    return serving_examples(settings, request)


def test_every_pattern_has_an_example() -> None:
    assert {load_team(p).pattern for p in FILES} == PATTERNS


def test_readme_lists_every_example() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    for path in FILES:
        assert f"baton/examples/{path.name}" in readme or f"({path.name})" in readme, path.name


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_loads_lints_and_documents_its_command(path: Path) -> None:
    team = load_team(path)
    errors = [f for f in lint_team(team) if f.level == "error"]
    assert errors == [], errors
    assert path.read_text().startswith("#")
    assert len(default_input(path)) > 20


def test_a_composition_nests_a_pipeline_in_a_supervisor() -> None:
    team = load_team(EXAMPLES / "release_desk.yaml")
    assert team.pattern == "supervisor"
    assert team.teams["code_review"].pattern == "pipeline"
    assert team.supervisor is not None and "code_review" in team.supervisor.workers


async def _approve_all(client: Client, run_id: str, done: asyncio.Future[RunResult]) -> int:
    """Approve every request of the run or its descendants until the run ends (as a support lead
    at the CLI would); returns how many were approved."""
    query = f"BatonStatus='awaiting_approval' AND WorkflowId STARTS_WITH '{run_id}'"
    approved: set[str] = set()
    while not done.done():
        async for execution in client.list_workflows(query):
            handle = client.get_workflow_handle(execution.id)
            for request in await handle.query("pending_approvals",
                                              result_type=list[PendingApproval]):
                if request.approval_id not in approved:
                    await handle.execute_update("decide", ApprovalDecision(
                        approval_id=request.approval_id, decision="approve", by="alice",
                        reason="example test"))
                    approved.add(request.approval_id)
        await asyncio.wait([done], timeout=0.1)
    return len(approved)


def _runnable(path: Path) -> bool:
    pattern = load_team(path).pattern
    module = "agent" if pattern == "single" else pattern
    return importlib.util.find_spec(f"baton.workflows.{module}") is not None


# What each example's answer must contain (beyond completing): evidence the heuristic model did
# the pattern's job rather than echo the input.
EXPECT: dict[str, list[str]] = {
    "support": ["A1003"],
    "support_memory": ["A1002", "remember"],
    "support_desk": ["billing", "tech", "RF-"],
    "research_report": ["Merged answer", "guide_researcher", "postmortem_researcher"],
    "code_review": ["Summary", "Verdict"],
    "design_debate": ["Winner", "PostgreSQL"],
    "triage_handoff": ["lamp"],
    "incident_blackboard": ["connection"],
    "org_hierarchical": ["support", "engineering"],
    "org_engineering": ["sre"],
    "release_desk": ["code_review", "release_notes"],
    "world_clock": ["Europe/Paris", "time difference +"],  # +8 h in winter, +7 h in summer
}


@pytest.mark.parametrize("path", [p for p in FILES if _runnable(p)],
                         ids=[p.stem for p in FILES if _runnable(p)])
async def test_example_runs_end_to_end_in_heuristic_mode(
        client: Client, settings: BatonSettings, worker: object, path: Path) -> None:
    from baton.workflows import WORKFLOW_TYPES

    team = load_team(path)
    task = default_input(path)
    run_id = f"example-{team.name}-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        WORKFLOW_TYPES[team.pattern], RunInput(team=team, input=task), id=run_id,
        task_queue=settings.task_queue, result_type=RunResult)
    done = asyncio.ensure_future(run_result(handle))
    await _approve_all(client, run_id, done)
    result = done.result()
    assert result.status is RunStatus.COMPLETED, (result.status, result.reason, result.output)
    output = result.output or ""
    assert len(output) > 40 and output.strip() != task.strip(), output
    for needle in EXPECT.get(path.stem, []):
        assert needle in output, (needle, output)
