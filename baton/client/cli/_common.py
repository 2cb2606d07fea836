"""Shared pieces of the CLI commands: option types, settings, consoles, the exit policy."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console, RenderableType
from rich.text import Text

from baton.settings import BatonSettings

__all__ = [
    "HARD_EXIT",
    "Address",
    "Home",
    "ModelPort",
    "Namespace",
    "TaskQueue",
    "TemporalPort",
    "UiPort",
    "console",
    "errors",
    "print_all",
    "run_async",
    "settings_from",
]

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)
_T = TypeVar("_T")

Address = Annotated[str | None, typer.Option(
    "--address", help="Temporal frontend host:port (env BATON_TEMPORAL_ADDRESS)")]
Namespace = Annotated[str | None, typer.Option(help="Temporal namespace (env BATON_NAMESPACE)")]
TaskQueue = Annotated[str | None, typer.Option(
    "--task-queue", help="task queue of the workers (env BATON_TASK_QUEUE)")]
Home = Annotated[Path | None, typer.Option(
    help="state directory: SQLite files, logs (env BATON_HOME, default .baton)")]
TemporalPort = Annotated[int | None, typer.Option(
    "--temporal-port", help="dev server port (env BATON_TEMPORAL_PORT, default 7233)")]
UiPort = Annotated[int | None, typer.Option(
    "--ui-port", help="Temporal UI port (env BATON_UI_PORT, default 8233)")]
ModelPort = Annotated[int | None, typer.Option(
    "--model-port", help="scripted model server port (env BATON_MODEL_SERVER_PORT)")]


def settings_from(**overrides: Any) -> BatonSettings:
    """Environment first, then the options the user actually gave."""
    return BatonSettings(**{k: v for k, v in overrides.items() if v is not None})


class _HardExit:
    """Whether ``main`` ends the process with ``os._exit`` (see there why)."""

    active = False


HARD_EXIT = _HardExit()


def run_async(coro: Coroutine[Any, Any, _T], *, hard_exit: bool = True) -> _T:
    """Run a command's coroutine. ``hard_exit``: end the process with ``os._exit`` (see main)."""
    HARD_EXIT.active = hard_exit
    return asyncio.run(coro)


def print_all(*items: RenderableType) -> None:
    for item in items:
        # Plain lines (links, ids) never wrap or crop; panels and tables fit the terminal.
        console.print(item, soft_wrap=isinstance(item, Text))
