"""The ``baton`` command line (typer + rich).

Every command builds ``BatonSettings`` from ``BATON_*`` variables, then applies its options on
top (``--address``, ``--namespace``, ``--task-queue``, ``--home``). Errors Baton raises on
purpose print one red line and exit non-zero (2 for an invalid team file); only bugs show a
traceback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.text import Text
from temporalio.service import RPCError

from baton.client import _tracing, approvals_cli, debug_cli, ops_cli, render
from baton.client._cli_common import (
    HARD_EXIT,
    Address,
    Home,
    ModelPort,
    Namespace,
    TaskQueue,
    TemporalPort,
    UiPort,
    console,
    errors,
    follow,
    report,
    run_async,
    settings_from,
)
from baton.client.api import BatonClient
from baton.client.stack import EmbeddedStack
from baton.errors import BatonError, SpecError, StackError
from baton.lint import has_errors, lint_team
from baton.loader import load_team
from baton.settings import BatonSettings
from baton.specs import ModelProfile, TeamSpec

__all__ = ["app", "main"]

DEMO_INPUT = "Order A1001 arrived broken. Please look it up and refund it."

app = typer.Typer(
    name="baton", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Durable orchestration of AI-agent teams on Temporal.",
)


@app.command()
def up(*, home: Home = None, temporal_port: TemporalPort = None, ui_port: UiPort = None,
       model_port: ModelPort = None, namespace: Namespace = None,
       task_queue: TaskQueue = None) -> None:
    """Run the embedded stack in the foreground until Ctrl-C.

    Temporal dev server + UI, the scripted model server and one worker, on loopback; state in
    --home survives restarts."""
    settings = settings_from(home=home, temporal_port=temporal_port, ui_port=ui_port,
                             model_server_port=model_port, namespace=namespace,
                             task_queue=task_queue)
    run_async(_up(settings))


async def _up(settings: BatonSettings) -> None:
    stack = EmbeddedStack(settings)
    with console.status("starting Temporal, the model server and a worker…"):
        await stack.start()  # stops what it started when it fails
    try:
        s = stack.settings
        console.print(f"[bold green]baton is up[/bold green]\n"
                      f"  temporal      {stack.temporal_address} (namespace {s.namespace})\n"
                      f"  temporal ui   {stack.ui_url}\n"
                      f"  model server  {stack.model_server_url}\n"
                      f"  worker        task queue {s.task_queue}\n"
                      f"  state         {stack.home} (logs in {stack.logs_dir})\n"
                      f"Press Ctrl-C to stop.", soft_wrap=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stopped = asyncio.create_task(stop.wait())
        died = asyncio.create_task(stack.wait())
        done, pending = await asyncio.wait({stopped, died}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if died in done:
            proc = died.result()
            raise proc.failure(f"exited unexpectedly with code {proc.exited()}")
        console.print("stopping…")
    finally:
        await stack.stop()


@app.command()
def worker(*, address: Address = None, namespace: Namespace = None, task_queue: TaskQueue = None,
           home: Home = None,
           log_format: Annotated[Literal["json", "console"] | None, typer.Option(
               help="log format (env BATON_LOG_FORMAT; default: console on a terminal)")] = None,
           log_level: Annotated[str | None, typer.Option(
               help="debug, info, warning, error (env BATON_LOG_LEVEL)")] = None) -> None:
    """Run one worker: workflows and activities of every pattern, until SIGINT/SIGTERM."""
    from baton.worker import run_worker

    settings = settings_from(temporal_address=address, namespace=namespace,
                             task_queue=task_queue, home=home, log_format=log_format,
                             log_level=log_level)
    try:
        run_async(run_worker(settings), hard_exit=False)  # telemetry exporters flush at exit
    except RuntimeError as exc:
        if "Failed client connect" not in str(exc):
            raise
        raise StackError(f"cannot reach Temporal at {settings.temporal_address}: {exc}") from exc


@app.command("model-server")
def model_server(
    host: Annotated[str | None, typer.Option(help="(env BATON_MODEL_SERVER_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="(env BATON_MODEL_SERVER_PORT)")] = None,
    script: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, help="script file: ordered steps per agent (tests)")] = None,
    latency: Annotated[float, typer.Option(help="added latency per request, seconds")] = 0.0,
) -> None:
    """Serve the scripted, offline, OpenAI-compatible model on loopback."""
    from baton.scripted.server import serve

    settings = settings_from(model_server_host=host, model_server_port=port)
    serve(settings.model_server_host, settings.model_server_port,
          script_file=str(script) if script else None, latency_s=latency)


@app.command()
def run(
    team: Annotated[Path, typer.Argument(help="team YAML file", dir_okay=False)],
    task: Annotated[str | None, typer.Argument(help="the task (or use --input)")] = None,
    *,
    input_: Annotated[str | None, typer.Option("--input", "-i", help="the task")] = None,
    tenant: Annotated[str, typer.Option(help="tenant (budgets, search attribute)")] = "default",
    no_wait: Annotated[bool, typer.Option("--no-wait", help="print the run id and exit")] = False,
    run_id: Annotated[str | None, typer.Option(help="workflow id (default TEAM-<8 hex>)")] = None,
    address: Address = None, namespace: Namespace = None, task_queue: TaskQueue = None,
) -> None:
    """Start a run of TEAM with a task; follow it step by step and print the answer."""
    text = input_ or task
    if not text:
        raise typer.BadParameter("give the task as an argument or with --input")
    spec = load_team(team)  # before connecting: a broken YAML is reported even without Temporal
    _check_lint(spec, team)
    settings = settings_from(temporal_address=address, namespace=namespace, task_queue=task_queue)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        started = await client.start(spec, text, tenant=tenant, run_id=run_id)
        if no_wait:
            typer.echo(started)
            errors.print(f"started; follow with `baton show {started}` or {client.ui_url(started)}",
                         soft_wrap=True)
            return
        errors.print(f"run {started}  ({client.ui_url(started)})", soft_wrap=True)
        try:
            result = await follow(client, started)
        except asyncio.CancelledError:
            errors.print(f"stopped following; the run continues: `baton show {started}`")
            raise
        report(client, result)

    run_async(go())


def _check_lint(spec: TeamSpec, path: Path) -> None:
    """Errors refuse the team (exit 2), warnings are printed and the run goes ahead."""
    findings = lint_team(spec)
    if not findings:
        return
    errors.print(ops_cli.findings_table(findings, title=f"lint {path}"))
    if has_errors(findings):
        errors.print(Text(f"refusing to run {path}: fix the lint errors above "
                          f"(`baton lint {path}`)", style="red"), soft_wrap=True)
        raise typer.Exit(2)


@app.command()
def status(run_id: str, address: Address = None, namespace: Namespace = None) -> None:
    """Current status of a run: step, usage, cost (the workflow's `status` query)."""
    settings = settings_from(temporal_address=address, namespace=namespace)

    async def go() -> None:
        client = await BatonClient.connect(settings)
        console.print(render.status_table(await client.status(run_id), client.ui_url(run_id)))

    run_async(go())


@app.command()
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
            report(client, await follow(client, run_id, auto_approve=True))
        finally:
            with console.status("stopping the stack…"):
                await stack.stop()

    run_async(go())


app.command()(debug_cli.show)
app.command("replay-tool")(debug_cli.replay_tool)
app.command()(debug_cli.summary)
app.command()(ops_cli.runs)
app.command()(approvals_cli.approvals)
app.command()(approvals_cli.approve)
app.command()(approvals_cli.edit)
app.command()(approvals_cli.reject)
app.command()(ops_cli.lint)
app.command()(ops_cli.examples)
app.command()(ops_cli.resume)


def _exit_code(code: object) -> int:
    if code is None or isinstance(code, int):
        return code or 0
    errors.print(str(code))  # sys.exit("message") convention
    return 1


def _invoke() -> int:
    try:
        app()  # standalone mode: always ends with SystemExit
    except SystemExit as exc:
        return _exit_code(exc.code)
    except SpecError as exc:
        errors.print(Text(f"invalid team: {exc}", style="red"), soft_wrap=True)
        return 2
    except BatonError as exc:
        errors.print(Text(f"error: {exc}", style="red"), soft_wrap=True)
        return 1
    except RPCError as exc:
        errors.print(Text(f"temporal: {exc.message} ({exc.status.name})", style="red"),
                     soft_wrap=True)
        return 1
    return 0


def main() -> None:
    """Entry point of the ``baton`` script: user errors become one red line, not a traceback."""
    code = _invoke()
    _tracing.flush()  # client spans (BATON_TRACE_EXPORTER) leave before the process does
    if HARD_EXIT.active:
        # The Temporal client's Rust threads can abort CPython's finalization ("PyGILState_Release
        # ... must be current", temporalio/sdk-python#300), turning a clean exit into SIGABRT.
        # Short-lived client commands have nothing left to clean up: flush and leave at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
