"""The loop every peer runs and the write tool's side effect: constants and plain functions,
imported by the peers' workflow modules, so nothing here touches the file system or the clock
on import (Temporal's workflow sandbox re-imports it for every workflow run).

Peers' model clients send no ``X-Baton-*`` headers, so the scripted model server files their
calls under its ``default`` run and ``default`` agent: the runner scripts that run before each
peer run (one run at a time). Baton's own calls carry headers and are scripted per run id.
"""

from __future__ import annotations

from typing import Any

ARG = "x" * 200  # as bench.history: a 200-character argument per step
PROMPT = "Echo the lines."
INSTRUCTIONS = "Echo each line with the echo tool."
MODEL = "baton-scripted"
UNATTRIBUTED = "default"  # the scripted server's run key and agent name for calls without headers
MAX_TURNS = 100_000  # the peers' own turn limits (10 for openai-agents, 50 for pydantic-ai) off
WRITE_TOOL_SLEEP_S = 3.0  # the write tool commits, then works this long: the kill lands here
TOOL_TIMEOUT_S = 10.0  # start-to-close of every tool activity: a killed attempt is retried after it

# Environment of a peer's worker process (the peers' agents are module-level, so configuration
# travels as environment variables).
MODEL_URL_ENV = "BATON_PEER_MODEL_URL"
EFFECTS_ENV = "BATON_PEER_EFFECTS"


def loop_script(steps: int) -> list[dict[str, Any]]:
    """The N-step tool loop: N model turns that each call ``echo`` once, then the answer."""
    return [{"tool_calls": [{"name": "echo", "arguments": {"text": f"line {i:04d} {ARG}"}}]}
            for i in range(steps)] + [{"content": "done"}]


def write_script(tool: str = "record_payment") -> list[dict[str, Any]]:
    """One write-tool call, then the answer (spares in case a peer repeats a model call)."""
    return [{"tool_calls": [{"name": tool, "arguments": {"order_id": "A1001"}}]},
            *[{"content": "Payment recorded."}] * 5]


def record_effect(order_id: str, key: str | None = None) -> int:
    """The write tool's side effect (run by activities, never by workflow code): append a
    numbered line to the file ``$BATON_PEER_EFFECTS``. With ``key`` (Baton's
    ``ctx.idempotency_key``) a line already written under that key is not written again.
    Returns the line's number."""
    import fcntl
    import os

    with open(os.environ[EFFECTS_ENV], "a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        lines = fh.read().splitlines()
        for number, line in enumerate(lines, 1):
            if key is not None and line.endswith(f" key={key}"):
                return number
        fh.write(f"{len(lines) + 1} order={order_id} pid={os.getpid()} key={key}\n")
        fh.flush()
        os.fsync(fh.fileno())
        return len(lines) + 1
