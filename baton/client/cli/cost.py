"""``baton cost --team T --since 1d [--by agent|model|tenant|version]``: what a team's finished
runs cost, with the share spent on routing (routers, mergers, judges, schedulers) and the read
cache's hit rate and savings per tool."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from baton.client.api import BatonClient
from baton.client.cli._common import Address, Namespace, print_all, run_async, settings_from
from baton.client.cli._render_ops import cost_tables
from baton.client.reader import parse_since

__all__ = ["cost"]


def cost(*, team: Annotated[str, typer.Option(help="BatonTeam")],
         since: Annotated[str, typer.Option(
             help="runs started within (30m, 1h, 2d, 1w) or after an ISO time")] = "1d",
         by: Annotated[Literal["agent", "model", "tenant", "version"], typer.Option(
             help="group by")] = "agent",
         limit: Annotated[int, typer.Option(min=1, help="newest finished runs read")] = 200,
         json_: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
         address: Address = None, namespace: Namespace = None) -> None:
    """Cost report over a team's finished runs: tokens and USD per group, routing share, cache
    hits and what they saved."""
    settings = settings_from(temporal_address=address, namespace=namespace)
    start = parse_since(since)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        report = await client.cost_report(team, since=start, by=by, limit=limit)
        if json_:
            typer.echo(report.model_dump_json(indent=2))
            return
        print_all(*cost_tables(report))

    run_async(go())
