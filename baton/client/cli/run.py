"""``baton run | watch | status | demo``: start a run and follow it, follow a run already going,
read its status, the offline demo.

``run`` lints the team before it connects (a broken team is refused even without Temporal)
and then follows the run's live event stream, members included; ``watch`` follows a run started
elsewhere (from an offset, after a disconnect); ``demo`` does the same as ``run`` against an
embedded stack it starts and stops itself, approving its own approval gate the way a person
would.
"""

from __future__ import annotations

import asyncio
import os
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from baton.client.api import BatonClient
from baton.client.cli._common import (
    Address,
    Home,
    ModelPort,
    Namespace,
    TaskQueue,
    TemporalPort,
    UiPort,
    console,
    errors,
    print_all,
    run_async,
    settings_from,
)
from baton.client.cli._follow import follow, report
from baton.client.cli._render import result_panel, status_table
from baton.client.cli._tables import findings_table
from baton.client.stack import EmbeddedStack
from baton.lint import has_errors, lint_team
from baton.loader import load_team
from baton.specs import ModelProfile, TeamSpec

__all__ = ["DEMO_INPUT", "demo", "run", "status", "watch"]

DEMO_INPUT = "Order A1001 arrived broken. Please look it up and refund it."


def run(
    team: Annotated[str, typer.Argument(help="team YAML file, or the name of a deployed team")],
    task: Annotated[str | None, typer.Argument(help="the task (or use --input)")] = None,
    *,
    input_: Annotated[str | None, typer.Option("--input", "-i", help="the task")] = None,
    tenant: Annotated[str, typer.Option(help="tenant (budgets, search attribute)")] = "default",
    subject: Annotated[str | None, typer.Option(
        help="whom the run is about (a customer, a repository): long-term memory is kept per "
             "tenant and subject")] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="print the run id and exit")] = False,
    run_id: Annotated[str | None, typer.Option(help="workflow id (default TEAM-<8 hex>)")] = None,
    as_is: Annotated[bool, typer.Option(
        "--as-is", help="run the file as it is, not the version the team's rollout chooses")
    ] = False,
    address: Address = None, namespace: Namespace = None, task_queue: TaskQueue = None,
) -> None:
    """Start a run of TEAM with a task; follow it step by step and print the answer.

    A team with a rollout (`baton deploy`) runs its stable version, or its canary for the
    canary's share of run ids, whatever the file holds; --as-is runs the file itself."""
    text = input_ or task
    if not text:
        raise typer.BadParameter("give the task as an argument or with --input")
    path = Path(team)
    spec: TeamSpec | None = None
    if path.is_file() or path.suffix in (".yaml", ".yml"):
        spec = load_team(path)  # before connecting: a broken YAML is reported without Temporal
        _check_lint(spec, path)
    elif as_is:
        raise typer.BadParameter(f"--as-is runs a team file; {team!r} is none")
    settings = settings_from(temporal_address=address, namespace=namespace, task_queue=task_queue)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        chosen = await client.start_run(spec or team, text, tenant=tenant, subject=subject,
                                        run_id=run_id, use_rollout=not as_is)
        started = chosen.run_id
        if chosen.track != "as-is":
            errors.print(f"version {chosen.label} ({chosen.digest}, {chosen.track}) from the "
                         "team's rollout", soft_wrap=True)
        if chosen.given_digest not in (None, chosen.digest):
            errors.print(f"note: {team} ({chosen.given_digest}) is not the version this run "
                         "uses; `--as-is` runs the file itself", soft_wrap=True)
        if no_wait:
            typer.echo(started)
            errors.print(f"started; follow with `baton show {started}` or {client.ui_url(started)}",
                         soft_wrap=True)
            return
        errors.print(f"run {started}  ({client.ui_url(started)})", soft_wrap=True)
        try:
            result = await follow(client, started)
        except asyncio.CancelledError:
            errors.print(f"stopped following; the run continues: `baton watch {started}`")
            raise
        await report(client, result)

    run_async(go())


def watch(
    run_id: Annotated[str, typer.Argument(help="the run id (workflow id)")],
    *,
    from_: Annotated[int, typer.Option(
        "--from", min=0, help="start at this event of the run (its seq): resume a stream")] = 0,
    json_: Annotated[bool, typer.Option(
        "--json", help="one JSON object per event (the run's and its members'), then exit")
    ] = False,
    address: Address = None, namespace: Namespace = None,
) -> None:
    """Follow a run as it happens, its members included, until it ends; then its result.

    Events come from the run's live stream (the `events` update), not from polling; --from
    resumes after a disconnect (events are numbered across continue-as-new)."""
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        if json_:
            async for item in client.event_tree(run_id, offset=from_):
                typer.echo(item.model_dump_json())
            return
        errors.print(f"run {run_id}  ({client.ui_url(run_id)})", soft_wrap=True)
        try:
            result = await follow(client, run_id, offset=from_)
        except asyncio.CancelledError:
            errors.print(f"stopped following; the run continues: `baton watch {run_id}`")
            raise
        await report(client, result)

    run_async(go())


def _check_lint(spec: TeamSpec, path: Path) -> None:
    """Errors refuse the team (exit 2), warnings are printed and the run goes ahead."""
    findings = lint_team(spec)
    if not findings:
        return
    errors.print(findings_table(findings, title=f"lint {path}", width=errors.width))
    if has_errors(findings):
        errors.print(Text(f"refusing to run {path}: fix the lint errors above "
                          f"(`baton lint {path}`)", style="red"), soft_wrap=True)
        raise typer.Exit(2)


def cancel(run_id: str, address: Address = None, namespace: Namespace = None) -> None:
    """Cancel a run: its members are cancelled, partial results kept, approvals closed."""
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        result = await client.cancel(run_id)
        print_all(result_panel(result))

    run_async(go())


def status(run_id: str, address: Address = None, namespace: Namespace = None) -> None:
    """Current status of a run: step, usage, cost (the workflow's `status` query)."""
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        console.print(status_table(await client.status(run_id), client.ui_url(run_id)))

    run_async(go())


def _fresh_demo_shop(home: Path) -> None:
    """Every demo starts with the demo shop as new: its refunds are cumulative per order, so a
    second demo on a shared shop would find A1001 refunded already and refund nothing. The demo
    keeps its own shop (``HOME/demo/support.sqlite``, apart from what ``baton up`` serves) and
    its stack's worker inherits the path."""
    shop = home.expanduser() / "demo" / "support.sqlite"
    shop.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{shop}{suffix}").unlink(missing_ok=True)
    os.environ["BATON_SUPPORT_DB"] = str(shop)


def demo(*, home: Home = None, temporal_port: TemporalPort = None, ui_port: UiPort = None,
         model_port: ModelPort = None,
         input_: Annotated[str, typer.Option("--input", "-i", help="the task")] = DEMO_INPUT,
         ) -> None:
    """Start the embedded stack, run examples/support.yaml offline, print it all, stop."""
    settings = settings_from(home=home, temporal_port=temporal_port, ui_port=ui_port,
                             model_server_port=model_port)
    team_file = resources.files("baton.examples") / "support.yaml"
    with resources.as_file(team_file) as path:
        spec = load_team(path)
    # The embedded stack serves the example tools; the model is always the embedded scripted
    # one, so the demo stays offline whatever baton.toml or BATON_* say.
    settings = settings.model_copy(update={"profiles": {"default": ModelProfile()},
                                           "model_server_url": None})
    _fresh_demo_shop(settings.home)

    async def go() -> None:
        stack = EmbeddedStack(settings)
        with console.status("starting the embedded stack (Temporal, model server, worker)…"):
            await stack.start()
        try:
            console.print(f"stack up: temporal {stack.temporal_address}, ui {stack.ui_url}, "
                          f"model {stack.model_server_url}; state in {stack.home}",
                          soft_wrap=True)
            client = await BatonClient.connect(stack.settings)
            run_id = await client.start(spec, input_)
            console.print(Text.assemble(("task: ", "bold"), input_), soft_wrap=True)
            await report(client, await follow(client, run_id, auto_approve=True))
        finally:
            with console.status("stopping the stack…"):
                await stack.stop()

    run_async(go())
