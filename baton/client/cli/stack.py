"""``baton up | worker | model-server``: the long-running processes.

``up`` runs the whole embedded stack in the foreground; ``worker`` and ``model-server`` are the
single processes the stack spawns (as ``python -m baton.client.cli …``) and that a deployment
runs on its own.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated, Literal

import typer

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
from baton.errors import StackError
from baton.settings import BatonSettings

__all__ = ["model_server", "up", "worker"]


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


def worker(*, address: Address = None, namespace: Namespace = None, task_queue: TaskQueue = None,
           home: Home = None,
           log_format: Annotated[Literal["json", "console"] | None, typer.Option(
               help="log format (env BATON_LOG_FORMAT; default: console on a terminal)")] = None,
           log_level: Annotated[str | None, typer.Option(
               help="debug, info, warning, error (env BATON_LOG_LEVEL)")] = None) -> None:
    """Run one worker: workflows and activities of every pattern, until SIGINT/SIGTERM."""
    from baton.worker import run_worker  # only this command needs the workflows and activities

    settings = settings_from(temporal_address=address, namespace=namespace,
                             task_queue=task_queue, home=home, log_format=log_format,
                             log_level=log_level)
    try:
        run_async(run_worker(settings), hard_exit=False)  # telemetry exporters flush at exit
    except RuntimeError as exc:
        if "Failed client connect" not in str(exc):
            raise
        raise StackError(f"cannot reach Temporal at {settings.temporal_address}: {exc}") from exc


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
