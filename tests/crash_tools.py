"""Test-only tools for the durability tests, loaded by worker subprocesses through
``BATON_TOOL_MODULES='["crash_tools"]'`` (with ``tests/`` on ``PYTHONPATH``) and imported by the
test process itself so ``parse_team`` can resolve them.

The write tools are steered by files in ``$BATON_CRASH_DIR`` so a test can freeze a tool at an
exact point, kill the worker process running it, and let the next attempt through:

* ``started-<order>-a<attempt>-p<pid>``   written when an attempt begins
* ``committed-<order>-a<attempt>-p<pid>`` written by ``commit_then_hang`` after its commit
* ``release-<order>`` / ``release-all``   created by the test: blocked attempts go on

Side effects land in ``$BATON_CRASH_DIR/effects.sqlite``, table ``effects``, one row per
idempotency key (a UNIQUE column, as a real payment API would enforce with ``Idempotency-Key``).
The table also counts executions per key, so a test sees how often the tool really ran.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from baton.specs import RetrySpec
from baton.tools import ToolContext, tool

__all__ = [
    "broken_backend", "commit_then_hang", "count_effects", "effects", "effects_of", "huge_text",
    "hung_backend", "markers", "opaque_value", "overrun_write", "release", "slow_write",
    "take_note",
]

_HOLD_S = 60.0  # a blocked attempt gives up waiting for its release file after this long
_CRASH_RETRY = RetrySpec(max_attempts=10, initial_interval_s=0.1, backoff=1.0, max_interval_s=1.0)


def crash_dir() -> Path:
    path = Path(os.environ["BATON_CRASH_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def _connect() -> sqlite3.Connection:
    conn = sqlite3.connect(crash_dir() / "effects.sqlite", timeout=30, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "idempotency_key TEXT NOT NULL UNIQUE, order_id TEXT NOT NULL, pid INTEGER NOT NULL, "
        "attempt INTEGER NOT NULL, executions INTEGER NOT NULL DEFAULT 1)")
    return conn


def _effect(order_id: str, ctx: ToolContext) -> dict[str, Any]:
    """Insert the side effect unless this idempotency key already has one; return the row."""
    with closing(_connect()) as conn:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO effects (idempotency_key, order_id, pid, attempt) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (idempotency_key) DO UPDATE SET executions = executions + 1",
            (ctx.idempotency_key, order_id, os.getpid(), ctx.attempt))
        row = conn.execute("SELECT id, pid, attempt FROM effects WHERE idempotency_key = ?",
                           (ctx.idempotency_key,)).fetchone()
        conn.execute("COMMIT")
    return {"effect_id": row[0], "order_id": order_id, "created_by_pid": row[1],
            "created_on_attempt": row[2], "served_by_pid": os.getpid(), "attempt": ctx.attempt}


def _mark(kind: str, order_id: str, ctx: ToolContext) -> None:
    (crash_dir() / f"{kind}-{order_id}-a{ctx.attempt}-p{os.getpid()}").touch()


async def _wait_release(order_id: str) -> None:
    # Async on purpose: twenty blocked tools must not exhaust the worker's thread pool (which the
    # ledger also uses), and a cancelled attempt must stop here instead of committing later.
    folder = crash_dir()
    deadline = time.monotonic() + _HOLD_S
    while time.monotonic() < deadline:
        if (folder / f"release-{order_id}").exists() or (folder / "release-all").exists():
            return
        await asyncio.sleep(0.02)


def effects() -> list[dict[str, Any]]:
    """Every recorded side effect (for assertions in the test process)."""
    path = crash_dir() / "effects.sqlite"
    if not path.exists():
        return []
    with closing(_connect()) as conn:
        rows = conn.execute("SELECT id, idempotency_key, order_id, pid, attempt, executions "
                            "FROM effects ORDER BY id").fetchall()
    keys = ("id", "idempotency_key", "order_id", "pid", "attempt", "executions")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def count_effects() -> int:
    return len(effects())


def effects_of(order_id: str) -> list[dict[str, Any]]:
    return [e for e in effects() if e["order_id"] == order_id]


def markers(kind: str, order_id: str = "*") -> list[str]:
    """Marker files of one kind (``started``, ``committed``), optionally of one order."""
    return sorted(p.name for p in crash_dir().glob(f"{kind}-{order_id}-a*"))


def release(order_id: str = "all") -> None:
    (crash_dir() / f"release-{order_id}").touch()


@tool(effect="write", timeout_s=90.0, heartbeat_s=0.5, retry=_CRASH_RETRY)
async def slow_write(order_id: str, ctx: ToolContext) -> dict[str, Any]:
    """Record a payment for an order; blocks until the test releases it, then commits.

    Args:
        order_id: The order to record the payment for, e.g. A1001.
    """
    _mark("started", order_id, ctx)
    await _wait_release(order_id)
    return _effect(order_id, ctx)


@tool(effect="write", timeout_s=90.0, heartbeat_s=0.5, retry=_CRASH_RETRY)
async def commit_then_hang(order_id: str, ctx: ToolContext) -> dict[str, Any]:
    """Record a payment for an order, then block (after the commit) until released.

    Args:
        order_id: The order to record the payment for, e.g. A1001.
    """
    _mark("started", order_id, ctx)
    result = _effect(order_id, ctx)
    _mark("committed", order_id, ctx)
    await _wait_release(order_id)
    return result


@tool(effect="write", timeout_s=2.0, retry=_CRASH_RETRY)
def overrun_write(order_id: str, ctx: ToolContext) -> dict[str, Any]:
    """Record a payment for an order; a synchronous call that takes longer than it may.

    Args:
        order_id: The order to record the payment for, e.g. A1001.
    """
    # Five seconds against a two-second start-to-close: Temporal retries while this thread,
    # which nothing can stop, still runs.
    _mark("started", order_id, ctx)
    time.sleep(5.0)
    return _effect(order_id, ctx)


@tool
def take_note(text: str) -> dict[str, Any]:
    """Write down a note and return how long it was.

    Args:
        text: The note.
    """
    return {"chars": len(text), "head": text[:20]}


@tool
def broken_backend(reason: str) -> str:
    """A tool whose backend is broken: always raises.

    Args:
        reason: Anything.
    """
    raise RuntimeError(f"backend exploded: {reason}")


@tool(timeout_s=1.0, heartbeat_s=0.3, retry=RetrySpec(max_attempts=2, initial_interval_s=0.1))
async def hung_backend(seconds: float) -> str:
    """A tool whose backend never answers.

    Args:
        seconds: How long to hang.
    """
    await asyncio.sleep(seconds)
    return "woke up"


@tool
def opaque_value(what: str) -> Any:
    """Return something that has no JSON form.

    Args:
        what: Anything.
    """
    return object()


@tool
def huge_text(megabytes: int) -> str:
    """Return a very long text.

    Args:
        megabytes: How many megabytes of text.
    """
    return "x" * (megabytes * 1024 * 1024)
