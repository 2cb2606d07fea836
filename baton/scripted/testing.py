"""``ScriptedServer``: the scripted model server in a background thread, for tests, driven
over real HTTP like any client: ``with ScriptedServer() as server: server.set_script(run_id,
{"support": [{"tool_calls": [...]}, {"content": "done"}]})``, run the workflow with
``model_server_url=server.base_url``, then ``server.assert_script_consumed(run_id)``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import uvicorn

from baton.scripted.script import load_script_file
from baton.scripted.server import ServerConfig, create_app

__all__ = ["ScriptedServer"]


class ScriptedServer:
    """The server on loopback, as a context manager; ``attach``: one in another process."""

    def __init__(self, *, latency_s: float = 0.0, script_file: str | None = None,
                 host: str = "127.0.0.1") -> None:
        script = load_script_file(script_file) if script_file else None
        self._app: Any = create_app(ServerConfig(latency_s=latency_s, script=script))
        self._host, self.port = host, 0
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None

    @classmethod
    def attach(cls, host: str, port: int) -> ScriptedServer:
        """Control a ``baton model-server`` running elsewhere (``stop`` closes the connection)."""
        server = cls(host=host)
        server.port = port
        server._http = httpx.Client(base_url=server.root_url, timeout=10.0, trust_env=False)
        return server

    def start(self) -> ScriptedServer:
        # Bind first (no race between picking a port and binding it). IPPROTO_TCP explicitly:
        # asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it every
        # request stalls ~40 ms on Nagle + delayed ACK.
        sock = self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        self.port = sock.getsockname()[1]
        server = self._server = uvicorn.Server(uvicorn.Config(
            self._app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=lambda: server.run(sockets=[sock]), daemon=True,
                                        name=f"scripted-model-server:{self.port}")
        self._thread.start()
        # trust_env=False: proxy variables must never route loopback control calls elsewhere.
        self._http = httpx.Client(base_url=self.root_url, timeout=10.0, trust_env=False)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and self._thread.is_alive():
            try:
                if self._http.get("/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"scripted model server did not start on port {self.port}")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        for resource in (self._http, self._socket):
            if resource is not None:
                resource.close()
        self._server = self._thread = self._http = self._socket = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """A model profile's ``base_url`` (OpenAI-style, ending in ``/v1``)."""
        return f"{self.root_url}/v1"

    def _control(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        if self._http is None:
            raise RuntimeError("ScriptedServer is not running (use it as a context manager)")
        response = self._http.request(method, f"/_scripted/runs/{path}", json=payload)
        if response.status_code >= 400:
            raise ValueError(f"scripted server refused {method} {path}: {response.text}")
        return dict(response.json())

    def set_script(self, run_id: str, agents: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Replace the run's script (``{agent: [step, ...]}``); malformed steps raise ValueError."""
        steps = {agent: [dict(s) for s in agent_steps] for agent, agent_steps in agents.items()}
        self._control("PUT", f"{run_id}/script", {"agents": steps})

    def set_faults(self, run_id: str, faults: Sequence[Mapping[str, Any]]) -> None:
        """Replace the run's fault queue; each model call of the run takes the next fault."""
        self._control("PUT", f"{run_id}/faults", {"faults": [dict(f) for f in faults]})

    def state(self, run_id: str) -> dict[str, Any]:
        """``{"exists", "leftovers": {agent: n}, "calls": [...], "faults_left": n}``."""
        return self._control("GET", run_id)

    def calls(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.state(run_id)["calls"])

    def leftovers(self, run_id: str) -> dict[str, int]:
        """Agents with scripted steps nobody consumed, and how many."""
        return {a: int(n) for a, n in self.state(run_id)["leftovers"].items() if n > 0}

    def assert_script_consumed(self, run_id: str) -> None:
        if left := self.leftovers(run_id):
            raise AssertionError(f"run {run_id!r}: scripted steps never consumed: {left}")

    def clear(self, run_id: str) -> None:
        self._control("DELETE", run_id)
