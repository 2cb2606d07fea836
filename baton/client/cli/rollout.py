"""``baton deploy`` and ``baton rollout status | promote | rollback``: staged rollout of team
versions.

``deploy TEAM.yaml`` makes the file's version stable at once, or with ``--canary 5`` the canary
for 5% of new runs (chosen from the run id, so a run id always gets the same version); the rest
stay on the stable version. Each change is recorded with who made it (``--by``, else
``BATON_DECIDER``, else the OS user), when and why (``--reason``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from baton.client.api import BatonClient
from baton.client.cli._common import (
    Address,
    Namespace,
    TaskQueue,
    console,
    print_all,
    run_async,
    settings_from,
)
from baton.client.cli._render_ops import rollout_state_lines, rollout_table
from baton.client.cli._tables import findings_table
from baton.lint import has_errors, lint_team
from baton.loader import load_team
from baton.rollout import RolloutState, team_digest

__all__ = ["deploy", "rollout"]

rollout = typer.Typer(name="rollout", no_args_is_help=True,
                      help="Staged rollout of team versions: status, promote, rollback.")

By = Annotated[str | None, typer.Option(
    "--by", help="who makes the change (default: BATON_DECIDER, else the OS user)")]
Reason = Annotated[str, typer.Option(help="why, for the audit log")]


def _print_state(state: RolloutState) -> None:
    print_all(*rollout_state_lines(state))


def deploy(team: Annotated[Path, typer.Argument(help="team YAML file", dir_okay=False)], *,
           canary: Annotated[int, typer.Option(
               min=0, max=100, help="percent of new runs for this version (0 or 100: make it "
                                    "stable now)")] = 0,
           label: Annotated[str | None, typer.Option(
               help="a human label (default v<N>)")] = None,
           reason: Reason = "", by: By = None, address: Address = None,
           namespace: Namespace = None, task_queue: TaskQueue = None) -> None:
    """Deploy a team version: stable now, or canary for --canary percent of new runs."""
    spec = load_team(team)
    settings = settings_from(temporal_address=address, namespace=namespace,
                             task_queue=task_queue)
    findings = lint_team(spec, profiles=settings.profiles)
    if findings:
        console.print(findings_table(findings, title=f"lint {team}"))
    if has_errors(findings):
        console.print(Text(f"refusing to deploy {team}: fix the lint errors above",
                           style="red"))
        raise typer.Exit(2)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        state = await client.deploy(spec, canary=canary, label=label, reason=reason, by=by)
        digest = team_digest(spec)
        where = "canary" if state.canary and state.canary.digest == digest else "stable"
        console.print(Text(f"deployed {spec.name} {digest} as {where}", style="bold"))
        _print_state(state)

    run_async(go())


@rollout.command("status")
def status(team: Annotated[str, typer.Argument(help="team name")],
           sample: Annotated[int, typer.Option(
               min=1, help="finished runs per version whose logs are read for approvals")] = 50,
           json_: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
           address: Address = None, namespace: Namespace = None) -> None:
    """Stable and canary side by side: runs, completed %, failures by status, approvals
    rejected, cost per run, p50/p95 duration (runs since the canary was deployed)."""
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        report = await client.rollout_status(team, sample=sample)
        if json_:
            typer.echo(report.model_dump_json(indent=2))
            return
        _print_state(report.state)
        print_all(rollout_table(report))
        if report.last_check:
            print_all(Text(f"rule, last check: {report.last_check}"))

    run_async(go())


@rollout.command("promote")
def promote(team: Annotated[str, typer.Argument(help="team name")], reason: Reason = "",
            by: By = None, address: Address = None, namespace: Namespace = None) -> None:
    """Make the canary the stable version: every new run gets it."""
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        _print_state(await client.promote(team, reason=reason, by=by))

    run_async(go())


@rollout.command("rollback")
def rollback(team: Annotated[str, typer.Argument(help="team name")], reason: Reason = "",
             by: By = None, address: Address = None, namespace: Namespace = None) -> None:
    """Drop the canary: every new run gets the stable version again."""
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        _print_state(await client.rollback(team, reason=reason, by=by))

    run_async(go())
