"""``ScriptedServer``: the scripted model server in a background thread, for tests.

It binds 127.0.0.1 on a free port before starting (no race between picking and binding), waits
until ``/healthz`` answers, and talks to the control API over real HTTP like any other client::

    with ScriptedServer() as server:
        server.set_script(run_id, {"support": [{"tool_calls": [...]}, {"content": "done"}]})
        ...  # run the workflow with model_server_url=server.base_url
        server.assert_script_consumed(run_id)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from baton.scripted.server import ServerConfig, create_app, load_script_file

__all__ = ["ScriptedServer"]

_START_TIMEOUT_S = 10.0


class ScriptedServer:
    """A context manager running the scripted model server on loopback.

    ``latency_s`` and ``script_file`` mean what they mean for ``serve``.
    """

    def __init__(
        self, *, latency_s: float = 0.0, script_file: str | None = None, host: str = "127.0.0.1"
    ) -> None:
        script = load_script_file(script_file) if script_file else None
        self._app = create_app(ServerConfig(latency_s=latency_s, script=script))
        self._host = host
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def attach(cls, host: str, port: int) -> ScriptedServer:
        """Control a server already running in another process (``baton model-server``),
        through the same API; ``stop`` then only closes the control connection."""
        server = cls(host=host)
        server.port = port
        server._http = httpx.Client(base_url=server.root_url, timeout=10.0, trust_env=False)
        return server

    def start(self) -> ScriptedServer:
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
        # says TCP, and without it every request stalls ~40 ms on Nagle + delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        self._socket, self.port = sock, sock.getsockname()[1]
        config = uvicorn.Config(
            self._app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]),
            name=f"scripted-model-server:{self.port}",
            daemon=True,
        )
        self._thread.start()
        # trust_env=False: proxy variables must never route loopback control calls elsewhere.
        self._http = httpx.Client(base_url=self.root_url, timeout=10.0, trust_env=False)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                if self._http.get("/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"scripted model server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._http is not None:
            self._http.close()
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._http = self._socket = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What a model profile's ``base_url`` should be (OpenAI-style, ending in ``/v1``)."""
        return f"{self.root_url}/v1"

    # ------------------------------------------------------------------ control API

    def _client(self) -> httpx.Client:
        if self._http is None:
            raise RuntimeError("ScriptedServer is not running (use it as a context manager)")
        return self._http

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise ValueError(
                f"scripted server refused {response.request.method} "
                f"{response.request.url.path}: {response.text}"
            )
        body: dict[str, Any] = response.json()
        return body

    def set_script(self, run_id: str, agents: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Replace the run's script (``{agent: [step, ...]}``); malformed steps raise ValueError."""
        payload = {"agents": {a: [dict(s) for s in steps] for a, steps in agents.items()}}
        self._check(self._client().put(f"/_scripted/runs/{run_id}/script", json=payload))

    def set_faults(self, run_id: str, faults: Sequence[Mapping[str, Any]]) -> None:
        """Replace the run's fault queue; each model call of the run consumes the next fault."""
        payload = {"faults": [dict(f) for f in faults]}
        self._check(self._client().put(f"/_scripted/runs/{run_id}/faults", json=payload))

    def state(self, run_id: str) -> dict[str, Any]:
        """``{"exists", "leftovers": {agent: n}, "calls": [...], "faults_left": n}``."""
        return self._check(self._client().get(f"/_scripted/runs/{run_id}"))

    def calls(self, run_id: str) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = self.state(run_id)["calls"]
        return calls

    def leftovers(self, run_id: str) -> dict[str, int]:
        """Agents with scripted steps nobody consumed, and how many."""
        return {a: int(n) for a, n in self.state(run_id)["leftovers"].items() if n > 0}

    def assert_script_consumed(self, run_id: str) -> None:
        left = self.leftovers(run_id)
        if left:
            raise AssertionError(f"run {run_id!r}: scripted steps never consumed: {left}")

    def clear(self, run_id: str) -> None:
        self._check(self._client().delete(f"/_scripted/runs/{run_id}"))
