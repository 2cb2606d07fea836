"""The ``baton`` command line (typer + rich): the app, its commands in order, and ``main``.

One module per command group: :mod:`.stack` (up, worker, model-server), :mod:`.console`,
:mod:`.run` (run, watch, status, demo), :mod:`.chat`, :mod:`.debug` (show, replay-tool,
summary), :mod:`.ops` (runs, lint, examples, resume), :mod:`.approvals`, :mod:`.memory` (list,
show, forget), :mod:`.rollout` (deploy, rollout status|promote|rollback), :mod:`.budgets` and
:mod:`.cost`. The command modules define plain functions and never import this module; it
registers them, so the order here is the order of ``baton --help``.

Every command builds ``BatonSettings`` from ``BATON_*`` variables, then applies its options on
top (``--address``, ``--namespace``, ``--task-queue``, ``--home``). Errors Baton raises on
purpose print one red line and exit non-zero (2 for an invalid team file); only bugs show a
traceback.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from typing import Annotated

import typer
from rich.text import Text
from temporalio.service import RPCError

from baton.client import _tracing
from baton.client.cli import approvals, budgets, chat, cost, debug, ops, rollout, run, stack
from baton.client.cli._common import HARD_EXIT, errors
from baton.client.cli.codec import codec_server
from baton.client.cli.console import console
from baton.client.cli.keys import keys
from baton.client.cli.mcp import mcp
from baton.client.cli.memory import memory
from baton.errors import BatonError, SpecError

__all__ = ["app", "main"]

app = typer.Typer(
    name="baton", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Durable orchestration of AI-agent teams on Temporal.",
)


def _version(asked: bool) -> None:
    if asked:
        typer.echo(f"baton {version('baton')}")
        raise typer.Exit()


@app.callback()
def _options(_version_: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="print Baton's version and exit")] = False) -> None:
    """Durable orchestration of AI-agent teams on Temporal."""

app.command()(stack.up)
app.command()(stack.worker)
app.command("model-server")(stack.model_server)
app.command("codec-server")(codec_server)
app.command("console")(console)
app.command()(run.run)
app.command()(run.watch)
app.command()(run.status)
app.command()(run.cancel)
app.command()(chat.chat)
app.command()(run.demo)
app.command()(debug.show)
app.command("replay-tool")(debug.replay_tool)
app.command()(debug.summary)
app.command()(ops.runs)
app.command()(approvals.approvals)
app.command()(approvals.approve)
app.command()(approvals.edit)
app.command()(approvals.reject)
app.command()(ops.lint)
app.command()(ops.examples)
app.command()(ops.resume)
app.add_typer(memory)
app.command()(rollout.deploy)
app.add_typer(rollout.rollout)
app.command()(budgets.budgets)
app.command()(cost.cost)
app.add_typer(keys)
app.add_typer(mcp)


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
        # ... must be current"), turning a clean exit into SIGABRT. Short-lived client commands
        # have nothing left to clean up: flush and leave at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
