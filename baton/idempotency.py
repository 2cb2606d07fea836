"""Idempotency keys for side-effecting tool calls
(docs/architecture.md#idempotency-keys-and-the-ledger).

Pure and deterministic (no I/O, no clock, no randomness) so the workflow can compute the key
itself: the same call gets the same key on every activity retry, worker crash, replay and
continue-as-new, and the tool activity's ledger and the tool's own unique column both use it.
"""

from __future__ import annotations

import hashlib
import json

__all__ = ["idempotency_key"]

# Bump only together with a migration story: every recorded ledger row is keyed by this.
_VERSION = "baton.idempotency.v1"


def idempotency_key(workflow_id: str, agent_path: str, step: int, tool_call_id: str) -> str:
    """``sha256`` hex digest identifying one tool call of one agent step of one run.

    The fields are encoded as a JSON array, not joined with a separator, so no value can shift
    into its neighbour (``("a/b", "c")`` and ``("a", "b/c")`` give different keys).
    """
    canonical = json.dumps(
        [_VERSION, workflow_id, agent_path, int(step), tool_call_id],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
