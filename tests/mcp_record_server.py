"""A payments MCP server for the durability tests, built with the official ``mcp`` SDK.

It keeps its own record of payments in ``STATE_DIR/payments.sqlite``: one row per idempotency key
(the ``baton/idempotencyKey`` of the request's ``_meta``), the way a payment API deduplicates on
an ``Idempotency-Key`` header, and a count of how often each key was executed. So a test reads
from the server's own record whether a retried call acted twice.

    python tests/mcp_record_server.py STATE_DIR             # stdio (a worker starts it)
    python tests/mcp_record_server.py STATE_DIR --http PORT # streamable HTTP on 127.0.0.1

Steered by files in ``STATE_DIR``, like ``crash_tools``:

* ``hold-<order>``: a call for that order blocks *before* committing, until ``release-<order>``;
* ``hold-after-<order>``: it commits, then blocks until ``release-<order>``;
* ``started-<order>-p<pid>``: written when a call begins (so a test knows which process has it);
* ``pid-<pid>``: written when a server process starts.

Over HTTP, with ``PAYMENTS_TOKEN`` in its environment, it answers only requests that carry
``Authorization: Bearer <that token>``, as a real API would.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

__all__ = ["Payment", "markers", "payments", "pids", "release"]

KEY = "baton/idempotencyKey"
_HOLD_S = 60.0


class Payment(BaseModel):
    payment_id: int
    order_id: str
    amount: float
    idempotency_key: str
    created_by_pid: int
    served_by_pid: int
    executions: int


def _connect(state: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(state / "payments.sqlite", timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS payments (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "idempotency_key TEXT NOT NULL UNIQUE, order_id TEXT NOT NULL, amount REAL NOT NULL, "
        "pid INTEGER NOT NULL, executions INTEGER NOT NULL DEFAULT 1)")
    return conn


def payments(state: Path) -> list[dict[str, Any]]:
    """The server's record (for assertions in the test process)."""
    if not (state / "payments.sqlite").exists():
        return []
    with closing(_connect(state)) as conn:
        rows = conn.execute("SELECT id, idempotency_key, order_id, amount, pid, executions "
                            "FROM payments ORDER BY id").fetchall()
    keys = ("id", "idempotency_key", "order_id", "amount", "pid", "executions")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def markers(state: Path, prefix: str) -> list[str]:
    return sorted(p.name for p in state.glob(f"{prefix}*"))


def pids(state: Path) -> list[int]:
    return [int(name.removeprefix("pid-")) for name in markers(state, "pid-")]


def release(state: Path, order_id: str) -> None:
    (state / f"release-{order_id}").touch()


async def _wait_release(state: Path, order_id: str) -> None:
    deadline = time.monotonic() + _HOLD_S
    while time.monotonic() < deadline:
        if (state / f"release-{order_id}").exists():
            return
        await asyncio.sleep(0.02)


def _commit(state: Path, key: str, order_id: str, amount: float) -> Payment:
    with closing(_connect(state)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO payments (idempotency_key, order_id, amount, pid) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (idempotency_key) DO UPDATE SET executions = executions + 1",
            (key, order_id, amount, os.getpid()))
        row = conn.execute("SELECT id, order_id, amount, pid, executions FROM payments "
                           "WHERE idempotency_key = ?", (key,)).fetchone()
        conn.execute("COMMIT")
    return Payment(payment_id=row[0], order_id=row[1], amount=row[2], idempotency_key=key,
                   created_by_pid=row[3], served_by_pid=os.getpid(), executions=row[4])


def build(state: Path) -> MCPServer:
    server = MCPServer("payments")

    @server.tool()
    async def record_payment(order_id: str, amount: float, ctx: Context) -> Payment:
        """Record a payment for an order (a side effect: once per idempotency key)."""
        meta = ctx.request_context.meta or {}
        key = meta.get(KEY)
        if not isinstance(key, str):
            raise ToolError(f"a payment needs an idempotency key in _meta[{KEY!r}]")
        (state / f"started-{order_id}-p{os.getpid()}").touch()
        if (state / f"hold-{order_id}").exists():
            await _wait_release(state, order_id)
        payment = _commit(state, key, order_id, amount)
        if (state / f"hold-after-{order_id}").exists() and payment.executions == 1:
            await _wait_release(state, order_id)
        return payment

    @server.tool()
    def lookup_payment(order_id: str) -> list[Payment]:
        """The payments recorded for an order."""
        found = [Payment(payment_id=p["id"], order_id=p["order_id"], amount=p["amount"],
                         idempotency_key=p["idempotency_key"], created_by_pid=p["pid"],
                         served_by_pid=os.getpid(), executions=p["executions"])
                 for p in payments(state) if p["order_id"] == order_id]
        if not found:
            raise ToolError(f"no payment recorded for order {order_id}")
        return found

    return server


def _guarded(app: Any, token: str | None) -> Any:
    """``app``, answering 401 to HTTP requests without the bearer token (when there is one)."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if token and scope["type"] == "http" and dict(scope["headers"]).get(
                b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    state = Path(sys.argv[1])
    state.mkdir(parents=True, exist_ok=True)
    (state / f"pid-{os.getpid()}").touch()
    server = build(state)
    if "--http" in sys.argv:
        import uvicorn

        port = int(sys.argv[sys.argv.index("--http") + 1])
        app = _guarded(server.streamable_http_app(), os.environ.get("PAYMENTS_TOKEN"))
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    else:
        server.run()


if __name__ == "__main__":
    main()
