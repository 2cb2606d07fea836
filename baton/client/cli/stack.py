"""``baton up | worker | model-server``: the long-running processes.

``up`` runs the whole embedded stack in the foreground and restarts a child that dies;
``worker`` and ``model-server`` are the single processes the stack spawns (as
``python -m baton.client.cli …``) and that a deployment runs on its own.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.text import Text

from baton.client._supervisor import ChildExited, SupervisorEvent
from baton.client.cli._common import (
    Address,
    Home,
    ModelPort,
    Namespace,
    TaskQueue,
    TemporalPort,
    UiPort,
    console,
    run_async,
    settings_from,
)
from baton.client.stack import EmbeddedStack
from baton.settings import BatonSettings

__all__ = ["model_server", "up", "worker"]


def up(*, home: Home = None, temporal_port: TemporalPort = None, ui_port: UiPort = None,
       model_port: ModelPort = None,
       console_port: Annotated[int | None, typer.Option(
           "--console-port", help="web console port (env BATON_CONSOLE_PORT, default 8235)")]
       = None,
       namespace: Namespace = None, task_queue: TaskQueue = None) -> None:
    """Run the embedded stack in the foreground until Ctrl-C.

    Temporal dev server + UI, the scripted model server, one worker and the web console, on
    loopback; state in --home survives restarts. A process that dies is restarted with backoff
    (and said so); one that keeps dying stops everything with a non-zero exit."""
    settings = settings_from(home=home, temporal_port=temporal_port, ui_port=ui_port,
                             model_server_port=model_port, console_port=console_port,
                             namespace=namespace, task_queue=task_queue)
    run_async(_up(settings))


def _say(event: SupervisorEvent) -> None:
    """One line per exit or restart, and the end of the dead process's log."""
    if isinstance(event, ChildExited):
        console.print(Text(str(event), style="bold yellow"), soft_wrap=True)
        if event.tail:
            console.print(Text(f"  last lines of {event.log}:", style="dim"), soft_wrap=True)
            for line in event.tail.splitlines():
                console.print(Text(f"    {line}", style="dim"), soft_wrap=True)
    else:
        console.print(Text(str(event), style="green"), soft_wrap=True)


async def _up(settings: BatonSettings) -> None:
    stack = EmbeddedStack(settings, console=True, on_event=_say)
    with console.status("starting Temporal, the model server, a worker and the console…"):
        await stack.start()  # stops what it started when it fails
    try:
        s = stack.settings
        console.print(f"[bold green]baton is up[/bold green]\n"
                      f"  temporal      {stack.temporal_address} (namespace {s.namespace})\n"
                      f"  temporal ui   {stack.ui_url}\n"
                      f"  model server  {stack.model_server_url}\n"
                      f"  worker        task queue {s.task_queue}\n"
                      f"  console       {stack.console_url} (approvals, runs)\n"
                      f"  state         {stack.home} (logs in {stack.logs_dir})\n"
                      f"Press Ctrl-C to stop.", soft_wrap=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stopped = asyncio.create_task(stop.wait())
        # Ends only when the stack gives up on a process that keeps dying: it raises StackError.
        gave_up = asyncio.create_task(stack.wait())
        done, pending = await asyncio.wait({stopped, gave_up},
                                           return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if gave_up in done:
            gave_up.result()
        console.print("stopping…")
    finally:
        await stack.stop()


def worker(*, address: Address = None, namespace: Namespace = None, task_queue: TaskQueue = None,
           home: Home = None,
           log_format: Annotated[Literal["json", "console"] | None, typer.Option(
               help="log format (env BATON_LOG_FORMAT; default: console on a terminal)")] = None,
           log_level: Annotated[str | None, typer.Option(
               help="debug, info, warning, error (env BATON_LOG_LEVEL)")] = None) -> None:
    """Run one worker: workflows and activities of every pattern, until SIGINT/SIGTERM.

    While Temporal is out of reach it keeps retrying (with backoff, one log line each time)."""
    from baton.worker import run_worker  # only this command needs the workflows and activities

    settings = settings_from(temporal_address=address, namespace=namespace,
                             task_queue=task_queue, home=home, log_format=log_format,
                             log_level=log_level)
    # Spans and metrics are flushed by run_worker itself before it returns; a hard exit then
    # spares the process the SDK's finalization crash (SIGABRT) after a worker that failed.
    run_async(run_worker(settings))


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
