"""``baton runs | lint | examples | resume``: finding runs, checking teams, starting points.

``runs`` prints the visibility query it ran, so the same search can be pasted into the Temporal
UI; ``resume`` starts a new run from a failed pipeline run's input and result.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table
from rich.text import Text

from baton.client.api import BatonClient
from baton.client.cli._common import (
    Address,
    Namespace,
    console,
    errors,
    print_all,
    run_async,
    settings_from,
)
from baton.client.cli._tables import findings_table, runs_table
from baton.client.reader import parse_since, runs_query
from baton.errors import BatonError
from baton.lint import has_errors, lint_team
from baton.loader import load_team
from baton.runs import RunStatus
from baton.tools import default_registry

__all__ = ["examples", "lint", "resume", "runs"]


def lint(team: Annotated[Path, typer.Argument(help="team YAML file", dir_okay=False)]) -> None:
    """Check a team against the one-pager rules.

    Exit codes: 0 no errors (warnings are printed), 1 the team has lint errors, 2 the file
    cannot be read or is not a valid team. With a worker configuration (baton.toml or
    BATON_TOOL_MODULES) the team's tool names are checked against the tools it serves too, and
    coordinators' prices against their workers'."""
    spec = load_team(team)
    settings = settings_from()
    modules = settings.tool_modules
    findings = lint_team(spec, default_registry.serving(modules).specs() if modules else None,
                         settings.profiles)
    if not findings:
        console.print(Text(f"{team}: no findings", style="green"))
        return
    console.print(findings_table(findings, title=str(team), width=console.width))
    count = sum(f.level == "error" for f in findings)
    console.print(f"{count} error(s), {len(findings) - count} warning(s)")
    if has_errors(findings):
        raise typer.Exit(1)


def runs(*, team: Annotated[str | None, typer.Option(help="BatonTeam")] = None,
         tenant: Annotated[str | None, typer.Option(help="BatonTenant")] = None,
         version: Annotated[str | None, typer.Option(
             "--version", help="BatonTeamVersion (a team version's digest)")] = None,
         status: Annotated[str | None, typer.Option(
             help="BatonStatus: running, awaiting_approval, completed, failed, …")] = None,
         since: Annotated[str | None, typer.Option(
             help="started within (30m, 1h, 2d, 1w) or after an ISO time")] = None,
         limit: Annotated[int, typer.Option(
             min=1, help="at most this many (running ones, then the latest closed), listed "
                         "newest first")] = 50,
         all_: Annotated[bool, typer.Option("--all", help="member runs (child workflows) "
                                                          "too")] = False,
         json_: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
         address: Address = None, namespace: Namespace = None) -> None:
    """Search runs by team, tenant, status and start time (Temporal visibility)."""
    query = runs_query(team=team, tenant=tenant, status=status, version=version,
                       since=parse_since(since) if since else None, top_level_only=not all_)
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        rows = await client.search_runs(query, limit=limit, top_level_only=not all_)
        if json_:
            typer.echo("[" + ",".join(r.model_dump_json() for r in rows) + "]")
            return
        print_all(runs_table(rows, width=console.width),
                  Text.assemble(("query  ", "bold"), query or "(all workflows)"))

    run_async(go())


def _describe(text: str) -> tuple[str, str, str]:
    """Pattern, description (first comment line) and suggested command of an example file."""
    comments = [line[1:].strip() for line in text.splitlines() if line.startswith("#")]
    command = next((c for c in comments if c.startswith("baton ")), "")
    description = next((c for c in comments if c and not c.startswith("baton ")), "")
    data = yaml.safe_load(text) or {}
    pattern = str(data.get("pattern", "single")) if isinstance(data, dict) else "?"
    return pattern, description, command


def examples() -> None:
    """The example teams: pattern, what each shows and the command to try it."""
    table = Table(title="examples (run from the repository root)", title_justify="left",
                  show_lines=True)
    for column in ("file", "pattern", "description", "try"):
        table.add_column(column, overflow="fold")
    files = sorted((f for f in resources.files("baton.examples").iterdir()
                    if f.name.endswith(".yaml")), key=lambda f: f.name)
    for file in files:
        pattern, description, command = _describe(file.read_text(encoding="utf-8"))
        table.add_row(Text(f"baton/examples/{file.name}"), Text(pattern), Text(description),
                      Text(command or f"baton run baton/examples/{file.name} --input '…'"))
    console.print(table)


def resume(run_id: str,
           new_run_id: Annotated[str | None, typer.Option(
               "--run-id", help="workflow id of the new run (default TEAM-<8 hex>)")] = None,
           address: Address = None, namespace: Namespace = None) -> None:
    """Continue a failed pipeline run at its failed stage, reusing earlier stages' outputs."""
    from baton.workflows.pipeline import resume_input

    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        run = await client.workflow_input(run_id)
        if run.team.pattern != "pipeline":
            raise BatonError(f"only pipeline runs can be resumed; {run_id!r} is a "
                             f"{run.team.pattern} run")
        if not await client.closed(run_id):
            raise BatonError(f"run {run_id!r} is still running")
        failed = await client.result(run_id)
        if failed.status == RunStatus.COMPLETED:
            raise BatonError(f"run {run_id!r} completed: nothing to resume")
        try:
            again = resume_input(run, failed)
        except ValueError as exc:
            raise BatonError(str(exc)) from exc
        started = await client.start_input(again, run_id=new_run_id)
        typer.echo(started)
        errors.print(f"resumed {run_id} at stage {again.resume['from_stage']!r}; follow with "
                     f"`baton show {started}` or {client.ui_url(started)}", soft_wrap=True)

    run_async(go())
