"""``baton memory list | show | forget``: what long-term memory holds, and deleting it.

Reads and writes the memory store the workers use (``BATON_MEMORY_URL``, default
``$BATON_HOME/memory.sqlite``); forgetting a subject also purges its cached reads from the
ledger store (``BATON_LEDGER_URL``). See docs/memory.md.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from baton.client.cli._common import Home, console, print_all, run_async, settings_from
from baton.client.memory import MemoryAdmin
from baton.memory import MemoryRecord, age_text

__all__ = ["memory"]

memory = typer.Typer(name="memory", no_args_is_help=True,
                     help="List, show and forget long-term memories (docs/memory.md).")

Tenant = Annotated[str | None, typer.Option(help="tenant (all tenants when listing)")]
Subject = Annotated[str | None, typer.Option(help="subject: a customer, a repository, ...")]
Json = Annotated[bool, typer.Option("--json", help="print JSON")]


def _age(record: MemoryRecord) -> str:
    return age_text((datetime.now(UTC) - record.created_at).total_seconds())


@memory.command("list")
def list_(*, tenant: Tenant = None, subject: Subject = None,
          kind: Annotated[str | None, typer.Option(help="only this kind")] = None,
          limit: Annotated[int, typer.Option(help="at most this many")] = 50,
          json_: Json = False, home: Home = None) -> None:
    """Memories not expired yet, newest first."""
    async def go() -> list[MemoryRecord]:
        async with MemoryAdmin.open(settings_from(home=home)) as admin:
            return await admin.list(tenant=tenant, subject=subject, kind=kind, limit=limit)

    found = run_async(go(), hard_exit=False)
    if json_:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in found]))
        return
    table = Table(title=f"{len(found)} memories", title_justify="left")
    for column in ("id", "tenant", "subject", "kind", "age", "source run", "text"):
        table.add_column(column, overflow="fold")
    for r in found:
        table.add_row(Text(r.id), Text(r.tenant), Text(r.subject or "-"), Text(r.kind),
                      _age(r), Text(r.source_run), Text(r.text))
    print_all(table)


@memory.command()
def show(memory_id: Annotated[str, typer.Argument(help="the memory's id")], *,
         json_: Json = False, home: Home = None) -> None:
    """One memory: its text, scope, kind, source run, age, expiry and use."""
    async def go() -> MemoryRecord:
        async with MemoryAdmin.open(settings_from(home=home)) as admin:
            return await admin.show(memory_id)

    record = run_async(go(), hard_exit=False)
    if json_:
        console.print_json(record.model_dump_json())
        return
    expires = f"{record.expires_at:%Y-%m-%d %H:%M}" if record.expires_at else "never"
    for label, value in (("id", record.id), ("tenant", record.tenant),
                         ("subject", record.subject or "-"), ("kind", record.kind),
                         ("from run", f"{record.source_run} ({record.source_agent or '?'})"),
                         ("created", f"{record.created_at:%Y-%m-%d %H:%M} ({_age(record)})"),
                         ("expires", expires), ("recalled", f"{record.uses} times"),
                         ("text", record.text)):
        console.print(Text.assemble((f"{label:<9}", "bold"), value))


@memory.command()
def forget(memory_id: Annotated[str | None, typer.Argument(help="one memory's id")] = None,
           *, subject: Subject = None,
           tenant: Annotated[str, typer.Option(help="the tenant")] = "default",
           all_: Annotated[bool, typer.Option("--all", help="every memory of the tenant")] = False,
           home: Home = None) -> None:
    """Forget one memory, a subject (its memories and its cached tool reads: a data-deletion
    request), or --all of a tenant's memories."""
    async def go() -> str:
        async with MemoryAdmin.open(settings_from(home=home)) as admin:
            report = await admin.forget(tenant=tenant, subject=subject, memory_id=memory_id,
                                        everything=all_)
        what = (f"subject {subject!r}" if subject else memory_id or "every memory") + \
            f" of tenant {tenant!r}"
        cached = f" and {report.cached_reads} cached reads" if subject else ""
        return f"forgot {what}: {report.memories} memories{cached} deleted"

    console.print(Text(run_async(go(), hard_exit=False)))
