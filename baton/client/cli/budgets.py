"""``baton budgets``: each tenant's spend and what is left, per period (day, month).

Read from each tenant's budget authority (its ``report`` query), so the numbers are the ones
every worker enforces; tenants the local configuration limits that have spent nothing yet are
listed with their limits.
"""

from __future__ import annotations

from typing import Annotated

import typer

from baton.client.api import BatonClient
from baton.client.cli._common import Address, Namespace, print_all, run_async, settings_from
from baton.client.cli._render_ops import budgets_table

__all__ = ["budgets"]


def budgets(tenant: Annotated[str | None, typer.Option(help="one tenant only")] = None,
            json_: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
            address: Address = None, namespace: Namespace = None) -> None:
    """Spend and remaining budget per tenant and period; calls in flight hold room too."""
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        reports = await client.tenant_budgets(tenant)
        if json_:
            typer.echo("[" + ",".join(r.model_dump_json() for r in reports) + "]")
            return
        print_all(budgets_table(reports))

    run_async(go())
